"""Every error chatlib raises on purpose, so callers can catch one base class.

    ChatlibError                  base; ``status`` is the HTTP status a handler answers with
    ├── BadRequest                400: the client sent something we cannot use
    │   ├── InvalidIdentifier     400: a room or user id is missing, too long or has bad characters
    │   └── MessageTooLarge       413: the outbound frame would exceed API Gateway's 128 KB limit
    ├── InvalidToken              401: a JWT is missing, malformed, forged, expired or not for us
    │   └── TokenExpired          401: the connection's token expired: the connection is closed
    ├── NotConnected              403: the caller has no (live) row in the connection table
    ├── ConnectionGone            410: ``@connections`` says the connection no longer exists
    ├── ConnectionsApiError       ``@connections`` refused a post otherwise (403, 413, 429, 5xx)
    ├── ConfigurationError        500: the function's environment is incomplete
    ├── TemplateError             a CloudFormation template the resolver cannot read (also a
    │                             ``ValueError``: a malformed argument)
    ├── DeployFailed              a stack did not reach CREATE_COMPLETE / UPDATE_COMPLETE
    └── CommandError              ``chatlib-local`` cannot go on: no local stack runs, an option
        │                         or a file is unusable
        └── AWSLost               ``serve``'s embedded AWS ended and could not be brought back

All of them live here, as moto keeps each service's errors in one ``exceptions.py``: the
Lambda code raises the first eight; :mod:`chatlib.deploy` the next two, :mod:`chatlib.tools`
the last (they ship in the
Lambda zip with the rest of this module, unused there). ``tests/test_layout.py`` checks that
every exception class chatlib defines is in this module and in the tree above.

Messages are written for the person who will read them: they say what was wrong and what to
do instead. They never contain a traceback or internal detail.
"""

from __future__ import annotations

__all__ = [
    "AWSLost",
    "BadRequest",
    "ChatlibError",
    "CommandError",
    "ConfigurationError",
    "ConnectionGone",
    "ConnectionsApiError",
    "DeployFailed",
    "InvalidIdentifier",
    "InvalidToken",
    "MessageTooLarge",
    "NotConnected",
    "TemplateError",
    "TokenExpired",
]


class ChatlibError(Exception):
    """Base class. ``code`` names the error in frames and logs; ``status`` is its HTTP status."""

    code = "ChatlibError"
    status = 500
    #: After the error frame, close the caller's connection (DELETE @connections).
    closes_connection = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ChatlibError):
    code = "BadRequest"
    status = 400


class InvalidIdentifier(BadRequest):
    code = "InvalidIdentifier"


class InvalidToken(ChatlibError):
    code = "InvalidToken"
    status = 401


class TokenExpired(InvalidToken):
    """The token a connection was opened with has expired: tell the client, then close it."""

    code = "TokenExpired"
    closes_connection = True


class MessageTooLarge(BadRequest):
    code = "MessageTooLarge"
    status = 413


class NotConnected(ChatlibError):
    code = "NotConnected"
    status = 403


class ConnectionGone(ChatlibError):
    """``@connections`` answered 410: the client is gone, so its row should be deleted."""

    code = "GoneException"
    status = 410

    def __init__(self, connection_id: str) -> None:
        super().__init__(f"connection {connection_id!r} is gone (410 from @connections)")
        self.connection_id = connection_id


class ConfigurationError(ChatlibError):
    code = "ConfigurationError"
    status = 500


class ConnectionsApiError(ChatlibError):
    """``@connections`` refused a post for a reason other than 410 (403, 413, 429, 5xx)."""

    code = "ConnectionsApiError"

    def __init__(self, connection_id: str, status: int, error_type: str) -> None:
        super().__init__(f"@connections answered {status} {error_type} for {connection_id!r}")
        self.connection_id = connection_id
        self.status = status
        self.error_type = error_type


class TemplateError(ChatlibError, ValueError):
    """The template uses something the resolver does not know, or is malformed."""

    code = "TemplateError"


class DeployFailed(ChatlibError):
    """The stack did not reach CREATE_COMPLETE / UPDATE_COMPLETE; the message says why."""

    code = "DeployFailed"

    def __init__(self, message: str, *, status: str = "", reasons: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.reasons = reasons


class CommandError(ChatlibError):
    """A ``chatlib-local`` command cannot go on; the message is the one line to print."""

    code = "CommandError"
    status = 400


class AWSLost(CommandError):
    """``chatlib-local serve``'s embedded AWS ended and could not be started again; the
    message is the one line ``serve`` prints before it stops with exit status 3."""

    code = "AWSLost"
