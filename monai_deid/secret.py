"""The user's secret that keys every pseudonym, replacement UID and date offset.

The secret comes from an argument, a file or the environment variable ``MONAI_DEID_SECRET``, in that order
(explicit arguments win over the environment). It is
never logged or shown: :class:`Secret` hides its value from ``repr``/``str``. Pseudonymisation without a secret is
refused unless the caller asks for a throw-away random one (``generate_secret=True``), whose pseudonyms cannot be
reproduced by any later run.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

__all__ = ["SECRET_ENV_VAR", "MissingSecretError", "Secret", "resolve_secret"]

SECRET_ENV_VAR = "MONAI_DEID_SECRET"
_MIN_LENGTH = 8


class MissingSecretError(ValueError):
    """No usable secret was given for pseudonymisation; the message says where one can come from."""


class Secret:
    """An HMAC-SHA256 key whose value never appears in ``repr``, ``str`` or logs.

    Args:
        key: the secret bytes (at least 8).
        origin: PHI-free description of where it came from (``"argument"``, ``"environment"``, ``"file"``,
            ``"generated"``).
    """

    __slots__ = ("_key", "origin")

    def __init__(self, key: bytes, origin: str) -> None:
        if len(key) < _MIN_LENGTH:
            raise MissingSecretError(f"the secret from {origin} is shorter than {_MIN_LENGTH} bytes")
        self._key = key
        self.origin = origin

    def digest(self, domain: str, value: str) -> bytes:
        """HMAC-SHA256 of ``value`` under the secret, separated by ``domain`` so uses never collide."""
        return hmac.new(self._key, f"{domain}\x00{value}".encode(), hashlib.sha256).digest()

    def __repr__(self) -> str:
        return f"Secret(origin={self.origin!r}, value=<hidden>)"

    __str__ = __repr__

    def __reduce__(self):
        # Pickling (DataLoader workers) keeps the key in memory only; it is never part of any output.
        return (Secret, (self._key, self.origin))


def resolve_secret(
    secret: str | bytes | Secret | None = None,
    secret_file: str | Path | None = None,
    generate_secret: bool = False,
) -> Secret:
    """Find the secret: argument, then ``secret_file``, then ``MONAI_DEID_SECRET``, else a generated one if allowed.

    Args:
        secret: the secret itself.
        secret_file: a file whose content (surrounding whitespace stripped) is the secret.
        generate_secret: when no secret is found, make a random throw-away one instead of failing.

    Raises:
        MissingSecretError: no secret was found and ``generate_secret`` is False, or the one found is too short or
            its file cannot be read.
        TypeError: ``secret`` is neither text nor bytes (a number in a config file, say).
    """
    if isinstance(secret, Secret):
        return secret
    if secret is not None and not isinstance(secret, (str, bytes, bytearray)):
        raise TypeError(f"the secret must be text or bytes, not {type(secret).__name__}")
    if secret:
        return Secret(secret.encode() if isinstance(secret, str) else bytes(secret), "argument")
    if secret_file is not None:
        try:
            content = Path(secret_file).read_bytes().strip()
        except OSError as err:
            raise MissingSecretError(f"the secret file cannot be read ({type(err).__name__})") from None
        return Secret(content, "file")
    from_env = os.environ.get(SECRET_ENV_VAR)
    if from_env:
        return Secret(from_env.encode(), "environment")
    if generate_secret:
        return Secret(secrets.token_bytes(32), "generated")
    raise MissingSecretError(
        "pseudonyms, UIDs and date shifts need a secret: pass secret=..., set "
        f"{SECRET_ENV_VAR}, pass secret_file=..., or generate_secret=True for a throw-away one"
    )
