"""Run directories: ``<runs_dir>/<run_id>/`` on the host, ``/tmp/run`` inside the run.

Shared by the Docker and process executors. The directory is written before the run (control files
in ``.scaffold/``, the task's ``load.file`` files, the webhook body) and read after it. Whatever the
script leaves there is untrusted: files are read without following symlinks, only if they are
regular files, and up to a size cap, so a script cannot make Scaffold read a host file or block on
a FIFO.

Permissions: ``runs_dir`` is 0700 (nobody else on the host can look inside), a run directory and its
``.scaffold/`` are 0777 so an image whose ``USER`` is not root can still write its files.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path

from scaffold.engine.ports import RunRequest, RunResult
from scaffold.executors import script as sh

DISPLAY_FILE = ".display"
DISPLAY_CAP = 4 << 20  # bytes of .display read at most
STORE_FILE_CAP = 512 << 20  # SQLite stores at most ~1e9 bytes in one value
DISPLAY_POLL_SECONDS = 0.5

_RUN_ID = re.compile(r"(?!\.\.?\Z)[A-Za-z0-9_.:-]+\Z")  # cascade:task:number; never "." or ".."


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id) or len(run_id) > 200:
        raise ValueError(f"invalid run id {run_id!r}")
    return run_id


def _relative_parts(name: str) -> list[str]:
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if not parts or name.startswith("/") or ".." in parts:
        raise ValueError(f"file name {name!r} must be a relative path inside /tmp/run")
    return parts


def read_inside(root: Path, name: str, cap: int = STORE_FILE_CAP) -> bytes | None:
    """Read ``root/name`` if it is a regular file reached without any symlink; None otherwise."""
    try:
        parts = _relative_parts(name)
    except ValueError:
        return None
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fds: list[int] = []
    try:
        fd = os.open(root, flags | os.O_DIRECTORY)
        fds.append(fd)
        for part in parts[:-1]:
            fd = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            fds.append(fd)
        fd = os.open(parts[-1], flags, dir_fd=fd)
        fds.append(fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        os.set_blocking(fd, True)
        chunks, size = [], 0
        while size < cap and (chunk := os.read(fd, min(1 << 20, cap - size))):
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        for fd in fds:
            os.close(fd)


def discard_env(runs_dir: Path, run_id: str) -> None:
    """Remove the run's env file if it is still there: the entry script deletes it as it starts,
    so it is left only when the run never started -- and it may hold secret values."""
    try:
        (Path(runs_dir) / run_id / sh.CONTROL_DIR / sh.ENV_FILE).unlink(missing_ok=True)
    except (OSError, ValueError):
        pass


class RunDir:
    """One run's directory on the host."""

    def __init__(self, runs_dir: Path, run_id: str):
        self.run_id = check_run_id(run_id)
        self.path = Path(runs_dir) / run_id
        self.control = self.path / sh.CONTROL_DIR

    def prepare(self, request: RunRequest, run_mount: str = sh.RUN_MOUNT, *, env_file: bool = True) -> None:
        """Create a fresh directory holding everything the run starts with (blocking I/O).
        ``run_mount`` is where the run sees it (``/tmp/run``; tests use the directory itself).
        Without ``env_file`` the caller gives the environment to the process itself."""
        files = {name: _relative_parts(name) for name in request.files}  # validate before writing
        env = sh.env_file(request.load_env, request.env)
        entry = sh.entry_script(request.store_env, run_mount)
        sh.shell_argv(request.shell)
        ensure_private_dir(self.path.parent)
        self.remove()
        for directory in (self.path, self.control):
            directory.mkdir()
            directory.chmod(0o777)
        if env_file:
            self._write(self.control / sh.ENV_FILE, env, 0o644)
        self._write(self.control / sh.SCRIPT_FILE, request.script.encode(), 0o644)
        self._write(self.control / sh.ENTRY_FILE, entry.encode(), 0o644)
        self._write(self.control / sh.INIT_FILE, sh.init_script(run_mount).encode(), 0o644)
        if request.webhook_body is not None:
            self._write(self.control / sh.WEBHOOK_FILE, request.webhook_body, 0o644)
        for name, parts in files.items():
            target = self.path.joinpath(*parts)
            for parent in reversed(target.relative_to(self.path).parents[:-1]):
                (self.path / parent).mkdir(exist_ok=True)
                (self.path / parent).chmod(0o777)
            self._write(target, request.files[name], 0o666)

    @staticmethod
    def _write(path: Path, data: bytes, mode: int) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(path, mode)  # not narrowed by the umask

    def exists(self) -> bool:
        return self.path.is_dir()

    def read(self, name: str, cap: int = STORE_FILE_CAP) -> bytes | None:
        return read_inside(self.path, name, cap)

    def display(self) -> bytes | None:
        return read_inside(self.path, DISPLAY_FILE, DISPLAY_CAP)

    def stored_env(self) -> dict[str, bytes]:
        data = read_inside(self.control, sh.STORED_ENV_FILE, 64 << 20)
        return sh.parse_stored_env(data) if data else {}

    def exit_code(self) -> int | None:
        return sh.parse_exit_code(read_inside(self.control, sh.EXIT_CODE_FILE, 64))

    def store_files(
        self, names: tuple[str, ...]
    ) -> tuple[dict[str, bytes], tuple[str, ...], tuple[str, ...]]:
        """(files found, names missing, names too large). Symlinks and non-regular files count as
        missing; a file over STORE_FILE_CAP is never stored cut short."""
        found: dict[str, bytes] = {}
        missing: list[str] = []
        too_large: list[str] = []
        for name in names:
            data = self.read(name, STORE_FILE_CAP + 1)
            if data is None:
                missing.append(name)
            elif len(data) > STORE_FILE_CAP:
                too_large.append(name)
            else:
                found[name] = data
        return found, tuple(missing), tuple(too_large)

    def collect(self, request: RunRequest, result: RunResult) -> RunResult:
        """Fill ``result`` with what the run left here: the stored variables, and the stored files
        when the script succeeded (blocking I/O)."""
        result.stored_env = self.stored_env()
        if result.exit_code == 0:
            result.stored_files, result.missing_files, too_large = self.store_files(request.store_files)
            if too_large and result.reason is None:
                limit = STORE_FILE_CAP >> 20
                result.reason = f"store failed: file '{too_large[0]}' is larger than {limit} MiB"
        return result

    def remove(self) -> None:
        if self.path.is_symlink() or self.path.is_file():
            self.path.unlink()
        elif self.path.exists():
            shutil.rmtree(self.path)


