"""A private mount namespace made by the run's own process (Linux, as root): the fastest way to give
a run its own ``/tmp/run``.

Between fork and exec the child calls ``unshare(CLONE_NEWNS)``, makes every mount private, bind-
mounts the run directory onto ``/tmp/run`` and changes into it -- three system calls, where the
``unshare``/``bwrap`` commands cost one or two extra programs per run. The process spawner
(:mod:`scaffold.executors.spawner`) does it in the children it forks; the functions are resolved
once, before any fork, so a child only makes the calls.

Standard library only: the spawner imports this module and stays small.
"""

from __future__ import annotations

import ctypes
import errno
import os

CLONE_NEWNS = 0x00020000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

_libc: ctypes.CDLL | None = None


def load() -> ctypes.CDLL:
    """The C library with ``unshare`` and ``mount`` typed (raises OSError/AttributeError without)."""
    global _libc
    if _libc is None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.unshare.argtypes = [ctypes.c_int]
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


def enter(run_dir: bytes, target: bytes) -> None:
    """In a new private mount namespace, show ``run_dir`` at ``target`` and change into it.
    Meant for a child between fork and exec (it changes the calling process's namespace)."""
    libc = load()
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
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
