"""The token-signing secret, read from AWS Secrets Manager once per Lambda cold start.

The template creates the secret with a generated value and passes its ARN to the functions
that need it (``TOKEN_SECRET_ID``); the value never appears in code, in the template's text or
in a function's environment. Reading it costs a network call, so a warm function keeps it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from functools import lru_cache

import boto3

from chatlib.errors import ConfigurationError
from chatlib.tokens import mint_token

__all__ = [
    "SECRET_VARIABLE",
    "issue_token",
    "read_token_secret",
    "token_secret_from_environment",
]

#: The function's environment names the secret (its ARN or name) here.
SECRET_VARIABLE = "TOKEN_SECRET_ID"


@lru_cache(maxsize=4)
def read_token_secret(secret_id: str) -> str:
    """The secret's value; cached, so a warm Lambda asks Secrets Manager only once."""
    value = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    if len(value) < 32:
        raise ConfigurationError("the token secret is shorter than 32 characters: regenerate it")
    return value


def token_secret_from_environment(environ: Mapping[str, str] = os.environ) -> str:
    secret_id = environ.get(SECRET_VARIABLE)
    if not secret_id:
        raise ConfigurationError(
            f"{SECRET_VARIABLE} is not set: the function's environment must name the token secret"
        )
    return read_token_secret(secret_id)


def issue_token(
    *,
    user_id: str,
    rooms: Iterable[str],
    stack_name: str | None = None,
    secret_id: str | None = None,
    ttl_seconds: int = 3600,
) -> str:
    """A token for ``user_id`` and ``rooms``, signed with the deployed stack's secret.

    Name the secret (``secret_id``) or the stack (``stack_name``: its ``TokenSecretArn``
    output). This is what an instructor (or a login service) runs; the secret is read from
    Secrets Manager, exactly as the authorizer reads it.
    """
    if secret_id is None:
        if stack_name is None:
            raise ValueError("name the stack (stack_name) or the secret (secret_id)")
        from chatlib.deploy import stack_outputs  # laptop-only: not in the Lambda package

        outputs = stack_outputs(stack_name)
        if "TokenSecretArn" not in outputs:
            raise ConfigurationError(
                f"stack {stack_name} has no TokenSecretArn output: deploy it with Step=auth"
            )
        secret_id = outputs["TokenSecretArn"]
    return mint_token(
        read_token_secret(secret_id), user_id=user_id, rooms=rooms, ttl_seconds=ttl_seconds
    )
