"""Lambda entry points, one module per route, each exposing ``handler(event, context)``.

    | route           | module                              | teaching step          |
    |-----------------|-------------------------------------|------------------------|
    | ``$connect``    | :mod:`chatlib.handlers.connect`     | all                    |
    | ``$disconnect`` | :mod:`chatlib.handlers.disconnect`  | all                    |
    | ``$default``    | :mod:`chatlib.handlers.default`     | all                    |
    | ``sendmessage`` | :mod:`chatlib.handlers.broadcast`   | 1: everyone (Scan)     |
    | ``sendmessage`` | :mod:`chatlib.handlers.room`        | 2: the room (GSI Query)|

Every handler is thin: it wraps the event, calls one function of chat logic, and lets
:func:`chatlib.handlers.invocation.run` turn the outcome or error into a response and a log
line. Only the standard library and boto3 are imported, as Lambda's Python runtime provides.
"""
