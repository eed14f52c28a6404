"""moto's server, made quicker where a chat message pays on every call, its answers unchanged.

    python -m chatlib.local.moto_server -H 127.0.0.1 -p 5000 --exit-with-stdin  # what serve runs

Every message a learner sends costs a GetItem and a Query in moto, and in a big room the
Query returns hundreds of items. moto is written for correctness, not speed; measured in the
chat (``docs/performance.md``), five of its habits cost more than the work itself:

1. **Its generic serializer.** moto 5.2 writes every response through a model-driven
   serializer that walks each attribute of each item; for a 200-member room that took about
   20 ms. DynamoDB's JSON protocol needs no such walk: moto already holds a read's result as
   AWS-shaped JSON, so :func:`install` writes ``Query``, ``Scan`` and ``GetItem`` results with
   ``json.dumps`` (errors and every other operation keep the serializer;
   ``tests/test_moto_server.py`` reads back every attribute type).
2. **Handling strings as if they might be anything.** Sorting and matching keys compare
   ``DynamoType`` objects, and each comparison first works out the value's Python form with
   five type checks; a projection turns the whole item into Python values and back. Two
   strings (every key in this chat) now compare directly, and a projection of top-level
   strings picks them: the same answers, a room Query of 10 items 1.8 -> 1.1 ms in moto.
   And the filter every chat read sends is cut into tokens once, not twice per Query
   (another 1.0 -> 0.9 ms; for 200 items 6.4 -> 5.6 ms with the projection built directly).
3. **Looking up, on every request, what never changes**: which backend a host name belongs to
   (a walk over every service's URL patterns) and which methods a response class has
   (``inspect.getmembers``). Both are remembered after their first answer.
4. **Copying what it is about to throw away.** A Query deep-copies every item it read before
   projecting it, and sizes each item twice for the 1 MB page limit; the chat's room Query
   keeps one string of each. :mod:`.moto_patches_query` copies only what is answered whole
   and sizes each item once: a room of 1,000, 20 -> 7 ms in moto.
5. **A new connection and a new thread per request.** werkzeug's development server closes
   every connection after one answer. :func:`main` serves moto's own WSGI application with
   waitress instead, which keeps connections alive and answers from a pool of threads.

And the collector. moto keeps everything it is told (tables, stacks, every log line the
functions print) as Python objects, and a full collection walks all of them: 120-145 ms, with
whatever request is in flight waiting. Deploying a stack also leaves hundreds of thousands of
short-lived objects behind (botocore's service models, parsed templates), and CPython's own
schedule ran full collections of 100-240 ms over them while the chat had started. So in
moto's process :func:`keep_frozen` owns full collections: CPython's automatic ones stop at
the middle generation (young garbage is still collected as usual), and a thread collects
everything when moto has been quiet for a moment (no request in flight for 20 ms), then
freezes the survivors (``gc.freeze``), so the next walk covers only what is new since.

The functions, which are the code that ships to Lambda, are not touched by any of this.

These patches reach into moto's internals, which any moto release may change. So each one
(:data:`PATCHES`) names what it replaces and carries a fingerprint of that source as it was
checked (:func:`fingerprint` says why the source); :func:`install` applies only the patches
whose fingerprint matches and prints one line naming the others and what plain moto costs
without them. A class that installs a moto nobody checked still gets a working chat.

One patch is not about speed: moto's SQS invokes a mapped function inline on every
``SendMessage`` (in Docker, so here it fails and the message comes back already received);
on AWS, Lambda polls the queue, and so does the local runtime. :mod:`.moto_patches_sqs` keeps
the messages for that poller.

One addition replaces nothing: :data:`FUNCTION_CODE_PATH`, an emulator-only route that
hands out a function's deployment package. On AWS, ``GetFunction`` answers with
``Code.Location``, a presigned URL from which the zip can be downloaded; moto gives no such
URL (none for a ``ZipFile`` function, an unreachable one for S3 code) though it keeps the
bytes. The local Lambda runtime reads the zip from here (:mod:`chatlib.local.gateway.
function_code`) so that it runs the code a function was created with, as Lambda does.

Why this size: each patch sits beside the fingerprint of what it replaces and the line that
says what is lost without it, so a maintainer reviewing a new moto release reads them
together; a patch that needs a module's worth of code of its own is in a ``moto_patches_*``
module, its entry here; what only concerns starting moto's process is in :mod:`.moto_startup`.
"""

from __future__ import annotations

