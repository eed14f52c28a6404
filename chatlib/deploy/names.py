"""Whether a stack name works on AWS, checked before anything is created.

CloudFormation accepts stack names of up to 128 letters, digits and hyphens, but the names
built from it have shorter limits: a function is ``<stack>-sendmessage`` (Lambda: 64
characters), and the code bucket ``<stack>-artifacts-<account>-<region>`` (S3: 63, lower
case). A name past those would fail minutes into a deploy, or (the bucket name, once cut at
63 characters) end in a hyphen S3 refuses. :func:`check_stack_name` refuses it at once,
naming the name that breaks and the longest stack name that fits (a
:class:`~chatlib.errors.TemplateError`, like a parameter the template refuses).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chatlib.deploy.template import Resolver
from chatlib.errors import TemplateError

__all__ = ["check_stack_name", "longest_stack_name"]

_STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_BUCKET_PREFIXES_REFUSED = ("xn--", "sthree-", "amzn-s3-demo-")
# (resource type, property holding a name built from the stack's, the service's limit)
_NAME_LIMITS = (
    ("AWS::Lambda::Function", "FunctionName", 64),
    ("AWS::Logs::LogGroup", "LogGroupName", 512),
    ("AWS::SecretsManager::Secret", "Name", 512),
    ("AWS::ApiGatewayV2::Api", "Name", 128),
    ("AWS::ApiGatewayV2::Authorizer", "Name", 128),
    ("AWS::SQS::Queue", "QueueName", 80),  # FanOut=sharded's queues
)


def check_stack_name(
    stack_name: str, template: Mapping[str, Any], *, bucket: str | None = None
) -> None:
    """Raise :class:`TemplateError` unless every name built from ``stack_name`` is valid.

    ``template``: the template to deploy (its every step's named resources are checked);
    ``bucket``: the code bucket's name, when the deploy uses one.
    """
    if not (1 <= len(stack_name) <= 128 and _STACK_NAME.fullmatch(stack_name)):
        raise TemplateError(
            f"{stack_name!r} is not a CloudFormation stack name: 1 to 128 letters, digits "
            "and hyphens, starting with a letter."
        )
    names = _derived_names(stack_name, template)
    if bucket is not None:
        names.append(("code bucket", bucket, 63))
    too_long = [entry for entry in names if len(entry[1]) > entry[2]]
    if too_long:  # the one furthest past its limit says how short the stack name must be
        kind, name, limit = max(too_long, key=lambda entry: len(entry[1]) - entry[2])
        longest = len(stack_name) - (len(name) - limit)
        hint = ", or pass bucket= a name of your own" if kind == "code bucket" else ""
        raise TemplateError(
            f"stack name {stack_name!r} is too long: it makes the {kind} name {name!r} "
            f"({len(name)} characters; the limit is {limit}). Use at most {longest} "
            f"characters{hint}."
        )
    if bucket is not None and (
        not _BUCKET_NAME.fullmatch(bucket) or bucket.startswith(_BUCKET_PREFIXES_REFUSED)
    ):
        raise TemplateError(f"{bucket!r} is not a valid S3 bucket name.")


def longest_stack_name(template: Mapping[str, Any], *, bucket_suffix: str) -> int:
    """The longest stack name :func:`check_stack_name` accepts, for a bucket named
    ``<stack>{bucket_suffix}`` (``-artifacts-<account>-<region>``)."""
    for length in range(128, 0, -1):
        try:
            name = "c" * length
            check_stack_name(name, template, bucket=name + bucket_suffix)
        except TemplateError:
            continue
        return length
    return 0


def _derived_names(stack_name: str, template: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """(what, name, limit) for every named resource, conditional ones included."""
    parameters = {
        key: "x" for key, spec in template.get("Parameters", {}).items() if "Default" not in spec
    }
    resolver = Resolver(template, parameters, pseudo={"AWS::StackName": stack_name})
    names = []
    for logical_id in template.get("Resources", {}):
        resource = resolver.resource(logical_id)  # whatever its Condition says
        for kind, prop, limit in _NAME_LIMITS:
            value = resource["Properties"].get(prop)
            if resource["Type"] == kind and isinstance(value, str):
                names.append((f"{kind} {logical_id}", value, limit))
    return names
