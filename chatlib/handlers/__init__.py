"""Lambda entry points, one module per function, each exposing ``handler(event, context)``.

    | route / role    | module                                    | teaching step            |
    |-----------------|-------------------------------------------|--------------------------|
    | ``$connect``    | :mod:`chatlib.handlers.connect`           | 1 and 2 (room from query)|
    | ``$connect``    | :mod:`chatlib.handlers.connect_verified`  | 3 (room from the token)  |
    | authorizer      | :mod:`chatlib.handlers.authorizer`        | 3: REQUEST authorizer    |
    | ``$disconnect`` | :mod:`chatlib.handlers.disconnect`        | all                      |
    | ``$default``    | :mod:`chatlib.handlers.default`           | all                      |
    | ``sendmessage`` | :mod:`chatlib.handlers.broadcast`         | 1: everyone (Scan)       |
    | ``sendmessage`` | :mod:`chatlib.handlers.room`              | 2 and 3: the room (Query)|
    | SQS fan-out     | :mod:`chatlib.handlers.fanout_worker`     | ``FanOut=sharded``: pages|

``infra_cfn/chat.yaml`` names these; ``tests/test_lambda_package.py`` imports every handler it
names from the built zip. Every handler is thin: it wraps the event, calls one function of
chat logic, and lets :func:`chatlib.handlers.invocation.run` turn the outcome or error into a
response and a log line (:mod:`.sending` is the send path the two ``sendmessage`` handlers
share; :mod:`.page_queue` the queue its sharded fan-out hands pages to; the worker, invoked
by SQS rather than a route, logs its own line the same way). What they import is what the
Lambda zip holds: the standard library, boto3 (Lambda's Python runtime has both), chatlib's
root modules and PyJWT (for the token-reading two).
"""
