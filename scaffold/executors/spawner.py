"""The process spawner: a small long-lived process that starts the process executor's runs as root.

Why: forking the server itself is slow. CPython only uses ``vfork()`` for a subprocess without
``preexec_fn``, and making the run's mount namespace between fork and exec needs one, so every run
would pay a full ``fork()`` of the big server process and block its event loop until the child had
exec'd. This process imports only a few standard modules (plus :mod:`scaffold.executors.mountns`)
and runs beside the server's event loop instead of inside it.

The executor starts it once (``python -I -S -c ... main()``, see ``process._SpawnerClient``) with
one end of a unix stream socket as its standard input. It forks once more and the first process
exits, so the spawner is nobody's zombie; it leaves the server's session, so a Ctrl-C at the
terminal does not reach it. It exits when the socket reaches EOF: when the executor closes it or
the server dies. Runs it started are left alone then (as they were when the server died before):
the next server's ``adopt`` finds them through their pid files.

Protocol: frames of a 4-byte big-endian length then the body, both ways.

* request, executor -> spawner, with the write end of the run's output pipe attached
  (``SCM_RIGHTS``): ``"R"``, sequence number, argv, env and plan counts, then fields (each its
  length, then its bytes): the run directory, the mount point (``/tmp/run``), the pid file (may be
  empty), the argv, the env as ``NAME=value``, and the plan of the run directory to write (four
  fields a step, see :func:`materialize`; empty when the executor wrote it itself);
* replies, spawner -> executor: ``"H"`` hello (value: the spawner's pid); ``"S"`` started (value:
  the process's pid, already its own process group); ``"X"`` exited (value: the wait status);
  ``"F"`` failed (the message follows), instead of ``"S"`` when no process could be started.

A request, in the spawner itself, one after the other: write the run directory if the request has
its plan (the executor then needs no thread for it); make a private mount namespace with the run
directory at ``/tmp/run`` and change into it (:func:`mountns.unshare`, :func:`mountns.show`);
start the argv there with ``posix_spawn`` -- a ``vfork``, so no copy of this process's memory is
made and torn down again -- in its own process group, with the pipe on stdout and stderr (stdin
is ``/dev/null``), the signals Python ignores restored and exactly the given environment (the
task's values go from memory to the process, never to a file); then go back to the host's
namespace (:func:`mountns.leave`). The spawner keeps a descriptor of the run's namespace until it
has reported the exit, so that tearing the namespace down is not on the way from the script's
exit to its report. It writes the pid file (pid and start time, for ``adopt``) once it has
reported the start, reaps its children on ``SIGCHLD``, reports their exit and removes their pid
files.

Creating a file or a directory (an inode) is the dearest step of all on a busy ext4 file system
(from 20 us to over 500 us of CPU each on this machine's ext4 without a journal, where renaming
one costs 10): a thread of the spawner makes run directories ahead -- ``<n>/.scaffold/`` with empty
``script.sh``, ``entry.sh`` and ``exit_code`` -- in ``<runs_dir>/.spawner@<pid>/`` (:class:`Pool`),
and a run's directory is one of them renamed into place, its files written in place.
(``exit_code`` stays empty until ``entry.sh`` writes it: an empty one reads as no exit code.) The
pid file of a run that ended goes back there, to be the next run's. The pool is removed when the
spawner exits.
"""

from __future__ import annotations

import array
import fcntl
import gc
import os
import select
import signal
import socket
import struct
import threading

from scaffold.executors import mountns

LENGTH = struct.Struct("!I")
REQUEST = struct.Struct("!cQIII")  # kind, sequence number, argv, env and plan counts
FIELD = struct.Struct("!I")  # each field of a request: its length, then its bytes
REPLY = struct.Struct("!cQq")  # kind, sequence number, value
SPAWN, HELLO, STARTED, FAILED, EXITED = b"R", b"H", b"S", b"F", b"X"
DEFAULT_PATH = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
COLLECT_EVERY = 1000  # requests between two garbage collections
MAX_FDS = 16  # file descriptors taken at most by one receive (one per request)
_FDS_SPACE = socket.CMSG_SPACE(MAX_FDS * 4)
# restored to their defaults in the run's process (as subprocess does: Python ignores these two)
_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)
POOL_PREFIX = b".spawner@"  # + the spawner's pid: its pool, in the runs directory (not a run id)
POOL_SIZE = 8  # run directories made ahead (and pid files taken back), at most
BACKGROUND_NICE = 10  # of the thread that makes them: it gives way to the runs (and the server)
CONTROL = b".scaffold"  # as script.CONTROL_DIR
# the files of a run directory made ahead: the first two are written by every run (plans always
# have them, see process._plan), the last is left empty for entry.sh (sh.EXIT_CODE_FILE)
POOL_FILES = (b"script.sh", b"entry.sh")
POOL_EXIT_CODE = b"exit_code"


