"""Deploy the chat's CloudFormation templates with boto3, to AWS or to the embedded moto.

:mod:`~chatlib.deploy.package` zips the Lambda code, :mod:`~chatlib.deploy.artifacts` keeps
the S3 bucket, :mod:`~chatlib.deploy.stack` runs change sets and follows stack events,
:mod:`~chatlib.deploy.template` and :mod:`~chatlib.deploy.changes` read templates without I/O,
and :mod:`~chatlib.deploy.moto_bridge` finishes on moto what its CloudFormation skips.
"""

from chatlib.deploy.changes import ResourceChange, render_changes
from chatlib.deploy.package import CodePackage, build_package
from chatlib.deploy.stack import (
    DeployFailed,
    DeployPlan,
    DeployResult,
    deploy_stack,
    plan_deploy,
    stack_outputs,
    teardown_stack,
)
from chatlib.deploy.template import Resolver, load_template

__all__ = [
    "CodePackage",
    "DeployFailed",
    "DeployPlan",
    "DeployResult",
    "Resolver",
    "ResourceChange",
    "build_package",
    "deploy_stack",
    "load_template",
    "plan_deploy",
    "render_changes",
    "stack_outputs",
    "teardown_stack",
]
