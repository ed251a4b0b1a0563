"""Password and secret hashing: argon2id, slow on purpose."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# Verifying against this keeps the time of "no such user" equal to "wrong password".
_DUMMY_SECRET = "gureum-timing-equalizer"


class SecretHasher:
    def __init__(self, memory_kib: int, time_cost: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._dummy_hash = self._hasher.hash(_DUMMY_SECRET)

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify(self, stored_hash: str | None, secret: str) -> bool:
        if not stored_hash:
            self.burn_time()
            return False
        try:
            return self._hasher.verify(stored_hash, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def burn_time(self) -> None:
        """Spend what a real verify costs, so a missing user is not told apart by timing."""
        try:
            self._hasher.verify(self._dummy_hash, _DUMMY_SECRET + "x")
        except VerifyMismatchError:
            pass
