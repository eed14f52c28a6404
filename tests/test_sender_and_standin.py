"""The @connections stand-in answers as AWS does, so boto3 and the sender behave as on AWS."""

from __future__ import annotations

import boto3
import pytest

from chatlib import ConnectionGone, ConnectionsSender, ConnectionsStandIn, connections_endpoint
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


def test_the_sender_turns_410_into_connection_gone(standin, embedded_aws):
    sender = ConnectionsSender(standin.url)
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


def test_the_sender_signs_its_posts_with_sigv4_for_execute_api(standin, embedded_aws):
    sender = ConnectionsSender(standin.url, region="eu-west-1")
    standin.open("c1")
    sender.post("c1", b'"signed"')
    authorization = standin.last_headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    assert "X-Amz-Date" in standin.last_headers


def test_the_sender_reports_other_refusals_with_their_type(standin, embedded_aws):
    from chatlib.sender import ConnectionsApiError

    sender = ConnectionsSender(standin.url)
    standin.open("c1")
    with pytest.raises(ConnectionsApiError) as caught:
        sender.post("c1", b"x" * (MAX_PAYLOAD_BYTES + 1))
    assert (caught.value.status, caught.value.error_type) == (413, "PayloadTooLargeException")


def test_the_sender_reconnects_when_a_kept_alive_connection_was_closed(embedded_aws):
    with ConnectionsStandIn(drop_idle_connections=True) as dropping:
        sender = ConnectionsSender(dropping.url)
        dropping.open("c1")
        for n in range(3):  # every post after the first finds its connection closed
            sender.post("c1", str(n).encode())
        assert dropping.frames("c1") == [0, 1, 2]


def test_a_sender_without_credentials_says_how_to_fix_it(monkeypatch):
    from chatlib.errors import ConfigurationError

    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ConfigurationError, match="credentials"):
        ConnectionsSender("http://127.0.0.1:1/dev")
