"""Shared fixtures: one moto server over HTTP for the session, a fresh table per test."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from chatlib import (
    ConnectionsStandIn,
    ConnectionStore,
    EventFactory,
    create_connection_table,
    start_embedded_aws,
)
from chatlib.handlers.invocation import TABLE_VARIABLE
from chatlib.sender import ENDPOINT_OVERRIDE_VARIABLE

EVENTS = Path(__file__).parent / "events"
_table_numbers = itertools.count()


def load_event(name: str) -> dict[str, Any]:
    """A real-shaped API Gateway event from ``tests/events/``."""
    return json.loads((EVENTS / f"{name}.json").read_text())


@pytest.fixture(scope="session")
def embedded_aws():
    aws = start_embedded_aws()
    yield aws
    aws.stop()


@pytest.fixture(scope="session")
def stack(embedded_aws):
    """The embedded AWS plus the local gateway, shared by every end-to-end test."""
    from chatlib.local.gateway.stack import start_local_stack

    stack = start_local_stack()
    yield stack
    stack.stop()


@pytest.fixture
def stored_secret(embedded_aws) -> Iterator[Callable[[str], str]]:
    """Puts a value in Secrets Manager as a new secret and returns its ARN; every secret made
    is deleted after the test."""
    secrets = boto3.client("secretsmanager")
    made: list[str] = []

    def store(value: str) -> str:
        made.append(
            secrets.create_secret(Name=f"test-{uuid.uuid4().hex}", SecretString=value)["ARN"]
        )
        return made[-1]

    yield store
    for arn in made:
        secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


@pytest.fixture
def dynamodb(embedded_aws):
    return boto3.client("dynamodb")


@pytest.fixture
def table_name(dynamodb) -> str:
    name = f"connections-{next(_table_numbers)}"
    create_connection_table(name, client=dynamodb)
    return name


@pytest.fixture
def store(table_name, dynamodb) -> ConnectionStore:
    return ConnectionStore(table_name, client=dynamodb)


@pytest.fixture
def standin() -> Iterator[ConnectionsStandIn]:
    with ConnectionsStandIn() as server:
        yield server


@pytest.fixture
def events() -> EventFactory:
    return EventFactory(seed=7)


@pytest.fixture
def handler_env(monkeypatch, table_name, standin) -> None:
    """The environment a deployed function would have, pointed at moto and the stand-in."""
    monkeypatch.setenv(TABLE_VARIABLE, table_name)
    monkeypatch.setenv(ENDPOINT_OVERRIDE_VARIABLE, standin.url)
