"""moto's own process (``python -m chatlib.local.moto_server``) made quick to start, and tied
to the process that started it.

``chatlib-local serve`` waits, at every start, for one deploy of ``infra_cfn/chat.yaml`` into
this process. Measured (``benchmarks/serve_startup.py``, ``docs/performance.md``), most of
that wait was not CloudFormation's work but moto loading itself on the first request that
needs a service; CloudFormation's first request alone took 2.3-2.5 s, because its template
parser imports the models of every service it knows. Two imports inside that were costly
out of proportion, and neither is anything the chat or the deploy uses:

* **``rfc3987_syntax``**: jsonschema's optional checker for the ``iri`` formats, which
  builds a grammar when imported (about 1.0 s). jsonschema reaches moto through its API
  Gateway (v1) OpenAPI importer. :func:`trim_imports` makes it absent here, so jsonschema
  goes without that one format check, as it does wherever the package is not installed
  (jsonschema lists it as optional). Only this process is affected.
* **botocore's service models, loaded afresh by every new ``boto3.Session``**: moto's EC2
  module builds three sessions at import to list regions, each parsing EC2's model
  (about 0.6 s). :func:`trim_imports` gives every botocore session here one shared
  loader, whose cache then parses each file once; the files and answers are the same.

And what is left is done before anyone asks, not during the deploy: :func:`warm_up` makes
moto's application for each service the chat uses (:data:`SERVICES`) as soon as the server
listens, holding moto's own dispatch lock, so requests wait for it (as they would for their
own first import) and never import a module at the same time as it; meanwhile ``serve``
starts its gateway and packages the functions.

**The parent's end.** ``serve`` starts this process with a pipe on its stdin and never
writes to it. :func:`exit_with_parent` waits for that pipe's end: when ``serve`` ends in any
way (Ctrl-C, SIGKILL, a closed terminal, a crash), the system closes its end, the read
returns, and this process exits, instead of holding its memory (about 260 MiB) and its port
forever. A pipe, because its end is seen on Linux, macOS and Windows alike.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from typing import Any

__all__ = ["SERVICES", "exit_with_parent", "trim_imports", "warm_up"]

#: moto's applications the chat's deploy and the chat itself ask for (moto's names for them:
#: ``apigateway`` serves API Gateway v2 too, ``awslambda`` is Lambda), CloudFormation first.
SERVICES = (
    "moto_api",
    "cloudformation",
    "sts",
    "s3",
    "iam",
    "secretsmanager",
    "apigateway",
    "awslambda",
    "dynamodb",
    "cloudwatch",
    "logs",
)


def trim_imports() -> None:
    """Leave out ``rfc3987_syntax`` and share one botocore loader (why: this module's
    docstring). Call before moto is imported; only ever in moto's own process."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  # "not installed"
    import botocore.loaders
    import botocore.session

    shared = botocore.loaders.create_loader()

    def one_loader(search_paths: Any = None) -> Any:
        return shared if search_paths is None else botocore.loaders.create_loader(search_paths)

    botocore.session.create_loader = one_loader


def warm_up(dispatcher: Any) -> threading.Thread:
    """In a thread, make moto's application for each of :data:`SERVICES` in ``dispatcher``
    (moto's ``DomainDispatcherApplication``), holding its lock: what the first request to
    each would otherwise do (importing the service's models) while the caller waits. One
    that fails is left to its first request, which then fails or not as it would have.

    The caller may turn the collector off until then (``gc.disable()``): moto's imports make
    hundreds of thousands of objects that live as long as the process, and the collections
    CPython runs over them while they are made were a quarter of the start-up (0.26 of
    1.08 s). At the end they are collected once and frozen, and the collector is back on."""

    def make_all() -> None:
        with dispatcher.lock:
            try:
                for service in SERVICES:
                    if service in dispatcher.app_instances:
                        continue
                    try:
                        dispatcher.app_instances[service] = dispatcher.create_app(service)
                    except Exception:  # its first request will say what is wrong
                        continue
            finally:
                gc.collect()
                gc.freeze()  # what moto loaded lives as long as the process
                gc.enable()

    thread = threading.Thread(target=make_all, name="moto-warm-up", daemon=True)
    thread.start()
    return thread


def exit_with_parent(stream: Any = None) -> threading.Thread:
    """Exit this process once ``stream`` (default: stdin, a pipe from the parent) ends."""
    stream = stream or sys.stdin.buffer

    def wait() -> None:
        try:
            while stream.read(4096):
                pass
        except (OSError, ValueError):
            pass
        os._exit(0)  # the parent is gone: nothing here is worth an orderly shutdown

    thread = threading.Thread(target=wait, name="exit-with-parent", daemon=True)
    thread.start()
    return thread
