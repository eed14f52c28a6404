"""Deploy a template with boto3: package, upload, change set, execute, events, outputs.

    plan = plan_deploy(CHAT_TEMPLATE, stack_name="chat", parameters={"Step": "rooms"})
    print(plan.render())          # what will change, before anything does
    result = plan.execute()       # streams stack events; returns the outputs
    teardown_stack("chat")        # delete the stack, empty and remove the bucket

:func:`deploy_stack` does the first two in one call. The same calls work against AWS (real
credentials, no endpoint override) and against moto; on moto, :mod:`chatlib.local.
moto_bridge` finishes what moto's CloudFormation skips, and the update's change list is
computed from the templates, since moto's change sets list none for updates and ignore Conditions.

Failures raise :class:`DeployFailed` with the failing resources' reasons and the state the
stack was left in, not a bare waiter error; "no changes" is a result, not an error.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError, WaiterError
from botocore.parsers import ResponseParserError

from chatlib.deploy.artifacts import (
    default_bucket_name,
    delete_bucket,
    ensure_bucket,
    upload_package,
)
from chatlib.deploy.boundary import ensure_boundary, uses_boundary
from chatlib.deploy.changes import (
    ResourceChange,
    compare_templates,
    from_change_set,
    render_changes,
)
from chatlib.deploy.emulator import finisher, is_emulated
from chatlib.deploy.events import (
    IN_PROGRESS,
    Progress,
    event_ids,
    failure,
    follow_events,
    stack_status,
)
from chatlib.deploy.names import check_stack_name
from chatlib.deploy.package import CodePackage, build_package
from chatlib.deploy.template import Resolver, load_template, template_body
from chatlib.errors import DeployFailed

__all__ = [
    "DeployFailed",
    "DeployPlan",
    "DeployResult",
    "deploy_stack",
    "plan_deploy",
    "stack_outputs",
    "teardown_stack",
]

TemplateSource = str | Path | Mapping[str, Any]

_NO_CHANGE_REASONS = ("didn't contain changes", "No updates are to be performed")
_DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}


@dataclass
class DeployResult:
    stack_name: str
    status: str
    outputs: dict[str, Any]
    changes: list[ResourceChange] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


@dataclass
class DeployPlan:
    """A change set created and described, waiting for :meth:`execute`."""

    stack_name: str
    change_set_id: str | None
    change_set_type: str
    changes: list[ResourceChange]
    template: dict[str, Any]
    parameters: dict[str, str]
    package: CodePackage | None
    emulated: bool
    changes_computed_locally: bool = False

    def render(self) -> str:
        verb = "create" if self.change_set_type == "CREATE" else "update"
        source = (
            " (computed from the templates: moto's change sets list no update's changes "
            "and ignore Conditions)"
            if self.changes_computed_locally
            else ""
        )
        return f"Change set to {verb} stack {self.stack_name}{source}:\n" + render_changes(
            self.changes
        )

    def execute(
        self, *, progress: Progress = print, poll_seconds: float | None = None
    ) -> DeployResult:
        cloudformation = boto3.client("cloudformation")
        if self.change_set_id is None:
            progress(f"No changes: stack {self.stack_name} already matches the template.")
            outputs = stack_outputs(self.stack_name)
            return DeployResult(self.stack_name, stack_status(self.stack_name) or "?", outputs)
        seen = event_ids(cloudformation, self.stack_name)
        try:
            cloudformation.execute_change_set(ChangeSetName=self.change_set_id)
        except (ClientError, ResponseParserError) as error:  # an emulator that crashed, say
            status = stack_status(self.stack_name) or "not created"
            raise DeployFailed(
                f"CloudFormation could not run the change set for {self.stack_name} "
                f"(stack: {status}): {_first_line(error)}",
                status=status,
                reasons=(_first_line(error),),
            ) from None
        status = follow_events(
            cloudformation,
            self.stack_name,
            seen,
            total=len(self.changes),
            progress=progress,
            poll_seconds=poll_seconds or (0.2 if self.emulated else 5.0),
        )
        if status not in _DONE:
            raise failure(cloudformation, self.stack_name, status)
        outputs = _outputs(self, progress)
        progress(f"Stack {self.stack_name}: {status}.")
        return DeployResult(self.stack_name, status, outputs, list(self.changes))


def plan_deploy(
    template: TemplateSource,
    *,
    stack_name: str,
    parameters: Mapping[str, str] | None = None,
    bucket: str | None = None,
    progress: Progress = print,
) -> DeployPlan:
    """Package and upload the code, then create and describe a change set (not executed).

    Before anything is created, the parameters and the stack name are checked (a name whose
    derived names AWS would refuse raises :class:`~chatlib.errors.TemplateError`); the
    roles' permissions boundary is made sure of (:mod:`chatlib.deploy.boundary`); on an
    update, parameters left out keep their values.
    """
    cloudformation = boto3.client("cloudformation")
    emulated = is_emulated(cloudformation)
    document = load_template(template)
    values = dict(parameters or {})
    code = {"CodeBucket", "CodeKey"} <= set(document.get("Parameters", {}))
    placeholders = dict.fromkeys(("CodeBucket", "CodeKey"), "-") if code else {}
    # unknown or invalid parameters fail here, before AWS is asked
    Resolver(document, {**placeholders, **values})
    if code:
        bucket = bucket or default_bucket_name(stack_name)
    check_stack_name(stack_name, document, bucket=bucket if code else None)
    package = None
    if code:
        package = build_package()
        if ensure_bucket(bucket):
            progress(f"Created bucket {bucket}.")
        uploaded = upload_package(bucket, package)
        progress(
            f"{'Uploaded' if uploaded else 'Already uploaded'} s3://{bucket}/{package.key} "
            f"({package.size / 1024:.0f} KiB, {len(package.files)} files)."
        )
        values.update(CodeBucket=bucket, CodeKey=package.key)
    if uses_boundary(document):
        ensure_boundary(stack_name, progress)

    change_set_type = _prepare_stack(cloudformation, stack_name, progress)
    previous: list[str] = []
    if change_set_type == "UPDATE":  # omitted parameters keep their values, not the defaults
        values, previous = _keep_previous_values(cloudformation, stack_name, document, values)
        Resolver(document, values)  # a kept value the new template no longer allows fails here
    created = cloudformation.create_change_set(
        StackName=stack_name,
        ChangeSetName=f"chatlib-{uuid.uuid4().hex[:12]}",
        ChangeSetType=change_set_type,
        TemplateBody=template_body(template),
        Parameters=[
            {"ParameterKey": k, "UsePreviousValue": True}
            if k in previous
            else {"ParameterKey": k, "ParameterValue": str(v)}
            for k, v in values.items()
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    plan = DeployPlan(
        stack_name, created["Id"], change_set_type, [], document, values, package, emulated
    )
    try:
        cloudformation.get_waiter("change_set_create_complete").wait(
            ChangeSetName=created["Id"], WaiterConfig={"Delay": 2, "MaxAttempts": 150}
        )
    except WaiterError:
        description = cloudformation.describe_change_set(ChangeSetName=created["Id"])
        reason = description.get("StatusReason", "")
        if any(text in reason for text in _NO_CHANGE_REASONS):
            cloudformation.delete_change_set(ChangeSetName=created["Id"])
            plan.change_set_id = None
            return plan
        raise DeployFailed(
            f"The change set for {stack_name} failed: {reason or description['Status']}",
            status=description["Status"],
            reasons=(reason,),
        ) from None
    plan.changes = _described_changes(cloudformation, created["Id"])
    if emulated:  # moto lists no update's changes, and ignores Conditions on a create
        plan.changes = _changes_from_templates(
            cloudformation, stack_name, document, values, creating=change_set_type == "CREATE"
        )
        plan.changes_computed_locally = True
    if not plan.changes:
        cloudformation.delete_change_set(ChangeSetName=created["Id"])
        plan.change_set_id = None
    return plan


def deploy_stack(
    template: TemplateSource,
    *,
    stack_name: str,
    parameters: Mapping[str, str] | None = None,
    bucket: str | None = None,
    progress: Progress = print,
) -> DeployResult:
    """Plan and execute in one call; prints the change set, then the events as they come."""
    plan = plan_deploy(
        template, stack_name=stack_name, parameters=parameters, bucket=bucket, progress=progress
    )
    if plan.changes:
        progress(plan.render())
    return plan.execute(progress=progress)


def stack_outputs(stack_name: str) -> dict[str, str]:
    """The outputs of a deployed stack, as CloudFormation reports them (on moto, resolved by
    the bridge, since moto leaves those that refer to skipped resources unresolved)."""
    cloudformation = boto3.client("cloudformation")
    if is_emulated(cloudformation):
        return finisher().outputs(stack_name, *_deployed(cloudformation, stack_name))
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def teardown_stack(
    stack_name: str, *, bucket: str | None = None, progress: Progress = print
) -> None:
    """Delete the stack (waiting until it is gone), then empty and delete its bucket."""
    cloudformation = boto3.client("cloudformation")
    if stack_status(stack_name) is not None:
        cloudformation.delete_stack(StackName=stack_name)
        emulated = is_emulated(cloudformation)
        if emulated:
            finisher().remove(stack_name, progress)
        try:
            cloudformation.get_waiter("stack_delete_complete").wait(
                StackName=stack_name,
                WaiterConfig={"Delay": 1 if emulated else 5, "MaxAttempts": 720},
            )
        except WaiterError:
            raise failure(cloudformation, stack_name, stack_status(stack_name) or "?") from None
        progress(f"Stack {stack_name}: DELETE_COMPLETE.")
    else:
        progress(f"Stack {stack_name} does not exist.")
    bucket = bucket or default_bucket_name(stack_name)
    removed = delete_bucket(bucket)
    progress(f"Bucket {bucket}: {removed} object(s) removed, bucket deleted.")


# ---------------------------------------------------------------------- internals
def _prepare_stack(cloudformation: Any, stack_name: str, progress: Progress) -> str:
    """CREATE or UPDATE; a stack left in ROLLBACK_COMPLETE is deleted first, as AWS requires."""
    status = stack_status(stack_name)
    if status in {None, "REVIEW_IN_PROGRESS", "DELETE_COMPLETE"}:
        return "CREATE"
    if status == "ROLLBACK_COMPLETE":
        progress(f"Stack {stack_name} is ROLLBACK_COMPLETE (a failed create): deleting it first.")
        cloudformation.delete_stack(StackName=stack_name)
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=stack_name)
        return "CREATE"
    if status.endswith(IN_PROGRESS):
        raise DeployFailed(
            f"Stack {stack_name} is {status}: wait until it finishes, then deploy again.",
            status=status,
        )
    return "UPDATE"


def _keep_previous_values(
    cloudformation: Any,
    stack_name: str,
    document: Mapping[str, Any],
    values: Mapping[str, str],
) -> tuple[dict[str, str], list[str]]:
    """On an update, each parameter the caller left out keeps the stack's current value.

    CloudFormation applies a parameter's *default* to an update that omits it, so a bare
    redeploy of an auth stack (``Step`` defaults to ``rooms``) would remove its authorizer and
    open ``$connect``. Each omitted parameter whose current value is not its default is sent
    as ``UsePreviousValue`` (one still at its default may stay omitted: the result is the
    same, and moto then sees no change). Returns the values now in force and the names sent
    as ``UsePreviousValue``.
    """
    _, deployed = _deployed(cloudformation, stack_name)
    declared = document.get("Parameters", {})
    previous = [
        name
        for name, spec in declared.items()
        if name not in values
        and name in deployed
        and (deployed[name] != str(spec.get("Default")) or deployed[name] == "****")
    ]
    return {**values, **{name: deployed[name] for name in previous}}, previous


def _described_changes(cloudformation: Any, change_set_id: str) -> list[ResourceChange]:
    changes: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = cloudformation.describe_change_set(
            ChangeSetName=change_set_id, **({"NextToken": token} if token else {})
        )
        changes.extend(page.get("Changes", []))
        token = page.get("NextToken")
        if not token:
            return from_change_set(changes)


def _changes_from_templates(
    cloudformation: Any,
    stack_name: str,
    document: Mapping[str, Any],
    values: Mapping[str, str],
    *,
    creating: bool,
) -> list[ResourceChange]:
    """The change list CloudFormation would give, from the resolved templates: resources
    whose ``Condition`` is false are not created, as on AWS."""
    before: dict[str, Any] = {}
    if not creating:
        deployed, deployed_values = _deployed(cloudformation, stack_name)
        before = Resolver(deployed, deployed_values).resources()
    return compare_templates(before, Resolver(document, values).resources())


def _deployed(cloudformation: Any, stack_name: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The template and parameter values the stack was last deployed with."""
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    template = load_template(cloudformation.get_template(StackName=stack_name)["TemplateBody"])
    declared = template.get("Parameters", {})
    values = {
        p["ParameterKey"]: p["ParameterValue"]
        for p in stack.get("Parameters", [])
        if p["ParameterKey"] in declared
    }
    return template, values


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0]


def _outputs(plan: DeployPlan, progress: Progress = print) -> dict[str, Any]:
    if plan.emulated:
        return finisher().reconcile(plan.stack_name, plan.template, plan.parameters, progress)
    return stack_outputs(plan.stack_name)
