"""Deploy the chat's CloudFormation templates with boto3, to AWS or to the embedded one.

Nothing here runs in Lambda, and nothing here is specific to moto: the same calls go to AWS
(real credentials, no endpoint override) or to an emulator, and the one place that tells the
two apart is :mod:`~chatlib.deploy.emulator`.

    package       the Lambda zip: chatlib's Lambda folders and PyJWT, reproducible
    artifacts     the S3 bucket the zip is uploaded to
    template      read a template and evaluate its intrinsic functions (pure)
    changes       what a change set changes, read or computed (pure)
    stack         change sets, execution, outputs, teardown
    events        stack events followed as they come; a failure as a clear error
    stack_tokens  tokens signed with a deployed stack's secret, and its rotation
    policy        the IAM policy the deploying identity needs (infra_cfn/deploy-policy.json)
    boundary      the permissions boundary every role carries, created once per stack name
    names         a stack name checked before anything is created
    emulator      the seam to an emulator's bridge (:mod:`chatlib.local.moto_bridge`)
"""

from chatlib.deploy.boundary import ensure_boundary, function_boundary
from chatlib.deploy.changes import ResourceChange, render_changes
from chatlib.deploy.names import check_stack_name
from chatlib.deploy.package import CodePackage, build_package
from chatlib.deploy.policy import DEPLOY_POLICY, deploy_policy
from chatlib.deploy.stack import (
    DeployFailed,
    DeployPlan,
    DeployResult,
    deploy_stack,
    plan_deploy,
    stack_outputs,
    teardown_stack,
)
from chatlib.deploy.stack_tokens import issue_token, rotate_token_secret
from chatlib.deploy.template import CHAT_TEMPLATE, Resolver, load_template, route_handlers

__all__ = [
    "CHAT_TEMPLATE",
    "CodePackage",
    "DEPLOY_POLICY",
    "DeployFailed",
    "DeployPlan",
    "DeployResult",
    "Resolver",
    "ResourceChange",
    "build_package",
    "check_stack_name",
    "deploy_policy",
    "deploy_stack",
    "ensure_boundary",
    "function_boundary",
    "issue_token",
    "load_template",
    "plan_deploy",
    "render_changes",
    "rotate_token_secret",
    "route_handlers",
    "stack_outputs",
    "teardown_stack",
]
