"""Notebook 05's kick check passes the published solution and fails the plausible mistakes."""

from __future__ import annotations

import boto3
import pytest

from chatlib.course.nb05 import check_kick
from chatlib.deploy import CHAT_TEMPLATE, deploy_stack, teardown_stack
from chatlib.store import ConnectionStore


@pytest.fixture(scope="module")
def outputs(stack):
    name = "nb05-check"
    result = deploy_stack(
        CHAT_TEMPLATE, stack_name=name, parameters={"Step": "rooms"}, progress=lambda _: None
    )
    yield result.outputs
    teardown_stack(name, progress=lambda _: None)


def kick(user_id, table_name, callback_url):  # the notebook's published solution
    api = boto3.client("apigatewaymanagementapi", endpoint_url=callback_url)
    kicked = []
    for connection in ConnectionStore(table_name).user_connections(user_id):
        try:
            api.delete_connection(ConnectionId=connection.connection_id)
            kicked.append(connection.connection_id)
        except api.exceptions.GoneException:
            pass
    return kicked


def delete_rows_only(user_id, table_name, callback_url):
    store = ConnectionStore(table_name)
    ids = [connection.connection_id for connection in store.user_connections(user_id)]
    for connection_id in ids:
        store.delete(connection_id)
    return ids


def kick_first_only(user_id, table_name, callback_url):
    api = boto3.client("apigatewaymanagementapi", endpoint_url=callback_url)
    first = next(iter(ConnectionStore(table_name).user_connections(user_id)))
    api.delete_connection(ConnectionId=first.connection_id)
    return [first.connection_id]


def kick_everyone(user_id, table_name, callback_url):
    api = boto3.client("apigatewaymanagementapi", endpoint_url=callback_url)
    ids = [c.connection_id for c in ConnectionStore(table_name).all_connections()]
    for connection_id in ids:
        api.delete_connection(ConnectionId=connection_id)
    return ids


def unanswered(user_id, table_name, callback_url):
    raise NotImplementedError


def test_the_solution_is_correct(outputs):
    verdict = check_kick(kick, outputs)
    assert verdict.startswith("Correct!"), verdict


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (delete_rows_only, "sockets are still open"),
        (kick_first_only, "1 of the troll's 2 connections closed"),
        (kick_everyone, "bea was cut off too"),
        (lambda user_id, table, url: kick(user_id, table, url) and None, "return the ids"),
    ],
    ids=["rows only", "first connection only", "everyone", "returns nothing"],
)
def test_wrong_answers_are_not_correct_and_say_why(outputs, answer, hint):
    verdict = check_kick(answer, outputs)
    assert verdict.startswith("Not quite:") and hint in verdict, verdict
    assert not list(ConnectionStore(outputs["TableName"]).all_connections())  # left clean


def test_an_unanswered_exercise_says_so(outputs):
    assert check_kick(unanswered, outputs).startswith("Not answered yet")
