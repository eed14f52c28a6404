"""Tokens for a deployed stack, and the rotation of the secret that signs them, from outside it:
what an instructor or a login service runs.

The stack's auth step generates its signing secret in Secrets Manager and names it in the
``TokenSecretArn`` output. :func:`issue_token` reads its current version exactly as the
authorizer does (:func:`chatlib.token_secret.read_signing_keys`) and signs with it, naming
the version in the token's ``kid``. :func:`rotate_token_secret` puts a new generated value
as ``AWSCURRENT``; Secrets Manager labels the one it replaces ``AWSPREVIOUS``, so tokens
already issued keep working until the rotation after this one. Warm authorizers see the new
version within their cache time (``TOKEN_SECRET_CACHE_SECONDS``).

These live with the deploy code because finding the secret by stack name asks CloudFormation.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import boto3

from chatlib.deploy.stack import stack_outputs
from chatlib.errors import ConfigurationError
from chatlib.token_secret import read_signing_keys
from chatlib.tokens import mint_token

__all__ = ["issue_token", "rotate_token_secret"]

#: Length of a generated secret (the template generates the first one the same way).
SECRET_LENGTH = 64


def _secret_id(stack_name: str | None, secret_id: str | None) -> str:
    if secret_id is not None:
        return secret_id
    if stack_name is None:
        raise ValueError("name the stack (stack_name) or the secret (secret_id)")
    outputs = stack_outputs(stack_name)
    if "TokenSecretArn" not in outputs:
        raise ConfigurationError(
            f"stack {stack_name} has no TokenSecretArn output: deploy it with Step=auth"
        )
    return outputs["TokenSecretArn"]


def issue_token(
    *,
    user_id: str,
    rooms: Iterable[str],
    stack_name: str | None = None,
    secret_id: str | None = None,
    ttl_seconds: int = 3600,
) -> str:
    """A token for ``user_id`` and ``rooms``, signed with the deployed stack's current secret.

    Name the secret (``secret_id``) or the stack (``stack_name``: its ``TokenSecretArn``
    output).
    """
    current = read_signing_keys(_secret_id(stack_name, secret_id)).current
    return mint_token(
        current.secret,
        user_id=user_id,
        rooms=rooms,
        ttl_seconds=ttl_seconds,
        key_id=current.key_id,
    )


def rotate_token_secret(*, stack_name: str | None = None, secret_id: str | None = None) -> str:
    """Put a newly generated value as the secret's ``AWSCURRENT``; return its version id.

    Tokens signed with the version this replaces (now ``AWSPREVIOUS``) stay valid; those
    signed with the version before it stop working.
    """
    secret_id = _secret_id(stack_name, secret_id)
    secretsmanager = boto3.client("secretsmanager")
    value = secretsmanager.get_random_password(
        PasswordLength=SECRET_LENGTH, ExcludePunctuation=True
    )["RandomPassword"]
    return secretsmanager.put_secret_value(
        SecretId=secret_id,
        SecretString=value,
        ClientRequestToken=str(uuid.uuid4()),
        VersionStages=["AWSCURRENT"],
    )["VersionId"]