# ------------------------------------------------------------------------------------ protocol


def _fields(values: list[bytes]) -> bytes:
    return b"".join([FIELD.pack(len(value)) + value for value in values])


def _read_fields(body: bytes, offset: int, count: int) -> tuple[list[bytes], int]:
    values = []
    for _ in range(count):
        (size,) = FIELD.unpack_from(body, offset)
        offset += FIELD.size
        if offset + size > len(body):
            raise ValueError("malformed request")
        values.append(body[offset : offset + size])
        offset += size
    return values, offset


def encode_request(
    seq: int,
    run_dir: bytes,
    mount: bytes,
    pid_file: bytes,
    argv: list[bytes],
    env: list[bytes],
    plan: list[tuple[bytes, bytes, int, bytes]] | tuple[()] = (),
) -> bytes:
    """The frame of a request; ``plan`` is what the spawner writes before it makes the run's
    namespace (see :func:`materialize`)."""
    fields = [run_dir, mount, pid_file, *argv, *env]
    for field in [*fields, *(path for _kind, path, _mode, _data in plan)]:
        if b"\0" in field:
            raise ValueError(f"a NUL byte in {field[:40]!r}... cannot be passed to a process")
    for kind, path, mode, data in plan:
        fields += (kind, path, b"%o" % mode, data)
    body = REQUEST.pack(SPAWN, seq, len(argv), len(env), len(plan)) + _fields(fields)
    return LENGTH.pack(len(body)) + body


def decode_request(
    body: bytes,
) -> tuple[int, bytes, bytes, bytes, list[bytes], list[bytes], list[tuple[bytes, bytes, int, bytes]]]:
    """(seq, run directory, mount point, pid file, argv, env items, plan)."""
    kind, seq, nargs, nenv, nplan = REQUEST.unpack_from(body)
    if kind != SPAWN or nargs < 1:
        raise ValueError("malformed request")
    fields, end = _read_fields(body, REQUEST.size, 3 + nargs + nenv + 4 * nplan)
    if end != len(body):
        raise ValueError("malformed request")
    ops = fields[3 + nargs + nenv :]
    plan = [(ops[i], ops[i + 1], int(ops[i + 2], 8), ops[i + 3]) for i in range(0, len(ops), 4)]
    return (
        seq,
        fields[0],
        fields[1],
        fields[2],
        fields[3 : 3 + nargs],
        fields[3 + nargs : 3 + nargs + nenv],
        plan,
    )


def request_head(body: bytes) -> tuple[int, bytes]:
    """(seq, pid file) of a request, before (and whether or not) the rest can be decoded."""
    kind, seq, _nargs, _nenv, _nplan = REQUEST.unpack_from(body)
    if kind != SPAWN:
        raise ValueError("malformed request")
    fields, _end = _read_fields(body, REQUEST.size, 3)
    return seq, fields[2]


