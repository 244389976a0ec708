"""A private mount namespace for each run, made with system calls (Linux, as root): the fastest way to
give a run its own ``/tmp/run``.

The process spawner (:mod:`scaffold.executors.spawner`) starts every run the same way: it calls
``unshare(CLONE_NEWNS)`` itself (:func:`unshare`), makes every mount of that new namespace
private, bind-mounts the run directory onto ``/tmp/run`` and changes into it (:func:`show`),
starts the run's process there with ``posix_spawn`` (a ``vfork``: the process is born in that
namespace), then goes back to the host's namespace with ``setns`` (:func:`leave`). A handful of
system calls per run, where the ``unshare``/``bwrap`` commands cost one or two extra programs, and
no ``fork()`` of a Python process (whose copied memory the exec then has to tear down).

Standard library only: the spawner imports this module and stays small.
"""

from __future__ import annotations

import ctypes
import errno
import os

CLONE_FS = 0x00000200
CLONE_NEWNS = 0x00020000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
RENAME_NOREPLACE = 1
AT_FDCWD = -100

_libc: ctypes.CDLL | None = None


def load() -> ctypes.CDLL:
    """The C library with ``unshare``, ``mount`` and ``setns`` typed (raises OSError/AttributeError
    without them)."""
    global _libc
    if _libc is None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.unshare.argtypes = [ctypes.c_int]
        libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mount.argtypes = [
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_void_p,
        ]
        _libc = libc
    return _libc


def available() -> bool:
    """Root with the libc calls at hand (whether the kernel allows them is probed by a real run)."""
    try:
        load()
    except (OSError, AttributeError):
        return False
    return os.geteuid() == 0


def current() -> int:
    """A file descriptor (close-on-exec) of the calling thread's mount namespace: what
    :func:`leave` goes back to, or what keeps a namespace alive once its processes are gone."""
    return os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)


def unshare() -> None:
    """Move the calling thread into a new mount namespace, a copy of its current one (raises
    OSError, having changed nothing, if it cannot). For a process with a single thread that
    calls :func:`leave` afterwards, whatever :func:`show` gives."""
    if load().unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")


def show(run_dir: bytes, target: bytes) -> None:
    """In a mount namespace of its own (:func:`unshare`): make every mount private, so nothing
    done here reaches the host, show ``run_dir`` at ``target`` and change into it."""
    libc = load()
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "making mounts private failed")
    if libc.mount(run_dir, target, None, MS_BIND, None) != 0:
        error = ctypes.get_errno()
        if error == errno.ENOENT and os.path.isdir(run_dir):  # no mount point (yet): make it
            os.makedirs(target, 0o755, exist_ok=True)
            error = 0 if libc.mount(run_dir, target, None, MS_BIND, None) == 0 else ctypes.get_errno()
        if error:
            raise OSError(error, f"bind-mounting the run directory on {target.decode()} failed")
    os.chdir(target)


def leave(namespace: int) -> None:
    """Go back to the mount namespace ``namespace`` (a descriptor from :func:`current`) and to its
    root directory. The namespace left behind lives on while a process (or descriptor) holds it."""
    if load().setns(namespace, CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "setns back to the host's mount namespace failed")
    os.chdir("/")


def unshare_fs() -> None:
    """Give the calling thread its own root, working directory and umask (``unshare(CLONE_FS)``),
    so that changing them there does not change them for the process's other threads."""
    if load().unshare(CLONE_FS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_FS) failed")


def rename_noreplace(source: bytes, target: bytes) -> None:
    """``rename(source, target)`` that fails with EEXIST instead of replacing ``target``."""
    libc = load()
    try:
        renameat2 = libc.renameat2
    except AttributeError:  # a C library without it (glibc has it since 2.28)
        raise OSError(errno.ENOSYS, "renameat2 is missing") from None
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(AT_FDCWD, source, AT_FDCWD, target, RENAME_NOREPLACE) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
