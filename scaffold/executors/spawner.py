"""The process spawner: a small long-lived process that starts the process executor's runs as root.

Why: forking the server itself is slow. CPython only uses ``vfork()`` for a subprocess without
``preexec_fn``, and making the run's mount namespace between fork and exec needs one, so every run
paid a full ``fork()`` of the big server process and blocked its event loop until the child had
exec'd. This process imports only a few standard modules (plus :mod:`scaffold.executors.mountns`),
so its own ``fork()`` is cheap, and it runs beside the server's event loop instead of inside it.

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
  ``"F"`` failed (the message follows), instead of ``"S"`` when no process could be forked, after
  it when the process could not exec (then no ``"X"``).

The spawner keeps one child forked ahead, in its own process group, waiting on a socketpair for
its request: a request is handed to it (the body, the pipe, then EOF) and the spawner forks the
next one once it has been idle for a millisecond, so no fork is on a run's path (more requests at
once than children ready are forked on demand). The child writes the run directory if the request
has its plan (the executor then needs no thread for it, and runs prepare theirs side by side),
makes its private mount namespace with the run directory at ``/tmp/run``
(:mod:`scaffold.executors.mountns`) and changes into it, puts the pipe on stdout and stderr (stdin
is ``/dev/null``), has the signals Python ignores restored, and execs the argv with exactly the
given environment (the task's values go from memory to the process, never to a file). What went
wrong before the exec goes to a close-on-exec pipe, read when the child is reaped. The spawner
writes the pid file (pid and start time, for ``adopt``) as the child gets its request, reaps its
children on ``SIGCHLD`` and removes their pid files. Its garbage collector is off (a collection in
a child between fork and exec would copy the whole heap): the spawner makes almost no reference
cycles, and collects between requests now and then.
"""

from __future__ import annotations

import array
import gc
import os
import select
import signal
import socket
import struct
import time

from scaffold.executors import mountns

LENGTH = struct.Struct("!I")
REQUEST = struct.Struct("!cQIII")  # kind, sequence number, argv, env and plan counts
FIELD = struct.Struct("!I")  # each field of a request: its length, then its bytes
REPLY = struct.Struct("!cQq")  # kind, sequence number, value
SPAWN, HELLO, STARTED, FAILED, EXITED = b"R", b"H", b"S", b"F", b"X"
DEFAULT_PATH = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
COLLECT_EVERY = 1000  # requests between two garbage collections
# The next child is forked once nothing happened for IDLE_MS: right after the spawner woke a
# process (a child with its request, the executor with a reply), the kernel tends to run that
# process on the spawner's CPU, expecting the spawner to sleep -- a fork then would delay it.
IDLE_MS = 1
MAX_FDS = 16  # file descriptors taken at most by one receive (one per request)
_FDS_SPACE = socket.CMSG_SPACE(MAX_FDS * 4)


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
    """The frame of a request; ``plan`` is what the child writes before it makes its namespace
    (see :func:`materialize`)."""
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
    """(seq, pid file) of a request, without decoding the rest (the child does)."""
    kind, seq, _nargs, _nenv, _nplan = REQUEST.unpack_from(body)
    if kind != SPAWN:
        raise ValueError("malformed request")
    fields, _end = _read_fields(body, REQUEST.size, 3)
    return seq, fields[2]


def materialize(plan: list[tuple[bytes, bytes, int, bytes]]) -> None:
    """Write a run directory: each step is (kind, path, mode, data) -- ``p`` a private directory
    made with its parents if missing, ``d`` a new directory, ``m`` a directory that may exist,
    ``f`` a new file (never through an existing path or symlink) holding ``data``. Each ends with
    exactly ``mode``, whatever the umask: created with the umask cleared rather than changed
    after, since every change of an inode costs a journal entry on the run's filesystem (where the
    store may be syncing). (What ``RunDir.prepare`` does, for the spawner's children.)"""
    umask = os.umask(0)
    try:
        for kind, path, mode, data in plan:
            if kind == b"f":
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
            elif kind == b"d":
                os.mkdir(path, mode)
            elif kind == b"m":
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
    finally:
        os.umask(umask)


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


# ------------------------------------------------------------------------------------ the child


def _exec(argv: list[bytes], env: dict[bytes, bytes]) -> None:
    """``execvpe`` with the run's own PATH (like subprocess with ``env=``)."""
    if b"/" in argv[0]:
        os.execve(argv[0], argv, env)
    first: OSError | None = None
    last: OSError | None = None
    for directory in env.get(b"PATH", DEFAULT_PATH).split(b":"):
        try:
            os.execve(os.path.join(directory or b".", argv[0]), argv, env)
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


def _child(conn: socket.socket, err: int, inherited: list[int]) -> None:
    """A child forked ahead of its request: waits for it on ``conn`` (the request's body, with the
    output pipe attached, then EOF), then makes the run's namespace and execs. Never returns;
    what goes wrong goes to ``err`` (close-on-exec, so nothing there means the exec succeeded)."""
    step = "waiting for the request"
    try:
        os.setpgid(0, 0)  # its own process group, killed as a whole (the spawner does it too)
        signal.set_wakeup_fd(-1)
        for number in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD):
            signal.signal(number, signal.SIG_DFL)  # as subprocess does: Python ignores SIGPIPE, SIGXFSZ
        for fd in inherited:  # the spawner's: its socket must show EOF to the executor if it dies
            os.close(fd)
        # while waiting: the copy-on-write faults of decoding a request (the pages of the heap
        # and of the code it writes to), so that they are not on the run's path
        decode_request(_WARM_UP)
        body, fds = bytearray(), []
        while True:
            data, ancillary, _flags, _address = conn.recvmsg(1 << 16, _FDS_SPACE, socket.MSG_CMSG_CLOEXEC)
            fds += _received_fds(ancillary)
            if not data:
                break
            body += data
        if not body or not fds:
            os._exit(0)  # the spawner went away before a request came
        _seq, run_dir, mount, _pid_file, argv, env, plan = decode_request(bytes(body))
        step = "preparing the run directory"
        materialize(plan)
        step = "creating the run's mount namespace"
        mountns.enter(run_dir, mount)
        step = "redirecting the output"
        os.dup2(fds[0], 1)
        os.dup2(fds[0], 2)
        step = f"executing {argv[0].decode(errors='replace')!r}"
        _exec(argv, dict(item.split(b"=", 1) for item in env))
    except BaseException as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        try:
            os.write(err, f"{step}: {reason}".encode(errors="replace"))
        except OSError:
            pass
    finally:
        os._exit(127)


