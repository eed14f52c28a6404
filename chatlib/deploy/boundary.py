"""The permissions boundary every role of the chat stack carries, and making sure it exists.

The deploying identity creates the functions' roles and writes their inline policies. Without
a boundary that is a way to become administrator: create a role with a ``*:*`` policy, then run
code as it. So every role in ``infra_cfn/chat.yaml`` names the managed policy
``policy/chatlib/<stack>/function-boundary`` (``infra_cfn/function-boundary.json``: the most
any chat function may do) as its permissions boundary, and the deploy policy allows role
changes only with that boundary and denies changing the boundary itself. A role's effective
permissions are its own policy *and* its boundary
(https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html).

The boundary must exist before the stack's roles do. :func:`ensure_boundary` creates it when
the caller may (an administrator, or the embedded AWS); an identity holding only the deploy
policy may not, on purpose, and is told what an administrator runs once.
"""

from __future__ import annotations

import json
from pathlib import Path
from string import Template
from typing import Any

import boto3
from botocore.exceptions import ClientError

from chatlib.deploy.events import Progress
from chatlib.deploy.template import CHAT_TEMPLATE
from chatlib.errors import DeployFailed

__all__ = [
    "BOUNDARY_POLICY",
    "boundary_arn",
    "ensure_boundary",
    "function_boundary",
    "uses_boundary",
]

#: The boundary document, with ``${StackName}`` to fill in.
BOUNDARY_POLICY: Path = Path(CHAT_TEMPLATE).with_name("function-boundary.json")
_NAME = "function-boundary"


def _path(stack_name: str) -> str:
    return f"/chatlib/{stack_name}/"


def boundary_arn(stack_name: str, account: str, partition: str = "aws") -> str:
    """The ARN the template's roles name as their boundary."""
    return f"arn:{partition}:iam::{account}:policy{_path(stack_name)}{_NAME}"


def function_boundary(stack_name: str) -> dict[str, Any]:
    """The boundary document for ``stack_name``: what an administrator creates."""
    return json.loads(Template(BOUNDARY_POLICY.read_text()).substitute(StackName=stack_name))


def uses_boundary(template: dict[str, Any]) -> bool:
    """Whether any role in the template names a permissions boundary."""
    return any(
        resource.get("Type") == "AWS::IAM::Role"
        and "PermissionsBoundary" in resource.get("Properties", {})
        for resource in template.get("Resources", {}).values()
    )


def ensure_boundary(stack_name: str, progress: Progress = print) -> bool:
    """Create the stack's boundary unless it exists; True if it was created now.

    Raises :class:`DeployFailed` saying what to run when it is missing and this identity may
    not create it (the deploy policy's identity may not: it could then write any boundary).
    """
    iam = boto3.client("iam")
    identity = boto3.client("sts").get_caller_identity()
    partition = identity["Arn"].split(":")[1]
    arn = boundary_arn(stack_name, identity["Account"], partition)
    try:
        iam.get_policy(PolicyArn=arn)
        return False
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchEntity":
            raise
    document = json.dumps(function_boundary(stack_name)).replace("arn:aws:", f"arn:{partition}:")
    try:
        iam.create_policy(
            PolicyName=_NAME,
            Path=_path(stack_name),
            PolicyDocument=document,
            Description=f"The most any function of chat stack {stack_name} may do.",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] not in {"AccessDenied", "AccessDeniedException"}:
            raise
        raise DeployFailed(
            f"The permissions boundary {arn} does not exist, and this identity may not create "
            "it (the deploy policy keeps boundaries out of the deployer's hands). An "
            "administrator creates it once:\n"
            f"  aws iam create-policy --path {_path(stack_name)} --policy-name {_NAME} "
            "--policy-document file://boundary.json\n"
            f"with boundary.json written by chatlib.deploy.function_boundary({stack_name!r}).",
            status="NOT_STARTED",
            reasons=(f"missing permissions boundary {arn}",),
        ) from None
    progress(f"Created the functions' permissions boundary {arn}.")
    return True