def ensure_private_dir(path: Path) -> None:
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)


def expired_run_dirs(runs_dir: Path, retention_seconds: float, now: float | None = None) -> list[Path]:
    """Run directories (and leftover sibling files) not modified for ``retention_seconds``."""
    if not Path(runs_dir).is_dir():
        return []
    limit = (time.time() if now is None else now) - retention_seconds
    old = []
    for entry in os.scandir(runs_dir):
        with contextlib.suppress(OSError):
            if entry.stat(follow_symlinks=False).st_mtime <= limit:
                old.append(Path(entry.path))
    return old


def remove_path(path: Path) -> bool:
    """Remove a file or directory tree; False if some of it could not be removed."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        return True
    except OSError:
        return False


class DisplayWatcher:
    """Re-reads ``/tmp/run/.display`` while a run goes on and reports each new content.

    Watching a file is polling by nature: every ``DISPLAY_POLL_SECONDS`` it compares the file's
    (inode, size, mtime) and reads it only when they changed. ``finish()`` reads it a last time.
    """

    def __init__(
        self, run_dir: RunDir, report: Callable[[bytes], None], interval: float = DISPLAY_POLL_SECONDS
    ):
        self.run_dir = run_dir
        self.report = report
        self.interval = interval
        self.last: bytes | None = None
        self._signature: tuple[int, int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            self.check()
            await asyncio.sleep(self.interval)

    def check(self) -> None:
        try:
            info = os.stat(self.run_dir.path / DISPLAY_FILE, follow_symlinks=False)
        except OSError:
            return
        signature = (info.st_ino, info.st_size, info.st_mtime_ns)
        if signature == self._signature:
            return
        self._signature = signature
        raw = self.run_dir.display()
        if raw is not None and raw != self.last:
            self.last = raw
            self.report(raw)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def finish(self) -> bytes | None:
        """Stop watching, read the file a last time, return its final content."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._signature = None
        self.check()
        return self.last