_WARM_UP = encode_request(
    0,
    b"/r",
    b"/tmp/run",
    b"/r.pid",
    [b"/bin/sh", b"/e"],
    [b"A=b"] * 16,
    [(b"f", b"/r/f", 0o644, b"x" * 512)] * 6,
)[LENGTH.size :]


def _start_time(pid: int) -> bytes:
    """The process's start time in clock ticks since boot (as process._start_time reads it)."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        return stat.read().rsplit(b")", 1)[1].split()[19]


def _write_pid(path: bytes, pid: int) -> bool:
    if not path:
        return False
    try:
        line = b"%d %s\n" % (pid, _start_time(pid))
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


class _Ready:
    """A child forked ahead, waiting for a request on ``conn``."""

    __slots__ = ("conn", "errpipe", "pid")

    def __init__(self, pid: int, conn: socket.socket, errpipe: int):
        self.pid = pid
        self.conn = conn
        self.errpipe = errpipe

    def discard(self) -> None:
        self.conn.close()  # it exits on EOF
        os.close(self.errpipe)


class _Child:
    __slots__ = ("errpipe", "pid_file", "pid_written", "seq")

    def __init__(self, seq: int, pid_file: bytes, errpipe: int, pid_written: bool):
        self.seq = seq
        self.pid_file = pid_file
        self.errpipe = errpipe
        self.pid_written = pid_written


class Spawner:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()
        self.fds: list[int] = []  # output pipes received, one per request, in order
        self.children: dict[int, _Child] = {}  # pid -> child
        self.ready: _Ready | None = None
        self.fork_again = 0.0  # no fork ahead before (after a failed one)
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
                fork_ahead = self.ready is None and time.monotonic() >= self.fork_again
                events = self.poller.poll(IDLE_MS if fork_ahead else None)
                if not events and fork_ahead:
                    try:
                        self.ready = self.fork_ready()
                    except OSError:  # forked on demand (refused with the reason if it fails)
                        self.fork_again = time.monotonic() + 1.0
                for fd, _events in events:
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
            if self.ready is not None:
                self.ready.discard()

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
                os.close(out)  # the child has its own copy
            self.requests += 1
            if self.requests % COLLECT_EVERY == 0:
                gc.collect()
        return True

    def fork_ready(self) -> _Ready:
        conn, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            errpipe, err = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            conn.close()
            theirs.close()
            raise
        try:
            pid = os.fork()
        except OSError:
            for fd in (errpipe, err):
                os.close(fd)
            conn.close()
            theirs.close()
            raise
        if pid == 0:
            _child(theirs, err, [self.sock.fileno(), self.wakeup, self.wakeup_w, conn.fileno(), errpipe])
        try:
            os.setpgid(pid, pid)  # as the child does: whichever comes first, no kill can miss it
        except OSError:
            pass
        theirs.close()
        os.close(err)
        return _Ready(pid, conn, errpipe)

    def spawn(self, body: bytes, out: int) -> None:
        seq, pid_file = request_head(body)
        for _attempt in range(2):
            try:
                ready = self.ready or self.fork_ready()
            except OSError as exc:
                self.reply(FAILED, seq, 0, f"fork: {exc.strerror or exc}".encode())
                return
            self.ready = None
            try:  # the body, the pipe with its first bytes, then EOF
                pipe = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [out]))]
                sent = ready.conn.sendmsg([body], pipe)
                if sent < len(body):
                    ready.conn.sendall(body[sent:])
                ready.conn.close()
                break
            except OSError:  # it died waiting: fork another
                ready.discard()
                _kill(ready.pid)
        else:
            self.reply(FAILED, seq, 0, b"the child forked for the script died")
            return
        self.reply(STARTED, seq, ready.pid)
        self.children[ready.pid] = _Child(seq, pid_file, ready.errpipe, _write_pid(pid_file, ready.pid))

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.ready is not None and pid == self.ready.pid:  # died waiting
                self.ready.discard()
                self.ready = None
                continue
            child = self.children.pop(pid, None)
            if child is None:
                continue
            error = _read_all(child.errpipe)  # it is gone: the pipe holds all it wrote
            os.close(child.errpipe)
            if error:
                self.reply(FAILED, child.seq, pid, error)
            else:
                self.reply(EXITED, child.seq, status)
            if child.pid_written:
                _unlink(child.pid_file)


def _read_all(fd: int) -> bytes:
    chunks = []
    try:
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    return b"".join(chunks)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def main() -> None:
    sock_fd = os.dup(0)  # close-on-exec: no child inherits the socket
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)  # every child's stdin
    os.close(null)
    if os.fork():
        os._exit(0)  # the executor reaps this first process; the spawner goes on in its child
    os.setsid()
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
