"""The bridge's step for ``AWS::Lambda::Permission``: the permission as the template declares it.

moto's CloudFormation adds a permission's statement to the function's policy, but its
``SourceArn`` still reads ``arn:aws:execute-api:…:${ChatApi}/*/$connect``: the API is one of
the resources moto skips, so there is no id to put in. The local gateway checks each route's
function policy as Lambda does (:mod:`chatlib.local.gateway.invoke_permission`), so
:mod:`chatlib.local.moto_bridge` calls :func:`put_permission` with the properties resolved
against the API it made, and the statement is replaced by the resolved one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3

__all__ = ["put_permission"]


def put_permission(logical_id: str, properties: Mapping[str, Any]) -> None:
    """The permission as declared, its ``SourceArn`` resolved (moto's own statement keeps
    ``${ChatApi}`` unresolved, so it is replaced: one statement per permission, by its id)."""
    lambda_client = boto3.client("lambda")
    function = properties["FunctionName"]
    try:
        statements = json.loads(lambda_client.get_policy(FunctionName=function)["Policy"])
    except lambda_client.exceptions.ResourceNotFoundException:
        statements = {"Statement": []}
    source_arn = properties.get("SourceArn")
    for statement in statements["Statement"]:
        condition = json.dumps(statement.get("Condition", {}))
        if statement.get("Sid") == logical_id or "${" in condition:
            lambda_client.remove_permission(FunctionName=function, StatementId=statement["Sid"])
    extra = {"SourceArn": source_arn} if source_arn else {}
    lambda_client.add_permission(
        FunctionName=function,
        StatementId=logical_id,
        Action=properties["Action"],
        Principal=properties["Principal"],
        **extra,
    )
