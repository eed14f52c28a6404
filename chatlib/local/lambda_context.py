"""The Lambda context object, for code that runs a handler outside Lambda.

Lambda hands every invocation a context object; chatlib's handlers read ``aws_request_id``,
``function_name`` and ``get_remaining_time_in_millis()`` from it. This one class stands in
for it in both places a handler runs here: called by hand in a notebook or a unit test
(``LambdaContext("chat-connect")``) and in the local runtime's worker processes
(:func:`LambdaContext.from_environment`, with the deadline the runtime enforces).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["LambdaContext"]


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers use.

    The remaining time counts down from ``timeout_seconds`` after creation, or to
    ``deadline`` (epoch seconds) when one is given. Nothing here enforces it; the local
    runtime stops a function that runs past its timeout, as Lambda does.
    """

    function_name: str = "chat-handler"
    timeout_seconds: float = 10.0
    memory_limit_in_mb: int = 128
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    invoked_function_arn: str = ""
    deadline: float | None = None

    def __post_init__(self) -> None:
        if self.deadline is None:
            self.deadline = time.time() + self.timeout_seconds
        if not self.invoked_function_arn:
            self.invoked_function_arn = (
                f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
            )

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        assert self.deadline is not None
        return max(0, int((self.deadline - time.time()) * 1000))

    @classmethod
    def from_environment(
        cls, request_id: str, deadline: float, environ: Mapping[str, str] = os.environ
    ) -> LambdaContext:
        """The context for one invocation in a worker, from Lambda's reserved variables."""
        return cls(
            function_name=environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
            memory_limit_in_mb=int(environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")),
            aws_request_id=request_id,
            function_version=environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            invoked_function_arn=environ.get("CHATLIB_FUNCTION_ARN", ""),
            deadline=deadline,
        )
