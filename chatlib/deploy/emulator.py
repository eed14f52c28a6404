"""The one place where a deploy meets an emulator instead of AWS.

Against AWS (no endpoint override) CloudFormation does everything and this module is never
asked for more than :func:`is_emulated`. Against the embedded AWS, moto's CloudFormation
leaves some resource types undone; :func:`finisher` hands back the code that completes them
(:mod:`chatlib.local.moto_bridge`), imported only then, so nothing in ``chatlib.deploy``
depends on moto or on the laptop-only folders when it runs against AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from chatlib.deploy.events import Progress

__all__ = ["Finisher", "finisher", "is_emulated"]


def is_emulated(client: Any) -> bool:
    """True when ``client`` talks to an emulator (an endpoint override), not to AWS."""
    host = client.meta.endpoint_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return not (host.endswith(".amazonaws.com") or host.endswith(".amazonaws.com.cn"))


class Finisher(Protocol):
    """What the deploy helper asks of an emulator's bridge."""

    def reconcile(
        self,
        stack_name: str,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        progress: Progress = ...,
    ) -> dict[str, Any]: ...

    def outputs(
        self, stack_name: str, template: Mapping[str, Any], parameters: Mapping[str, str]
    ) -> dict[str, Any]: ...

    def remove(self, stack_name: str, progress: Progress = ...) -> None: ...


def finisher() -> Finisher:
    """The bridge that finishes, on moto, what moto's CloudFormation skips."""
    from chatlib.local import moto_bridge  # laptop-only: reached only for an emulator

    return moto_bridge  # type: ignore[return-value]
