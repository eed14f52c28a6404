"""A token minted just after a rotation works at once on a warm authorizer.

The authorizer keeps the secret's versions for ``TOKEN_SECRET_CACHE_SECONDS`` (300 s in the
template). Before this rule, a token signed with the new version (its ``kid`` names it) was
refused by every warm instance until its copy expired: up to five minutes after each rotation.
Now a token naming a version the instance does not hold makes it read the versions again, but
at most once a second, so that made-up ``kid`` values cannot turn handshakes into Secrets
Manager calls. Times come from an injected clock: nothing here waits.
"""

from __future__ import annotations

import pytest

from chatlib.deploy import rotate_token_secret
from chatlib.handlers.authorizer import named_key_id
from chatlib.token_secret import REREAD_SECONDS, signing_keys
from chatlib.tokens import mint_token

SECRET = "s" * 64


@pytest.fixture
def secret_arn(stored_secret):
    return stored_secret(SECRET)


def test_a_version_not_held_is_read_at_once_but_at_most_once_a_second(secret_arn, monkeypatch):
    import chatlib.token_secret as token_secret

    reads = []
    read = token_secret.read_signing_keys
    monkeypatch.setattr(token_secret, "read_signing_keys", lambda s: reads.append(s) or read(s))
    now = [1000.0]

    def keys(key_id=None):
        return signing_keys(secret_arn, max_age=300, clock=lambda: now[0], key_id=key_id)

    before = keys()
    new_version = rotate_token_secret(secret_id=secret_arn)
    now[0] += REREAD_SECONDS / 2
    assert keys(new_version) == before and len(reads) == 1  # read half a second ago: kept
    now[0] += REREAD_SECONDS / 2
    after = keys(new_version)
    assert after.current.key_id == new_version and after.previous == before.current
    assert len(reads) == 2
    # a version it holds, or no version named: the copy is kept for max_age, as before
    now[0] += 200
    assert keys(before.current.key_id) == after and keys() == after and len(reads) == 2
    # made-up versions, five within a second: one read, and the same versions come back
    assert all(keys(f"made-up-{n}") == after for n in range(5))
    assert len(reads) == 3
    now[0] += REREAD_SECONDS
    keys("made-up-again")
    assert len(reads) == 4


def test_the_authorizer_reads_the_kid_from_the_query_or_the_subprotocol_unverified():
    token = mint_token(SECRET, user_id="dave", rooms=["blue"], key_id="version-2")
    assert named_key_id({"queryStringParameters": {"token": token}}) == "version-2"
    offered = {"headers": {"Sec-WebSocket-Protocol": f"chat, {token}"}}
    assert named_key_id(offered) == "version-2"
    assert (
        named_key_id(
            {"queryStringParameters": {"token": mint_token(SECRET, user_id="dave", rooms=["blue"])}}
        )
        is None
    )
    assert named_key_id({"queryStringParameters": {"token": "not-a-jwt"}}) is None
    assert named_key_id({"queryStringParameters": {"token": "e" * 5000}}) is None
    assert named_key_id({}) is None
