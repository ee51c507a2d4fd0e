"""Encryption at rest for secrets the bot must keep (Zalo's rotating tokens), with CAMPAIGN_SECRET_KEY.

The key comes from the environment (the workspace's ``.env``), never from the store, so a copy of
the database alone reveals no token. Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``)
gives authenticated encryption: a changed ciphertext or a wrong key is detected, never decrypted
to garbage.

``CAMPAIGN_SECRET_KEY`` is either

* a Fernet key (44 characters of url-safe base64, e.g. from :func:`generate_key`), or
* any passphrase of at least 16 characters, stretched to a key with PBKDF2-HMAC-SHA256.

Several keys separated by commas rotate the key: the first encrypts, every one decrypts, so an old
key can be retired after :meth:`SecretBox.rotate` has re-encrypted what the store holds.

Nothing here ever puts a secret or a key into an exception text, a log line or ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.errors import BotError

KEY_ENV = "CAMPAIGN_SECRET_KEY"
MIN_PASSPHRASE = 16
_SALT = b"campaign-bot/secretbox/v1"
_ROUNDS = 200_000


class SecretBoxError(BotError):
    """A problem with the key or a ciphertext. The message is Vietnamese and holds no secret."""

    def __init__(self, message: str, *, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


class MissingKey(SecretBoxError):
    pass


class CannotDecrypt(SecretBoxError):
    pass


def generate_key() -> str:
    """A new random key to put in ``CAMPAIGN_SECRET_KEY``."""
    return Fernet.generate_key().decode("ascii")


def _fernet_for(part: str) -> Fernet:
    raw = part.strip().encode("utf-8")
    if len(raw) == 44:
        try:
            if len(base64.urlsafe_b64decode(raw)) == 32:
                return Fernet(raw)
        except (binascii.Error, ValueError):
            pass
    if len(part.strip()) < MIN_PASSPHRASE:
        raise MissingKey(
            f"{KEY_ENV} quá ngắn: cần một khoá Fernet hoặc một chuỗi bí mật ít nhất {MIN_PASSPHRASE} ký tự",
            fix=f'tạo khoá mới bằng `python -c "from bot.secretbox import generate_key; print(generate_key())"` '
            f"và đặt vào {KEY_ENV} trong tệp .env",
        )
    derived = hashlib.pbkdf2_hmac("sha256", raw, _SALT, _ROUNDS, dklen=32)
    return Fernet(base64.urlsafe_b64encode(derived))


class SecretBox:
    """Encrypts and decrypts short text secrets. Build it with :func:`from_env` or ``SecretBox(key)``."""

    def __init__(self, key: str) -> None:
        parts = [p for p in (key or "").split(",") if p.strip()]
        if not parts:
            raise MissingKey(
                f"chưa đặt {KEY_ENV}: bot không thể lưu token Zalo một cách an toàn",
                fix=f'tạo khoá bằng `python -c "from bot.secretbox import generate_key; print(generate_key())"` '
                f"và đặt {KEY_ENV}=<khoá> trong tệp .env (giữ khoá này cẩn thận: mất khoá thì phải cấp quyền lại OA)",
            )
        self._fernet = MultiFernet([_fernet_for(p) for p in parts])

    def __repr__(self) -> str:
        return "SecretBox(****)"

    __str__ = __repr__

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise CannotDecrypt(
                f"không giải mã được token đã lưu: {KEY_ENV} đã đổi hoặc dữ liệu bị hỏng",
                fix=f"đặt lại {KEY_ENV} cũ; nếu không còn khoá cũ, cấp quyền lại OA và đặt refresh token mới "
                "vào biến token của kênh trong .env",
            ) from None

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the first key (after a new key was put first in CAMPAIGN_SECRET_KEY)."""
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except (InvalidToken, ValueError):
            raise CannotDecrypt(
                "không mã hoá lại được token đã lưu: không khoá nào khớp",
                fix=f"giữ khoá cũ trong {KEY_ENV} (sau dấu phẩy) cho đến khi mã hoá lại xong",
            ) from None


def from_env(env: Mapping[str, str]) -> SecretBox:
    """The box for ``CAMPAIGN_SECRET_KEY`` in ``env``; raises :class:`MissingKey` when it is unset or unusable."""
    return SecretBox(env.get(KEY_ENV, ""))
