"""The blocking Docker SDK brought to the event loop: threads, output streams, sockets.

Used by :class:`scaffold.executors.docker.DockerExecutor`. Every SDK call runs in a thread of its
own (:func:`in_thread`); a run's output is read in a thread and reaches the loop chunk by chunk,
in order (:class:`OutputPump`); :class:`LogOffset` remembers how many bytes reached the sink so a
restarted server replays only the rest. Also the readers of what the engine answers (image digests,
timestamps). The SDK itself is imported inside the functions that need it, never at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
    """Run a blocking call in a thread of its own (never the loop's bounded pool: attach streams
    and waits can block for hours) and return a future for its result."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(setter: Callable[[Any], None], value: Any) -> None:
        if not future.done():
            setter(value)

    def work() -> None:
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            outcome: tuple[Callable[[Any], None], Any] = (future.set_exception, exc)
        else:
            outcome = (future.set_result, result)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=work, name="scaffold-docker", daemon=True).start()
    return future


async def quietly(future: asyncio.Future[Any]) -> Any:
    """The future's result, or None if it failed."""
    try:
        return await future
    except Exception:
        return None


class OutputPump:
    """Reads a run's output in a thread and hands every chunk to ``deliver`` on the loop, in order.

    ``skip`` bytes at the start are dropped (already delivered before a restart)."""

    def __init__(self, chunks: Iterator[bytes], close: Callable[[], None], deliver: Callable[[bytes], None]):
        self._chunks = chunks
        self._close = close
        self._deliver = deliver
        self.skip = 0

    def start(self) -> asyncio.Future[None]:
        return in_thread(self._pump, asyncio.get_running_loop())

    def _pump(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            for chunk in self._chunks:
                if self.skip:
                    cut = min(self.skip, len(chunk))
                    chunk, self.skip = chunk[cut:], self.skip - cut
                if chunk:
                    loop.call_soon_threadsafe(self._deliver, chunk)
        except Exception:
            pass  # the stream was closed under us (cancelled follow) or the loop is gone
        finally:
            self.stop()

    def stop(self) -> None:
        """Close the stream (from any thread); a blocked read returns at once."""
        with contextlib.suppress(Exception):
            self._close()


def attach_output(api: Any, container: str) -> tuple[Iterator[bytes], Callable[[], None]]:
    """Live stdout+stderr of a container through its attach socket (no replay, no extra inspect)."""
    from docker.utils.socket import frames_iter

    sock = api.attach_socket(container, params={"stdout": 1, "stderr": 1, "stream": 1})
    raw = getattr(sock, "_sock", None)
    if hasattr(api, "_disable_socket_timeout"):
        api._disable_socket_timeout(sock)  # reads block until the container writes
    elif raw is not None:
        raw.settimeout(None)
    response = getattr(sock, "_response", None)

    def close() -> None:
        if raw is not None:
            with contextlib.suppress(OSError):
                raw.shutdown(socket.SHUT_RDWR)
        (response or sock).close()

    return (data for _, data in frames_iter(sock, False)), close


def log_output(api: Any, container: str) -> tuple[Iterator[bytes], Callable[[], None]]:
    """The container's whole log then its live output (``docker logs --follow``)."""
    stream = api.logs(container, stdout=True, stderr=True, stream=True, follow=True)

    def close() -> None:
        with contextlib.suppress(Exception):
            stream.close()  # unblocks a read in progress
        stream._response.close()  # frees the connection once the log ended by itself

    return iter(stream), close


async def open_output(
    api: Any, container: str, fresh: bool, offset: LogOffset, deliver: Callable[[bytes], None]
) -> OutputPump:
    """The output of a container: live for a fresh one; for one followed again after a restart,
    its log from the start minus the ``offset`` bytes that reached the sink already."""
    if fresh:
        offset.value = 0
        return OutputPump(*await in_thread(attach_output, api, container), deliver)
    offset.read()
    try:
        output = OutputPump(*await in_thread(log_output, api, container), deliver)
        output.skip = offset.value
    except Exception:  # a log driver that cannot be read back: live output only
        output = OutputPump(*await in_thread(attach_output, api, container), deliver)
    return output


class LogOffset:
    """How many output bytes of a run reached the sink, kept next to its run directory."""

    def __init__(self, path: Path):
        self.path = path
        self.value = 0
        self._fd: int | None = None

    def read(self) -> int:
        with contextlib.suppress(OSError, ValueError):
            self.value = int(self.path.read_bytes().strip() or 0)
        return self.value

    def add(self, size: int) -> None:
        self.value += size
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.pwrite(self._fd, b"%20d\n" % self.value, 0)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def probe_unix_socket(address: str) -> None:
    """Connect to a ``unix://`` address once, closing the socket whatever happens (the SDK leaks
    the socket of a failed connection, which warnings-as-errors test runs notice)."""
    if not address.startswith("unix://"):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(10)
        probe.connect(address.removeprefix("unix://"))


def image_digest(api: Any, image: str) -> str | None:
    """The image's registry digest (``repo@sha256:...``) when it has one, else its local id."""
    try:
        info = api.inspect_image(image)
    except Exception:
        return None
    from docker.utils import parse_repository_tag

    digests: list[str] = info.get("RepoDigests") or []
    repository = parse_repository_tag(image)[0]
    preferred = [digest for digest in digests if digest.split("@")[0] == repository]
    return next(iter(preferred + digests), None) or info.get("Id")


def docker_timestamp(value: str | None) -> float:
    """Seconds since the epoch of a Docker time like ``2024-05-01T10:00:00.123456789Z``."""
    try:
        moment = datetime.strptime((value or "")[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return 0.0
    return max(moment.timestamp(), 0.0)