import argparse
import base64
import functools
import gc
import hashlib
import importlib
import importlib.metadata
import inspect
import json
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chatlib.local.moto_patches_query import query_without_copies
from chatlib.local.moto_patches_sqs import keep_messages_for_the_poller
from chatlib.local.moto_startup import exit_with_parent, trim_imports, warm_up

__all__ = [
    "FAST_OPERATIONS",
    "FUNCTION_CODE_PATH",
    "FREEZE_AT_THE_LATEST_SECONDS",
    "FREEZE_EVERY_SECONDS",
    "PATCHES",
    "Patch",
    "QUIET_SECONDS",
    "RequestActivity",
    "SERVER_THREADS",
    "fingerprint",
    "install",
    "keep_frozen",
    "main",
    "unexpected",
]

#: A full collection (then freezing) at most this often...
FREEZE_EVERY_SECONDS = 1.0
#: ...once no request has been in flight for this long...
QUIET_SECONDS = 0.02
#: ...or after this long without one, quiet or not.
FREEZE_AT_THE_LATEST_SECONDS = 10.0

#: The read operations answered by ``json.dumps`` instead of moto's serializer.
FAST_OPERATIONS = frozenset({"Query", "Scan", "GetItem"})

#: The emulator-only route that answers a function's zip: ``GET …?FunctionName=<arn>``
#: (under ``/moto-api/``, moto's own prefix for what no AWS service has).
FUNCTION_CODE_PATH = "/moto-api/chatlib/function-code"

#: Requests moto answers at once (a deploy's CloudFormation calls and the chat's reads).
SERVER_THREADS = 8

_installed = False