def materialize(plan: list[tuple[bytes, bytes, int, bytes]], pool: Pool | None = None) -> None:
    """Write a run directory: each step is (kind, path, mode, data) -- ``p`` a private directory
    made with its parents if missing, ``d`` a new directory, ``m`` a directory that may exist,
    ``f`` a new file (never through an existing path or symlink) holding ``data``. Each ends with
    exactly ``mode``, whatever the umask: created with the umask cleared rather than changed
    after, since every change of an inode costs a journal entry on the run's filesystem (where the
    store may be syncing). (What ``RunDir.prepare`` does, for the spawner.)

    With a ``pool``, the first new directory of mode 0777 (the run directory) is one made ahead,
    renamed into place (never over an existing path); the directories and empty files it holds
    stand for the steps that would create them with the same modes, and its files are written in
    place; its empty ``exit_code`` stays."""
    umask = os.umask(0)
    ahead: dict[bytes, int] = {}  # what the directory made ahead holds, not yet used: path -> mode
    try:
        for kind, path, mode, data in plan:
            if kind == b"f":
                made = ahead.pop(path, None)
                if made == mode:  # an empty regular file made ahead
                    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                else:
                    if made is not None:
                        os.unlink(path)
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
            elif kind == b"d":
                made = ahead.pop(path, None)
                if made is not None:
                    if made != mode | _DIR:
                        os.chmod(path, mode)
                elif pool is not None and mode == 0o777 and (ahead := pool.place(path)):
                    pool = None
                else:
                    os.mkdir(path, mode)
            elif kind == b"m":
                ahead.pop(path, None)
                try:
                    os.mkdir(path, mode)
                except FileExistsError:
                    os.chmod(path, mode)
            elif kind == b"p":
                if not os.path.isdir(path):
                    os.umask(umask)  # its parents as the umask has them
                    try:
                        os.makedirs(path, exist_ok=True)
                    finally:
                        os.umask(0)
                    os.chmod(path, mode)
            else:
                raise ValueError(f"unknown step {kind!r}")
        for path, mode in ahead.items():  # made ahead, but no step wanted it
            if not mode & _DIR and not path.endswith(b"/" + POOL_EXIT_CODE):
                os.unlink(path)
    finally:
        os.umask(umask)


_DIR = 1 << 16  # marks a directory among the modes of Pool.place


def encode_reply(kind: bytes, seq: int, value: int, message: bytes = b"") -> bytes:
    body = REPLY.pack(kind, seq, value) + message
    return LENGTH.pack(len(body)) + body


def decode_reply(body: bytes) -> tuple[bytes, int, int, bytes]:
    """(kind, seq, value, message)."""
    kind, seq, value = REPLY.unpack_from(body)
    return kind, seq, value, body[REPLY.size :]


def split_frames(buffer: bytearray) -> list[bytes]:
    """Take the complete frames off the front of ``buffer`` (the rest waits for more data)."""
    frames = []
    offset, end = 0, len(buffer)
    while end - offset >= LENGTH.size:
        (size,) = LENGTH.unpack_from(buffer, offset)
        start = offset + LENGTH.size
        if end - start < size:
            break
        frames.append(bytes(buffer[start : start + size]))
        offset = start + size
    if offset:
        del buffer[:offset]
    return frames


# ------------------------------------------------------------------------- made ahead: the pool


