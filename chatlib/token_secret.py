"""The token-signing secret, read from AWS Secrets Manager once per Lambda cold start.

The template creates the secret with a generated value and passes its ARN to the functions
that need it (``TOKEN_SECRET_ID``); the value never appears in code, in the template's text or
in a function's environment. Reading it costs a network call, so a warm function keeps it.

Minting a token for a deployed stack, from outside it, is :func:`chatlib.deploy.issue_token`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

import boto3

from chatlib.errors import ConfigurationError

__all__ = ["SECRET_VARIABLE", "read_token_secret", "token_secret_from_environment"]

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
