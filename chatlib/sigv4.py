"""Signature Version 4 for ``@connections`` requests, with the standard library only.

A fan-out signs one request per member of the room: hundreds per message in a big room.
botocore's general signer spends about 65 µs on each (it parses the URL three times and keeps
headers in an ``email.message`` object); for the one shape of request the sender makes, the
algorithm is a few string joins, two SHA-256 digests and one HMAC, about 7 µs
(``docs/performance.md``). The result is the very header botocore writes:
``tests/test_sigv4.py`` compares the two on generated requests, session tokens and ports
included.

What is signed (AWS's "Create a signed AWS API request",
https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html):

    canonical request   METHOD \\n path (URI-encoded again) \\n "" (no query string) \\n
                        host, x-amz-date [, x-amz-security-token] \\n their names \\n SHA-256(body)
    string to sign      AWS4-HMAC-SHA256 \\n time \\n day/region/service/aws4_request \\n
                        SHA-256(canonical request)
    signature           HMAC(key of the day, string to sign), the key derived from the secret
                        by four HMACs (kept for the day: it changes only with day or secret)

Paths are the sender's own (``/{stage}/@connections/{id}`` with the id percent-encoded):
no dot segments, no query string. Anything else should go through botocore.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote

__all__ = ["RequestSigner", "signed_host"]

_ALGORITHM = "AWS4-HMAC-SHA256"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def signed_host(scheme: str, hostname: str, port: int | None) -> str:
    """The ``host`` value that is signed: the port only when it is not the scheme's default
    (what ``http.client`` sends as ``Host`` too)."""
    if port is None or _DEFAULT_PORTS.get(scheme) == port:
        return hostname
    return f"{hostname}:{port}"


class RequestSigner:
    """Sign requests for one service in one region with ``credentials``.

    ``credentials`` is botocore's (``session.get_credentials()``): its frozen copy is read on
    every request, so credentials that refresh (a role's) stay current.
    """

    def __init__(self, credentials: Any, region: str, service: str = "execute-api") -> None:
        self._credentials = credentials
        self._region = region
        self._service = service
        # (day, secret, key), replaced as one object: threads of a fan-out share the signer
        self._day_key: tuple[str, str, bytes] = ("", "", b"")

    def headers(
        self, method: str, host: str, path: str, body: bytes, *, now: float | None = None
    ) -> dict[str, str]:
        """The headers to add to the request: ``X-Amz-Date``, ``Authorization`` and, with a
        session token, ``X-Amz-Security-Token``. ``host`` is :func:`signed_host`'s."""
        credentials = self._credentials.get_frozen_credentials()
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        day = amz_date[:8]
        signed = {"host": host, "x-amz-date": amz_date}
        if credentials.token:
            signed["x-amz-security-token"] = credentials.token
        names = sorted(signed)
        signed_names = ";".join(names)
        canonical_request = "\n".join(
            [
                method,
                quote(path, safe="/~"),
                "",
                *(f"{name}:{signed[name]}" for name in names),
                "",
                signed_names,
                hashlib.sha256(body).hexdigest(),
            ]
        )
        scope = f"{day}/{self._region}/{self._service}/aws4_request"
        string_to_sign = "\n".join(
            [_ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
        )
        key = self._signing_key(day, credentials.secret_key)
        signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        headers = {
            "X-Amz-Date": amz_date,
            "Authorization": f"{_ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed_names}, Signature={signature}",
        }
        if credentials.token:
            headers["X-Amz-Security-Token"] = credentials.token
        return headers

    def _signing_key(self, day: str, secret: str) -> bytes:
        known_day, known_secret, key = self._day_key
        if (known_day, known_secret) != (day, secret):
            key = hmac.digest(f"AWS4{secret}".encode(), day.encode(), "sha256")
            for part in (self._region, self._service, "aws4_request"):
                key = hmac.digest(key, part.encode(), "sha256")
            self._day_key = (day, secret, key)
        return key