class Pool:
    """Run directories made ahead by a thread, in ``<runs_dir>/.spawner@<pid>/``: ``<n>/`` (0777)
    holding ``.scaffold/`` (0777) with empty ``script.sh`` and ``entry.sh`` (0644) and ``exit_code``
    (with the mode the run's shell would give it); and the pid files of ended runs, taken back to
    be used again (``<n>.pid``). The thread has its own umask (cleared) and working directory
    (:func:`mountns.unshare_fs`), so the spawner's own stay as they are, and a low priority
    (``SCHED_BATCH``, nice 10: it does not preempt anything when it wakes up, and gives way to the
    runs, the spawner and the server when the CPUs are busy); it refills the pool as runs take from
    it, and waits a second after an error (no runs directory yet, a full disk). When the pool is
    empty, a run's directory is made as it comes, by the spawner (as it would be without a pool)."""

    def __init__(self, size: int = POOL_SIZE):
        self.size = size
        self.path: bytes | None = None
        self.dirs: list[bytes] = []
        self.pid_files: list[bytes] = []
        self.closed = False
        self.changed = threading.Condition()
        self.thread: threading.Thread | None = None
        self.serial = 0
        umask = os.umask(0o022)
        os.umask(umask)
        self.exit_code_mode = 0o666 & ~umask  # as the run's shell creates it (the spawner's umask)

    def attach(self, runs_dir: bytes) -> None:
        """Start filling the pool in ``runs_dir`` (once: the executor has a single runs directory)."""
        if self.path is not None or self.closed or not runs_dir:
            return
        self.path = os.path.join(runs_dir, POOL_PREFIX + b"%d" % os.getpid())
        self.thread = threading.Thread(target=self._fill, name="pool", daemon=True)
        self.thread.start()

    def place(self, target: bytes) -> dict[bytes, int]:
        """Rename a run directory made ahead to ``target`` (never over an existing one): what it
        holds (path -> mode, ``_DIR`` added for a directory), or {} if none could be placed."""
        with self.changed:
            if not self.dirs:
                return {}
            made = self.dirs.pop()
            self.changed.notify()
        try:
            mountns.rename_noreplace(made, target)
        except FileExistsError:
            with self.changed:  # the run directory is there already: mkdir will say so
                self.dirs.append(made)
            return {}
        except FileNotFoundError:  # removed behind the pool's back
            return {}
        except OSError:  # no renameat2 here, or another file system: made ahead for nothing
            self.close()
            return {}
        try:
            os.utime(target)  # the run's start, for the retention time (it was made earlier)
        except OSError:
            pass
        control = os.path.join(target, CONTROL)
        held = {control: 0o777 | _DIR}
        for name in POOL_FILES:
            held[os.path.join(control, name)] = 0o644
        held[os.path.join(control, POOL_EXIT_CODE)] = self.exit_code_mode
        return held

    def pid_file(self, path: bytes, content: bytes) -> bool:
        """Write ``content`` to the file of an ended run's pid file taken back (:meth:`recycle`) and
        rename it to ``path`` (replacing any), so the pid file appears whole: False if there was
        none (or it failed)."""
        with self.changed:
            if not self.pid_files:
                return False
            made = self.pid_files.pop()
        try:
            fd = os.open(made, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:  # over the old content, then cut to size: no block freed (and discarded) and taken
                os.write(fd, content)
                os.ftruncate(fd, len(content))
            finally:
                os.close(fd)
            os.replace(made, path)
        except OSError:
            _unlink(made)
            return False
        return True

    def recycle(self, path: bytes) -> None:
        """Take back the pid file of a run that ended (renamed into the pool, to be written again
        by another run: cheaper than a new file), or remove it if the pool has enough."""
        with self.changed:
            if self.path is None or self.closed or len(self.pid_files) >= self.size:
                made = None
            else:
                self.serial += 1
                made = os.path.join(self.path, b"%d.pid" % self.serial)
        if made is not None:
            try:
                os.rename(path, made)
            except OSError:
                pass
            else:
                with self.changed:
                    if not self.closed:
                        self.pid_files.append(made)
                        return
                _unlink(made)
                return
        _unlink(path)

    def _fill(self) -> None:
        try:
            mountns.unshare_fs()
            os.umask(0)
        except OSError:
            return  # without a umask of its own, nothing is made ahead
        try:  # work for later: never in the way of a run (this thread only, on Linux)
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
        except (OSError, AttributeError):
            pass
        while self._fill_one():
            pass

    def _fill_one(self) -> bool:
        """Make one run directory for the pool: False once the pool is closed."""
        assert self.path is not None
        with self.changed:
            while not self.closed and len(self.dirs) >= self.size:
                self.changed.wait()
            if self.closed:
                return False
            self.serial += 1
            made = os.path.join(self.path, b"%d" % self.serial)
        try:
            self._make_dir(made)
        except OSError:
            _remove_tree(made)
            with self.changed:
                if not self.closed:
                    self.changed.wait(1.0)  # no runs directory yet, a full disk...: later
            return True
        with self.changed:
            if not self.closed:
                self.dirs.append(made)
                return True
        _remove_tree(made)
        return False

    def _make_dir(self, made: bytes) -> None:
        assert self.path is not None
        try:
            os.mkdir(made, 0o777)
        except FileNotFoundError:  # the pool itself is not there (yet, or any more)
            os.mkdir(self.path, 0o700)  # FileNotFoundError without the runs directory
            _spread_subdirectories(self.path)
            os.mkdir(made, 0o777)
        control = os.path.join(made, CONTROL)
        os.mkdir(control, 0o777)
        files = [(name, 0o644) for name in POOL_FILES] + [(POOL_EXIT_CODE, self.exit_code_mode)]
        for name, mode in files:
            path = os.path.join(control, name)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode))

    def close(self) -> None:
        """Stop the thread and remove the pool (what is still in it)."""
        with self.changed:
            self.closed = True
            self.changed.notify_all()
        if self.thread is not None:
            self.thread.join(5.0)
        if self.path is not None:
            _remove_tree(self.path)


