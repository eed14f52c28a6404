"""The @connections stand-in answers as AWS does, so boto3 and the sender behave as on AWS."""

from __future__ import annotations

import boto3
import pytest

from chatlib import ConnectionGone, ConnectionsSender, connections_endpoint
from chatlib.limits import MAX_PAYLOAD_BYTES


@pytest.fixture
def client(standin):
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=standin.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_a_post_reaches_an_open_connection(standin, client):
    standin.open("c1")
    client.post_to_connection(ConnectionId="c1", Data=b'{"hello": 1}')
    assert standin.frames("c1") == [{"hello": 1}]


def test_an_unknown_id_gets_a_modeled_gone_exception(client):
    with pytest.raises(client.exceptions.GoneException) as caught:
        client.post_to_connection(ConnectionId="nobody", Data=b"x")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_a_dropped_connection_is_gone(standin, client):
    standin.open("c1")
    standin.drop("c1")
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId="c1", Data=b"x")


def test_ids_with_url_special_characters_round_trip(standin, client):
    standin.open("L0SM-cO_vHcCIhw=")
    client.post_to_connection(ConnectionId="L0SM-cO_vHcCIhw=", Data=b"1")
    assert standin.frames("L0SM-cO_vHcCIhw=") == [1]


def test_posts_over_128_kb_get_413(standin, client):
    standin.open("c1")
    client.post_to_connection(ConnectionId="c1", Data=b"x" * MAX_PAYLOAD_BYTES)
    # botocore validates only minimums, so the oversized request reaches the server
    with pytest.raises(client.exceptions.PayloadTooLargeException):
        client.post_to_connection(ConnectionId="c1", Data=b"x" * (MAX_PAYLOAD_BYTES + 1))
    assert len(standin.frames("c1")) == 1


def test_get_connection_answers_in_camel_case(standin, client):
    standin.open("c1")
    info = client.get_connection(ConnectionId="c1")
    assert {"ConnectedAt", "Identity", "LastActiveAt"} <= set(info)
    assert info["Identity"]["SourceIp"] == "127.0.0.1"


def test_delete_connection_closes_it(standin, client):
    standin.open("c1")
    response = client.delete_connection(ConnectionId="c1")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert not standin.is_open("c1")
    with pytest.raises(client.exceptions.GoneException):
        client.delete_connection(ConnectionId="c1")


def test_the_sender_turns_410_into_connection_gone(standin, client):
    sender = ConnectionsSender(standin.url, client=client)
    standin.open("here")
    sender.post("here", b'"ok"')
    with pytest.raises(ConnectionGone) as caught:
        sender.post("gone-away", b'"lost"')
    assert caught.value.connection_id == "gone-away"
    assert caught.value.status == 410


def test_the_endpoint_comes_from_the_event_on_aws():
    endpoint = connections_endpoint("abc123.execute-api.eu-west-1.amazonaws.com", "prod", {})
    assert endpoint == "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"


def test_the_one_override_replaces_it_locally():
    environ = {"CHATLIB_CONNECTIONS_URL": "http://127.0.0.1:9999/dev/"}
    assert connections_endpoint("ignored", "ignored", environ) == "http://127.0.0.1:9999/dev"
