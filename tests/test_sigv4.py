"""chatlib.sigv4 writes the very Authorization header botocore's SigV4 signer writes."""

from __future__ import annotations

import datetime
import string
from unittest import mock
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from chatlib.sigv4 import RequestSigner, signed_host

# API Gateway's connection ids are base64 (``L0SM9cOFvHcCIhw=``); a few more characters
# check the path's double encoding. Pure-dot segments are left out: see chatlib.sigv4.
ids = st.text(string.ascii_letters + string.digits + "+/=-_~%é ", min_size=1, max_size=24)
endpoints = st.sampled_from(
    [
        ("https", "abc123.execute-api.eu-west-1.amazonaws.com", None, "/prod"),
        ("https", "abc123.execute-api.eu-west-1.amazonaws.com", 443, "/prod"),
        ("https", "chat.example.com", 8443, "/v1"),
        ("http", "127.0.0.1", 35003, "/rhvprsrl/dev"),
        ("http", "localhost", 80, "/dev"),
    ]
)
tokens = st.one_of(st.none(), st.text(string.ascii_letters + string.digits + "/+=", max_size=40))
times = st.integers(1_600_000_000, 2_200_000_000).map(float)  # 2020 to 2039, whole seconds


def botocore_headers(method, url, body, credentials, region, now):
    request = AWSRequest(method=method, url=url, data=body)
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
    return dict(request.headers)


@settings(max_examples=150, deadline=None)
@given(
    connection_id=ids,
    endpoint=endpoints,
    method=st.sampled_from(["POST", "DELETE", "GET"]),
    body=st.binary(max_size=64),
    token=tokens,
    region=st.sampled_from(["us-east-1", "eu-west-1", "ap-northeast-1"]),
    now=times,
)
def test_the_signature_is_botocores(connection_id, endpoint, method, body, token, region, now):
    scheme, host, port, stage = endpoint
    path = f"{stage}/@connections/{quote(connection_id, safe='')}"
    url = f"{scheme}://{host if port is None else f'{host}:{port}'}{path}"
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    expected = botocore_headers(method, url, body, credentials, region, now)
    mine = RequestSigner(credentials, region).headers(
        method, signed_host(scheme, host, port), path, body, now=now
    )
    assert mine == {k: v for k, v in expected.items() if k != "Content-Length"}


class RotatingCredentials:
    """Like a role's credentials: the frozen copy changes when they refresh."""

    def __init__(self, secret: str) -> None:
        self.current = Credentials("AKID", secret)

    def get_frozen_credentials(self):
        return self.current.get_frozen_credentials()


def test_the_key_of_the_day_is_rederived_when_the_day_or_the_secret_changes():
    credentials = RotatingCredentials("first-secret")
    signer = RequestSigner(credentials, "us-east-1")
    path, host = "/dev/@connections/abc%3D", "127.0.0.1:9"
    url = f"http://{host}{path}"
    day_one, day_two = 1_800_000_000.0, 1_800_000_000.0 + 86_400
    for now in (day_one, day_two, day_one):
        expected = botocore_headers("POST", url, b"x", credentials, "us-east-1", now)
        assert signer.headers("POST", host, path, b"x", now=now) == expected
    credentials.current = Credentials("AKID", "second-secret")
    expected = botocore_headers("POST", url, b"x", credentials, "us-east-1", day_one)
    assert signer.headers("POST", host, path, b"x", now=day_one) == expected


def test_the_signed_host_names_the_port_only_when_it_is_not_the_default():
    assert signed_host("https", "a.example", None) == "a.example"
    assert signed_host("https", "a.example", 443) == "a.example"
    assert signed_host("http", "a.example", 80) == "a.example"
    assert signed_host("http", "a.example", 443) == "a.example:443"
    assert signed_host("http", "127.0.0.1", 35003) == "127.0.0.1:35003"