def _spread_subdirectories(path: bytes) -> None:
    """Mark ``path`` as the top of unrelated directory trees (``chattr +T``, ext2/3/4; nothing
    elsewhere): its subdirectories -- the run directories made ahead -- are then placed in block
    groups of their own by the Orlov allocator, not next to their parent. Near a busy ``/tmp``,
    where files come and go all the time, allocating an inode next to the parent means skipping
    every inode freed there in the last minutes (ext4 without a journal): 0.8-4 ms of CPU a run
    directory here, against a steady 0.2 ms when spread."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        flags = bytearray(4)
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags)
        (value,) = struct.unpack("i", flags)
        fcntl.ioctl(fd, _FS_IOC_SETFLAGS, struct.pack("i", value | _FS_TOPDIR_FL))
    except OSError:
        pass
    finally:
        os.close(fd)


_LONG = struct.calcsize("l")
_FS_IOC_GETFLAGS = (2 << 30) | (_LONG << 16) | (ord("f") << 8) | 1  # _IOR('f', 1, long)
_FS_IOC_SETFLAGS = (1 << 30) | (_LONG << 16) | (ord("f") << 8) | 2  # _IOW('f', 2, long)
_FS_TOPDIR_FL = 0x00020000


def _remove_tree(path: bytes) -> None:
    """Remove a file or a directory tree made by the pool, as far as possible."""
    try:
        os.unlink(path)
        return
    except IsADirectoryError:
        pass
    except OSError:
        return
    for root, dirs, files in os.walk(path, topdown=False):
        for name in files:
            _unlink(os.path.join(root, name))
        for name in dirs:
            try:
                os.rmdir(os.path.join(root, name))
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass


# ------------------------------------------------------------------------------------ a run


def _spawn(argv: list[bytes], env: dict[bytes, bytes], out: int) -> int:
    """Start ``argv`` with ``out`` as its stdout and stderr, in its own process group: its pid.
    ``posix_spawn`` (a vfork) for each candidate of the run's own PATH, as ``execvpe`` searches."""
    options: dict[str, object] = {
        "file_actions": [(os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, out, 2)],
        "setpgroup": 0,
        "setsigdef": _DEFAULT_SIGNALS,
    }
    if b"/" in argv[0]:
        return os.posix_spawn(argv[0], argv, env, **options)  # type: ignore[arg-type]
    first: OSError | None = None
    last: OSError | None = None
    for directory in env.get(b"PATH", DEFAULT_PATH).split(b":"):
        try:
            return os.posix_spawn(os.path.join(directory or b".", argv[0]), argv, env, **options)  # type: ignore[arg-type]
        except (FileNotFoundError, NotADirectoryError) as exc:
            last = exc
        except OSError as exc:
            first = first or exc
    raise first or last or FileNotFoundError(2, "not found")


def _received_fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return list(fds)


def _start_time(pid: int) -> bytes:
    """The process's start time in clock ticks since boot (as process._start_time reads it)."""
    fd = os.open(b"/proc/%d/stat" % pid, os.O_RDONLY | os.O_CLOEXEC)
    try:
        stat = os.read(fd, 4096)
    finally:
        os.close(fd)
    return stat.rsplit(b")", 1)[1].split()[19]


def _write_pid(path: bytes, pid: int, pool: Pool) -> bool:
    """The pid file: the process's pid and start time (for ``adopt``)."""
    try:
        line = b"%d %s\n" % (pid, _start_time(pid))
        if pool.pid_file(path, line):
            return True
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except (OSError, IndexError):
        return False
    return True


def _unlink(path: bytes) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


# ---------------------------------------------------------------------------------- the server


class _Child:
    __slots__ = ("namespace", "pid_file", "pid_written", "seq")

    def __init__(self, seq: int, pid_file: bytes, namespace: int):
        self.seq = seq
        self.pid_file = pid_file
        self.namespace = namespace  # a descriptor holding its mount namespace, or -1
        self.pid_written = False


