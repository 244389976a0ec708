"""Encryption at rest for password inputs (SPEC 5), with a key kept outside the database.

The key is a Fernet key (AES-128-CBC + HMAC-SHA256, from ``cryptography``) in ``<data_dir>/secret.key``.
It is created on first use with mode 0600; an existing key file that other users could read is
refused, because anyone who can read it can read every password in the database. Values are never
logged, and errors never include them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from scaffold.errors import ScaffoldError

KEY_FILE_NAME = "secret.key"


class SecretKeyError(ScaffoldError):
    """The key file is missing its protection, unreadable, or does not match the stored secrets."""

    status = 500
    code = "secret_key"


class SecretBox:
    """Encrypts and decrypts secret values with the key file in ``data_dir`` (loaded lazily)."""

    def __init__(self, data_dir: str | os.PathLike[str], key_file: str = KEY_FILE_NAME):
        self.path = Path(data_dir) / key_file
        self._fernet: Fernet | None = None

    def encrypt(self, value: str) -> bytes:
        return self._box().encrypt(value.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._box().decrypt(bytes(token)).decode("utf-8")
        except InvalidToken:
            raise SecretKeyError(
                f"cannot decrypt a stored secret with the key in {self.path}: it is not the key the secret "
                "was encrypted with. Restore the original key file, or set the password inputs again."
            ) from None

    def _box(self) -> Fernet:
        if self._fernet is None:
            self._fernet = Fernet(self._load_or_create())
        return self._fernet

    def _load_or_create(self) -> bytes:
        try:
            return self._read_existing()
        except FileNotFoundError:
            pass
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Fernet.generate_key()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return self._read_existing()
        try:
            os.write(fd, key + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        return key

    def _read_existing(self) -> bytes:
        path = self.path
        st = os.stat(path)  # FileNotFoundError goes to the caller: create the key
        if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretKeyError(
                f"the secret key file {path} is accessible to other users "
                f"(mode {stat.S_IMODE(st.st_mode):o}); "
                f"anyone who can read it can read every password input. Run: chmod 600 {path}"
            )
        try:
            key = path.read_bytes().strip()
        except OSError as exc:
            raise SecretKeyError(
                f"cannot read the secret key file {path} ({exc.strerror}); it must be readable by the user "
                "running scaffold, with mode 0600."
            ) from None
        try:
            Fernet(key)
        except ValueError:
            raise SecretKeyError(
                f"the secret key file {path} does not hold a valid key; restore it from a backup "
                "(or remove it to create a new one, which makes the stored password inputs unreadable)."
            ) from None
        return key
