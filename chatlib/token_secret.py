"""The token-signing secret, read from AWS Secrets Manager, with its versions and a bounded cache.

The template creates the secret with a generated value and passes its ARN to the functions
that need it (``TOKEN_SECRET_ID``); the value never appears in code, in the template's text or
in a function's environment.

**Rotation** goes through Secrets Manager's version stages: a rotation
(:func:`chatlib.deploy.rotate_token_secret`) puts a new value as ``AWSCURRENT``, and Secrets
Manager moves the label ``AWSPREVIOUS`` to the value it replaces. Each version has an id;
a token names the version that signed it in its ``kid`` header. The authorizer accepts the
current and the previous version (the grace period: tokens minted before the last rotation
keep working) and refuses any other ``kid`` (tokens from before the rotation before that).

**Caching**: reading costs a network call, so a warm function keeps what it read, but for
at most ``TOKEN_SECRET_CACHE_SECONDS`` (default :data:`DEFAULT_CACHE_SECONDS`): a rotation
reaches every warm authorizer within that time. A token that names a version the function
does not hold (minted just after a rotation) makes it read the versions again at once, but at
most once every :data:`REREAD_SECONDS`, so that tokens with made-up ``kid`` values cannot turn
every handshake into a call to Secrets Manager.

Minting a token for a deployed stack, from outside it, is :func:`chatlib.deploy.issue_token`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from chatlib.errors import ConfigurationError

__all__ = [
    "CACHE_VARIABLE",
    "DEFAULT_CACHE_SECONDS",
    "REREAD_SECONDS",
    "SECRET_VARIABLE",
    "SigningKey",
    "SigningKeys",
    "read_signing_keys",
    "read_token_secret",
    "signing_keys",
    "signing_keys_from_environment",
]

#: The function's environment names the secret (its ARN or name) here.
SECRET_VARIABLE = "TOKEN_SECRET_ID"
#: How many seconds a warm function may keep the secret before reading it again.
CACHE_VARIABLE = "TOKEN_SECRET_CACHE_SECONDS"
DEFAULT_CACHE_SECONDS = 300.0
#: At most this often, a token naming a version not held makes a warm function read again.
REREAD_SECONDS = 1.0
_MIN_LENGTH = 32


@dataclass(frozen=True)
class SigningKey:
    """One version of the secret: its Secrets Manager version id (the ``kid``) and value."""

    key_id: str
    secret: str = ""

    def __repr__(self) -> str:  # never print a secret by accident
        return f"SigningKey(key_id={self.key_id!r})"


@dataclass(frozen=True)
class SigningKeys:
    """The versions a token may be signed with: the current one, and the previous one."""

    current: SigningKey
    previous: SigningKey | None = None

    def by_key_id(self) -> dict[str, str]:
        """``{kid: secret}`` for verification, the current version first."""
        keys = {self.current.key_id: self.current.secret}
        if self.previous is not None:
            keys[self.previous.key_id] = self.previous.secret
        return keys


def _version(client: Any, secret_id: str, stage: str) -> SigningKey | None:
    try:
        answer = client.get_secret_value(SecretId=secret_id, VersionStage=stage)
    except client.exceptions.ResourceNotFoundException:
        if stage == "AWSCURRENT":
            raise
        return None  # never rotated: there is no previous version
    value = answer["SecretString"]
    if len(value) < _MIN_LENGTH:
        raise ConfigurationError(
            f"the token secret's {stage} version is shorter than {_MIN_LENGTH} characters: "
            "rotate it"
        )
    return SigningKey(answer["VersionId"], value)


def read_signing_keys(secret_id: str, *, client: Any = None) -> SigningKeys:
    """The secret's ``AWSCURRENT`` and ``AWSPREVIOUS`` versions, read now."""
    client = client or boto3.client("secretsmanager")
    current = _version(client, secret_id, "AWSCURRENT")
    assert current is not None
    return SigningKeys(current, _version(client, secret_id, "AWSPREVIOUS"))


_lock = threading.Lock()
_cache: dict[str, tuple[float, SigningKeys]] = {}


def signing_keys(
    secret_id: str,
    *,
    max_age: float = DEFAULT_CACHE_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    key_id: str | None = None,
) -> SigningKeys:
    """The secret's versions, read again once what this process holds is ``max_age`` old, or
    :data:`REREAD_SECONDS` old if it lacks ``key_id`` (the version a token names)."""
    with _lock:
        cached = _cache.get(secret_id)
    now = clock()
    if cached is not None:
        age, keys = now - cached[0], cached[1]
        held = key_id is None or key_id in keys.by_key_id()
        if age < (max_age if held else min(max_age, REREAD_SECONDS)):
            return keys
    keys = read_signing_keys(secret_id)
    with _lock:
        _cache[secret_id] = (now, keys)
    return keys


def read_token_secret(secret_id: str) -> str:
    """The secret's current value (cached as :func:`signing_keys` caches it)."""
    return signing_keys(secret_id).current.secret


def signing_keys_from_environment(
    environ: Mapping[str, str] = os.environ, *, key_id: str | None = None
) -> SigningKeys:
    """The versions of the secret the environment names, cached as :func:`signing_keys` says;
    ``key_id`` is the version the token at hand names, if any."""
    secret_id = environ.get(SECRET_VARIABLE)
    if not secret_id:
        raise ConfigurationError(
            f"{SECRET_VARIABLE} is not set: the function's environment must name the token secret"
        )
    try:
        max_age = float(environ.get(CACHE_VARIABLE) or DEFAULT_CACHE_SECONDS)
    except ValueError:
        raise ConfigurationError(f"{CACHE_VARIABLE} must be a number of seconds") from None
    return signing_keys(secret_id, max_age=max_age, key_id=key_id)
