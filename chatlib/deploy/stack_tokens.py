"""Tokens for a deployed stack, minted from outside it: what an instructor or a login service runs.

The stack's auth step generates its signing secret in Secrets Manager and names it in the
``TokenSecretArn`` output; this reads the secret exactly as the authorizer does
(:func:`chatlib.token_secret.read_token_secret`) and signs with :func:`chatlib.tokens.mint_token`.
It lives with the deploy code because finding the secret by stack name asks CloudFormation.
"""

from __future__ import annotations

from collections.abc import Iterable

from chatlib.deploy.stack import stack_outputs
from chatlib.errors import ConfigurationError
from chatlib.token_secret import read_token_secret
from chatlib.tokens import mint_token

__all__ = ["issue_token"]


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
    output).
    """
    if secret_id is None:
        if stack_name is None:
            raise ValueError("name the stack (stack_name) or the secret (secret_id)")
        outputs = stack_outputs(stack_name)
        if "TokenSecretArn" not in outputs:
            raise ConfigurationError(
                f"stack {stack_name} has no TokenSecretArn output: deploy it with Step=auth"
            )
        secret_id = outputs["TokenSecretArn"]
    return mint_token(
        read_token_secret(secret_id), user_id=user_id, rooms=rooms, ttl_seconds=ttl_seconds
    )
