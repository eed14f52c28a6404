"""The @connections stand-in answers as AWS does, so boto3 and the sender behave as on AWS."""

from __future__ import annotations

import boto3
import pytest

from chatlib import ConnectionGone, ConnectionsSender, ConnectionsStandIn, connections_endpoint
from chatlib.errors import ConnectionsApiError
from chatlib.limits import MAX_PAYLOAD_BYTES
from chatlib.sender import MAX_ATTEMPTS, backoff_delay, is_retryable


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


# -- retries, as botocore's standard mode retries ----------------------------------------------
@pytest.fixture
def waits() -> list[float]:
    """The backoff waits a sender asked for, instead of sleeping them."""
    return []


@pytest.fixture
def retrying(standin, embedded_aws, waits) -> ConnectionsSender:
    standin.open("c1")
    return ConnectionsSender(standin.url, sleep=waits.append)


@pytest.mark.parametrize("failures", [[429], [500], [503, 429], [502, 500]])
def test_throttling_and_server_errors_are_retried_until_delivered(
    standin, retrying, waits, failures
):
    standin.inject_errors(*failures)
    retrying.post("c1", b'"hello"')
    assert standin.frames("c1") == ["hello"]
    assert [status for _, _, status in standin.answers] == [*failures, 200]
    assert len(waits) == len(failures)
    assert all(0 <= wait <= 2**n for n, wait in enumerate(waits))  # jitter up to 1 s, 2 s


def test_attempts_are_bounded_and_the_last_error_is_reported(standin, retrying, waits):
    standin.inject_errors(429, 429, 429, 429)
    with pytest.raises(ConnectionsApiError) as caught:
        retrying.post("c1", b'"x"')
    assert (caught.value.status, caught.value.error_type) == (429, "LimitExceededException")
    assert len(standin.answers) == MAX_ATTEMPTS == 3 and len(waits) == 2
    assert standin.frames("c1") == []


@pytest.mark.parametrize(
    ("status", "error"),
    [(410, ConnectionGone), (403, ConnectionsApiError), (413, ConnectionsApiError)],
)
def test_gone_forbidden_and_too_large_are_never_retried(standin, retrying, waits, status, error):
    standin.inject_errors(status)
    with pytest.raises(error):
        retrying.post("c1", b'"x"')
    assert [answer[2] for answer in standin.answers] == [status] and waits == []


def test_the_backoff_doubles_with_full_jitter():
    assert [backoff_delay(n, rng=lambda: 1.0) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert backoff_delay(1, rng=lambda: 0.0) == 0.0
    assert backoff_delay(30, rng=lambda: 1.0) == 20.0  # capped, as botocore caps it
    assert [is_retryable(s) for s in (200, 403, 410, 413, 429, 500, 503)] == [
        False, False, False, False, True, True, True
    ]  # fmt: skip


def test_close_deletes_the_connection_and_a_gone_one_is_not_an_error(standin, retrying, waits):
    standin.inject_errors(503)
    retrying.close("c1")
    assert not standin.is_open("c1")
    retrying.close("c1")  # already gone: 410, swallowed
    assert [answer[2] for answer in standin.answers] == [503, 204, 410]


# -- one frame to many connections -------------------------------------------------------------
def test_post_to_all_reports_each_outcome_in_the_order_given(standin, embedded_aws):
    sender = ConnectionsSender(standin.url, max_in_flight=4)
    ids = [f"c{n}" for n in range(12)]
    for connection_id in ids[::2]:
        standin.open(connection_id)
    outcomes = sender.post_to_all(ids, b'"all"')
    assert list(outcomes) == ids
    assert [type(outcome).__name__ for outcome in outcomes.values()] == [
        "NoneType", "ConnectionGone"
    ] * 6  # fmt: skip
    assert all(standin.frames(connection_id) == ["all"] for connection_id in ids[::2])


def test_post_to_all_retries_the_throttled_posts_together(standin, retrying, waits):
    for connection_id in ("c2", "c3"):
        standin.open(connection_id)
    standin.inject_errors(429, 503)  # the first two posts to arrive, whichever they are
    outcomes = retrying.post_to_all(["c1", "c2", "c3"], b'"x"')
    assert outcomes == {"c1": None, "c2": None, "c3": None}
    assert len(waits) == 1  # one backoff for the round, not one per post
    assert sorted(status for _, _, status in standin.answers) == [200, 200, 200, 429, 503]
    assert [standin.frames(c) for c in ("c1", "c2", "c3")] == [["x"]] * 3


def test_post_to_all_never_raises_for_one_connection(embedded_aws):
    with ConnectionsStandIn() as standin:
        url = standin.url  # nothing listens there once the stand-in stops
    outcomes = ConnectionsSender(url, timeout=1).post_to_all(["a", "b"], b"x")
    assert all(isinstance(outcome, ConnectionRefusedError) for outcome in outcomes.values())