def _binary_as_base64(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def install() -> None:
    """Patch moto in this process (idempotent); call before the server handles requests.

    Each patch in :data:`PATCHES` is applied only if what it replaces is the moto source it
    was written against (:func:`unexpected`); the others are left out, and one line on
    stderr says which and what that costs. Left out, moto answers as shipped: slower, never
    wrong."""
    global _installed
    if _installed:
        return
    skipped = [patch for patch in PATCHES if unexpected(patch) is not None]
    for patch in PATCHES:
        if patch not in skipped:
            patch.apply()
    _serve_function_code()
    _installed = True
    if skipped:
        print(skipped_line(skipped), file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Patch:
    """One change to moto, and the moto it was written against.

    ``replaces`` names (``module:Qualified.name``) what the patch replaces or relies on;
    ``checked`` holds the :func:`fingerprint` of their source in each moto release the patch
    was checked against (a maintainer who reviews the patch against a new release adds its
    fingerprint; ``tests/test_moto_patches.py`` fails until they do). ``loses`` says, for a
    learner, what plain moto costs without it.
    """

    name: str
    replaces: tuple[str, ...]
    checked: frozenset[str]
    loses: str
    apply: Callable[[], None]
    #: ``False`` for a patch whose absence changes what moto does, not only how fast
    speed_only: bool = True


def fingerprint(replaces: tuple[str, ...]) -> str:
    """The SHA-256 of the source text of everything ``replaces`` names (first 16 hex digits).

    Why the source, and not moto's version number or the code's bytecode or signature:

    * a version number says nothing about a stand-in, a vendored copy or a patched build;
      the source is what the patch was written against, whatever the package calls itself;
    * bytecode differs between Python 3.11, 3.12 and 3.13 for the same moto, and a
      signature misses a changed body (what ``cast_value`` returns for a string, say);
    * a release that changes only a comment in a fingerprinted function costs speed (plain
      moto, until a maintainer adds its fingerprint), never a wrong answer: the safe side.

    ``LookupError`` when a name no longer exists or its source cannot be read.
    """
    digest = hashlib.sha256()
    for name in replaces:
        module_name, _, qualified = name.partition(":")
        try:
            found: Any = importlib.import_module(module_name)
            for part in qualified.split("."):
                found = getattr(found, part)
            if isinstance(found, property):
                found = found.fget
            source = inspect.getsource(found)
        except (ImportError, AttributeError) as missing:
            raise LookupError(f"moto has no {name}") from missing
        except (OSError, TypeError) as unreadable:
            raise LookupError(f"the source of {name} cannot be read") from unreadable
        digest.update(source.encode() + b"\0")
    return digest.hexdigest()[:16]


def unexpected(patch: Patch) -> str | None:
    """Why ``patch`` must not be applied to the moto installed here, or ``None``. Call it
    before :func:`install` (after, it sees chatlib's own replacements)."""
    try:
        found = fingerprint(patch.replaces)
    except LookupError as reason:
        return str(reason)
    if found not in patch.checked:
        return f"moto's source differs (fingerprint {found}, checked: {sorted(patch.checked)})"
    return None


def skipped_line(skipped: list[Patch]) -> str:
    """The one line that says which patches were left out, and what the learner loses."""
    try:
        version = f"moto {importlib.metadata.version('moto')}"
    except importlib.metadata.PackageNotFoundError:
        version = "this moto"
    losses = "; ".join(f"{patch.name} ({patch.loses})" for patch in skipped)
    line = (
        f"chatlib: {version} is not the moto these patches were checked against, so moto "
        f"runs as shipped without: {losses}."
    )
    if all(patch.speed_only for patch in skipped):
        return f"{line} Answers are the same; the chat is slower."
    return line


def _write_reads_with_json_dumps() -> None:
    from moto.dynamodb.responses import DynamoResult

    generic = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name not in FAST_OPERATIONS or not isinstance(self.result, dict):
            return generic(self, context)
        service = context.service_model
        content_type = f"application/x-amz-json-{service.metadata.get('jsonVersion', '1.0')}"
        body = json.dumps(self.result, default=_binary_as_base64, separators=(",", ":"))
        return 200, {"Content-Type": content_type}, body

    DynamoResult.execute_result = execute_result


def _compare_strings_directly() -> None:
    """``DynamoType`` comparisons of two strings, without ``cast_value`` (whose answer for a
    string is the string itself); every other pair goes the way moto compares it."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    less, equal, unequal = DynamoType.__lt__, DynamoType.__eq__, DynamoType.__ne__

    def __lt__(self: Any, other: Any) -> bool:
        if self.type == "S" and other.type == "S":
            return self.value < other.value
        return less(self, other)

    def __eq__(self: Any, other: Any) -> bool:
        if self.type == "S" and other.type == "S":
            return self.value == other.value
        return equal(self, other)

    def __ne__(self: Any, other: Any) -> bool:
        if self.type == "S" and other.type == "S":
            return self.value != other.value
        return unequal(self, other)

    hash_ = DynamoType.__hash__  # kept: a class that defines __eq__ loses it otherwise
    DynamoType.__lt__, DynamoType.__eq__, DynamoType.__ne__ = __lt__, __eq__, __ne__
    DynamoType.__hash__ = hash_


def _project_strings_directly() -> None:
    """``ProjectionExpression`` of top-level string attributes (the room Query's
    ``connectionId``) picks them from the item. moto turns the whole item into Python values
    and back for every projected path; for a string that round trip is the identity."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    generic = Item.project

    def project(self: Any, projection_expressions: list[list[str]]) -> Any:
        names = [path[0] for path in projection_expressions if len(path) == 1]
        if len(names) != len(projection_expressions) or any(
            name in self.attrs and self.attrs[name].type != "S" for name in names
        ):
            return generic(self, projection_expressions)
        # A part of an item that was stored is within the size limit: no need to check it
        # again attribute by attribute (moto's own Item.__deepcopy__ skips it too).
        picked = LimitedSizeDict.__new__(LimitedSizeDict)
        for name in names:
            if name in self.attrs:
                dict.__setitem__(picked, name, DynamoType({"S": self.attrs[name].value}))
        # object.__new__: moto's models keep every instance made through their __new__ (for
        # its dashboard), and a projection only lives as long as its answer
        projected = object.__new__(Item)
        projected.hash_key, projected.range_key = self.hash_key, self.range_key
        projected.attrs = picked
        return projected

    Item.project = project


def _lex_each_expression_once() -> None:
    """A condition or filter expression is cut into tokens once per distinct text. moto cuts
    the text again for every parse, trying six regular expressions at each token, and a
    Query parses its filter twice; the chat sends the same filter with every message. Only
    the tokens are remembered (they depend on the text alone); names and values are looked
    up afresh on every parse, and an expression that does not lex raises as before."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    generic = ConditionExpressionParser._lex_condition_expression

    @functools.lru_cache(maxsize=512)
    def tokens(expression: str) -> tuple[Any, ...]:
        parser = ConditionExpressionParser.__new__(ConditionExpressionParser)
        parser.condition_expression = expression
        return tuple(generic(parser))

    def lex(self: Any) -> Any:
        # fresh nodes with fresh (empty) child lists, so no parse can change another's
        return deque(node._replace(children=[]) for node in tokens(self.condition_expression))

    ConditionExpressionParser._lex_condition_expression = lex


def _remember_method_names() -> None:
    """Which methods a response class has: its class body, fixed at import."""
    import moto.core.responses as responses

    responses.method_names_from_class = functools.cache(responses.method_names_from_class)


def _remember_backends() -> None:
    """Which backend serves a host name: a fixed table of URL patterns, walked per request."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    backend_for = DomainDispatcherApplication.get_backend_for_host

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        known = self.__dict__.setdefault("_chatlib_backends", {})
        if host not in known:
            known[host] = backend_for(self, host)
        return known[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host


_DYNAMO_TYPE = "moto.dynamodb.models.dynamo_type"
_PARSER = "moto.dynamodb.comparisons:ConditionExpressionParser"

#: The patches :func:`install` applies, each with the source it was checked against
#: (moto 5.2.5, the version in the lock: ``[tool.workbook] lock`` in ``pyproject.toml``).
PATCHES: tuple[Patch, ...] = (
    Patch(
        "DynamoDB reads as JSON",
        (
            "moto.dynamodb.responses:DynamoResult",
            "moto.dynamodb.responses:DynamoResult.execute_result",
        ),
        frozenset({"d5479777bf2dcf82"}),
        "each Query walks moto's serializer, about 20 ms for a 200-member room",
        _write_reads_with_json_dumps,
    ),
    Patch(
        "string comparisons",
        tuple(
            f"{_DYNAMO_TYPE}:DynamoType.{name}"
            for name in ("__init__", "__lt__", "__eq__", "__ne__", "cast_value")
        ),
        frozenset({"c83b5e05c6b913c1"}),
        "sorting keys converts every string first",
        _compare_strings_directly,
    ),
    Patch(
        "string projections",
        (
            f"{_DYNAMO_TYPE}:Item.__init__",
            f"{_DYNAMO_TYPE}:Item.project",
            f"{_DYNAMO_TYPE}:LimitedSizeDict",
        ),
        frozenset({"faf7c0d25048865f"}),
        "a projected read rebuilds the whole item",
        _project_strings_directly,
    ),
    Patch(
        "filters lexed once",
        (f"{_PARSER}.__init__", f"{_PARSER}._lex_condition_expression"),
        frozenset({"eeda50f6a4ec6a6a"}),
        "each message's filter is lexed twice",
        _lex_each_expression_once,
    ),
    Patch(
        "method names remembered",
        ("moto.core.responses:method_names_from_class",),
        frozenset({"bff539a619627bed"}),
        "each request lists its handler's methods again",
        _remember_method_names,
    ),
    Patch(
        "backends remembered",
        ("moto.moto_server.werkzeug_app:DomainDispatcherApplication.get_backend_for_host",),
        frozenset({"4d3a332d233468be"}),
        "each request walks every service's URL patterns",
        _remember_backends,
    ),
    Patch(
        "Query without copies",
        (
            "moto.dynamodb.models.table:Table.query",
            "moto.dynamodb.models.table:SecondaryIndex.project",
            f"{_DYNAMO_TYPE}:Item.project",
            f"{_DYNAMO_TYPE}:Item.size",
            f"{_DYNAMO_TYPE}:DynamoType.size",
            "moto.dynamodb.models.utilities:bytesize",
            f"{_DYNAMO_TYPE}:Item.__deepcopy__",
            f"{_DYNAMO_TYPE}:DynamoType.__deepcopy__",
        ),
        frozenset({"b3f0c42c5695ee50"}),
        "each Query deep-copies and sizes every item it reads, about 13 ms for a room of 1,000",
        query_without_copies,
    ),
    Patch(
        "SQS leaves messages to the poller",
        ("moto.sqs.models:Queue.add_message",),
        frozenset({"4f5156fc2b670551"}),
        "each message sent to a queue with an event source mapping is received at once by "
        "moto's own attempt to run the function in Docker, which fails here, so it is "
        "received once more than it was handled and reaches a dead-letter queue a receive early",
        keep_messages_for_the_poller,
        speed_only=False,
    ),
)


def _serve_function_code() -> None:
    """Add :data:`FUNCTION_CODE_PATH` to moto's own API (``/moto-api/…``): the zip moto keeps
    for a function (given as ``ZipFile`` or read from S3 when it was created or updated), with
    its ``CodeSha256`` in a header.

    Not one of :data:`PATCHES`: it replaces nothing, and there is no plain-moto way to run a
    function's code without it, so it is always added (the local runtime reads every
    function's zip through it: ``tests/test_runtime_runs_the_zip.py``)."""
    from urllib.parse import parse_qs, urlsplit

    from moto.awslambda.models import lambda_backends
    from moto.moto_api._internal import urls

    def function_code(request: Any, full_url: str, headers: Any) -> Any:
        names = parse_qs(urlsplit(full_url).query).get("FunctionName", [])
        arn = names[0] if names else ""
        parts = arn.split(":")
        if len(parts) < 7 or parts[2] != "lambda" or parts[5] != "function":
            message = "FunctionName must be a function ARN (arn:aws:lambda:…:function:name)"
            return 400, {"Content-Type": "application/json"}, json.dumps({"message": message})
        region, account, name = parts[3], parts[4], parts[6]
        try:
            function = lambda_backends[account][region].get_function(name)
        except Exception:  # moto's UnknownFunctionException and its kin
            message = f"Function not found: {arn}"
            return 404, {"Content-Type": "application/json"}, json.dumps({"message": message})
        return (
            200,
            {"Content-Type": "application/zip", "X-Code-Sha256": function.code_sha_256},
            function.code_bytes,
        )

    urls.url_paths["{0}" + FUNCTION_CODE_PATH + "$"] = function_code


class RequestActivity:
    """WSGI middleware that knows whether a request is in flight, and since when not."""

    def __init__(self, application: Any) -> None:
        self._application = application
        self._lock = threading.Lock()
        self._in_flight = 0
        self._quiet_since = time.monotonic()

    def __call__(self, environ: Any, start_response: Any) -> Any:
        with self._lock:
            self._in_flight += 1
        try:
            return self._application(environ, start_response)
        finally:
            with self._lock:
                self._in_flight -= 1
                self._quiet_since = time.monotonic()

    def quiet_for(self) -> float:
        """Seconds without a request in flight (0 while one is)."""
        with self._lock:
            return 0.0 if self._in_flight else time.monotonic() - self._quiet_since


def keep_frozen(
    interval: float = FREEZE_EVERY_SECONDS,
    stop: threading.Event | None = None,
    *,
    quiet_for: Any = None,
    quiet: float = QUIET_SECONDS,
    at_the_latest: float = FREEZE_AT_THE_LATEST_SECONDS,
) -> threading.Thread:
    """Take over full collections in this process (moto's alone: nothing else here relies on
    the collector's timing): a daemon thread collects and freezes at most every ``interval``
    seconds, when ``quiet_for()`` says nothing has been asked for ``quiet`` seconds (or after
    ``at_the_latest`` seconds regardless), until ``stop`` is set."""
    stop = stop or threading.Event()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 1_000_000)  # automatic collections: young garbage only
    quiet_for = quiet_for or (lambda: float("inf"))

    def loop() -> None:
        last = time.monotonic()
        while not stop.wait(min(interval, quiet) / 2):
            waited = time.monotonic() - last
            if waited >= at_the_latest or (waited >= interval and quiet_for() >= quiet):
                gc.collect()
                gc.freeze()
                last = time.monotonic()

    thread = threading.Thread(target=loop, name="gc-freeze", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> None:
    """Serve moto on ``-H``/``-p`` (``moto.server``'s options) with waitress, patched."""
    parser = argparse.ArgumentParser(prog="python -m chatlib.local.moto_server")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument(
        "--exit-with-stdin",
        action="store_true",
        help="exit when stdin ends (a pipe from the process that started this one)",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # moto writes it into URLs it returns
    gc.disable()  # until warm_up has loaded moto (why: chatlib.local.moto_startup)
    if args.exit_with_stdin:
        exit_with_parent()
    trim_imports()  # before moto is imported (why: chatlib.local.moto_startup)

    install()
    import waitress
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    dispatcher = DomainDispatcherApplication(create_backend_app)
    application = RequestActivity(dispatcher)
    keep_frozen(quiet_for=application.quiet_for)
    server = waitress.create_server(
        application, host=args.host, port=args.port, threads=SERVER_THREADS
    )
    # listening from here on: the caller goes on while the services it will ask for load;
    # then warm_up freezes moto's modules, or the first collection, seconds into the chat,
    # would walk them all (about 130 ms with a request waiting)
    warm_up(dispatcher)
    server.run()


if __name__ == "__main__":
    main()