class Spawner:
    def __init__(self, sock: socket.socket, pool: Pool | None = None):
        self.sock = sock
        self.buffer = bytearray()
        self.fds: list[int] = []  # output pipes received, one per request, in order
        self.children: dict[int, _Child] = {}  # pid -> child
        self.host = mountns.current()  # the namespace to go back to after each run
        self.pool = pool if pool is not None else Pool()
        self.wakeup, self.wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wakeup_w)
        signal.signal(signal.SIGCHLD, lambda number, frame: None)
        self.poller = select.poll()
        self.poller.register(sock.fileno(), select.POLLIN)
        self.poller.register(self.wakeup, select.POLLIN)
        self.requests = 0

    def serve(self) -> None:
        """Until the executor's end of the socket is closed."""
        sock = self.sock.fileno()
        try:
            while True:
                for fd, _events in self.poller.poll():
                    if fd == sock:
                        if not self.receive():
                            return
                    elif fd == self.wakeup:
                        try:
                            while os.read(self.wakeup, 512):
                                pass
                        except BlockingIOError:
                            pass
                        self.reap()
        finally:
            self.pool.close()

    def reply(self, kind: bytes, seq: int, value: int, message: bytes = b"") -> None:
        self.sock.sendall(encode_reply(kind, seq, value, message))

    def receive(self) -> bool:
        # not socket.recv_fds: it drops its flags argument (3.11), and the pipes must be close-on-exec
        data, ancillary, _flags, _address = self.sock.recvmsg(1 << 16, _FDS_SPACE, socket.MSG_CMSG_CLOEXEC)
        self.fds += _received_fds(ancillary)
        if not data:
            return False
        self.buffer += data
        for body in split_frames(self.buffer):
            if not self.fds:
                raise RuntimeError("a request came without its output pipe")
            out = self.fds.pop(0)
            try:
                self.spawn(body, out)
            finally:
                os.close(out)  # the process has its own copy
            self.requests += 1
            if self.requests % COLLECT_EVERY == 0:
                gc.collect()
        return True

    def spawn(self, body: bytes, out: int) -> None:
        seq, pid_file = request_head(body)
        step = "reading the request"
        namespace = -1
        try:
            _seq, run_dir, mount, _pid_file, argv, env, plan = decode_request(body)
            environ = dict(item.split(b"=", 1) for item in env)
            step = "preparing the run directory"
            materialize(plan, self.pool)
            self.pool.attach(os.path.dirname(run_dir))
            step = "creating the run's mount namespace"
            mountns.unshare()
            try:
                mountns.show(run_dir, mount)
                try:
                    namespace = mountns.current()  # kept until its exit is reported
                except OSError:
                    pass
                step = f"executing {argv[0].decode(errors='replace')!r}"
                pid = _spawn(argv, environ, out)
            finally:
                self.leave()
        except (OSError, ValueError) as exc:
            if namespace >= 0:
                os.close(namespace)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.reply(FAILED, seq, 0, f"{step}: {reason}".encode(errors="replace"))
            return
        child = self.children[pid] = _Child(seq, pid_file, namespace)
        self.reply(STARTED, seq, pid)
        if pid_file:
            child.pid_written = _write_pid(pid_file, pid, self.pool)

    def leave(self) -> None:
        """Back to the host's mount namespace; the spawner cannot go on if it cannot."""
        try:
            mountns.leave(self.host)
        except OSError:
            os._exit(70)  # the executor sees the socket close: its runs end, a new spawner starts

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is None:
                continue
            self.reply(EXITED, child.seq, status)
            if child.namespace >= 0:
                os.close(child.namespace)  # tears the namespace down, now that the exit is reported
            if child.pid_written:
                self.pool.recycle(child.pid_file)


def main() -> None:
    sock_fd = os.dup(0)  # close-on-exec: no child inherits the socket
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)  # every child's stdin
    os.close(null)
    if os.fork():
        os._exit(0)  # the executor reaps this first process; the spawner goes on in its child
    os.setsid()
    os.chdir("/")
    gc.disable()
    gc.freeze()
    sock = socket.socket(fileno=sock_fd)
    try:
        sock.setblocking(True)
        spawner = Spawner(sock)
        spawner.reply(HELLO, 0, os.getpid())
        spawner.serve()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        sock.close()


if __name__ == "__main__":
    main()
