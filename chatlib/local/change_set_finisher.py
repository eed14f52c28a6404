"""The embedded AWS's CloudFormation finishes every change set it executes, as AWS's would.

moto's CloudFormation skips the resource types it has no model for (the WebSocket API, its
integrations, routes and stage; alarms; secrets), and :mod:`chatlib.local.moto_bridge` makes
them. chatlib's own deploy (:mod:`chatlib.deploy.stack`) calls the bridge after
``execute_change_set`` and reports each step. A learner's own boto3 deploy (notebook 04) calls
``execute_change_set`` and a waiter, exactly as against AWS, with no "if local" anywhere; so
that it gets the same stack, the embedded AWS does what CloudFormation would:

* it runs the bridge itself, inside moto, right after moto has executed a change set: the
  ``ExecuteChangeSet`` call returns once the API exists, ``DescribeStacks`` shows resolved
  outputs, and a bridge failure leaves the stack ``CREATE_FAILED`` / ``UPDATE_FAILED`` with
  the reason in its events, where a learner looks on AWS;
* its change sets list what CloudFormation's would: each ``Condition`` applied (moto lists every
  resource), and the changes of an update that changes only parameters (moto lists none);
* an update with nothing to do is a ``FAILED`` change set with CloudFormation's reason (moto
  refused the call);
* an update leaves alone what a ``Condition`` kept out, and an omitted parameter kept with
  ``UsePreviousValue`` at its default (moto "updated" such resources, and failed);
* a removed ``AWS::Lambda::Permission`` takes its grant away, and open connections follow the
  redeployed API from their next message.

:func:`install` patches moto in this process (``start_embedded_aws`` calls it for the moto it
runs in a thread here). Change sets named ``chatlib-…`` are chatlib's deploy's, which finishes
them itself, so they are left alone. Against AWS nothing here exists.

These are wrappers around moto's CloudFormation internals, so :func:`install` first checks that
the moto installed is the one they were written against (:data:`WRAPS`, fingerprinted as
:mod:`chatlib.local.moto_server` does for its patches). With another moto it installs nothing and
says so in one line: a change set a learner executes is then plain moto's (no WebSocket API, no
alarms, no secret), while chatlib's own deploy, which runs the bridge itself, still works.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any

import boto3

__all__ = ["CHATLIB_CHANGE_SETS", "CHECKED", "NO_CHANGES", "WRAPS", "install", "unexpected"]

#: The prefix of the change sets chatlib's deploy creates (and finishes itself).
CHATLIB_CHANGE_SETS = "chatlib-"

#: What CloudFormation says of a change set that changes nothing.
NO_CHANGES = (
    "The submitted information didn't contain changes. "
    "Submit different information to create a change set."
)

_log = logging.getLogger(__name__)

_MODELS = "moto.cloudformation.models"
#: What the wrappers below replace, call or read in moto (``module:Qualified.name``).
WRAPS: tuple[str, ...] = (
    f"{_MODELS}:CloudFormationBackend.execute_change_set",
    f"{_MODELS}:CloudFormationBackend.create_change_set",
    f"{_MODELS}:ChangeSet.__init__",
    f"{_MODELS}:ChangeSet.diff",
    f"{_MODELS}:ChangeSet.apply",
    f"{_MODELS}:Change.__init__",
    f"{_MODELS}:Stack._add_stack_event",
    f"{_MODELS}:Stack._parse_template",
    "moto.cloudformation.parsing:ResourceMap.build_resource_diff",
    "moto.cloudformation.parsing:Output",
    "moto.cloudformation.parsing:OutputMap",
    "moto.cloudformation.responses:CloudFormationResponse._validate_different_update",
)
#: Their fingerprint in each moto release the wrappers were checked against (5.2.5, the lock's);
#: ``tests/test_change_set_finisher.py`` fails after a lock refresh until someone reviews them
#: against the new moto and adds its fingerprint here.
CHECKED = frozenset({"77c980fc56812daf"})

_refused = False


def unexpected() -> str | None:
    """Why the wrappers must not be installed on the moto here, or ``None``. Call it before
    :func:`install` (after, it sees the wrappers)."""
    from chatlib.local.moto_server import fingerprint

    try:
        found = fingerprint(WRAPS)
    except LookupError as reason:
        return str(reason)
    if found not in CHECKED:
        return f"moto's CloudFormation differs (fingerprint {found}, checked: {sorted(CHECKED)})"
    return None


def install() -> None:
    """Make moto's ``execute_change_set`` run the bridge afterwards (idempotent), if moto is
    the one this was written against; otherwise leave moto as it is and say so once."""
    global _refused
    from moto.cloudformation.models import ChangeSet, CloudFormationBackend
    from moto.cloudformation.parsing import ResourceMap
    from moto.cloudformation.responses import CloudFormationResponse

    executed = CloudFormationBackend.execute_change_set
    if getattr(executed, "finishes_with_the_bridge", False) or _refused:
        return
    reason = unexpected()
    if reason is not None:
        _refused = True
        print(
            f"chatlib: a change set you execute yourself is left to plain moto ({reason}): it "
            "will not create the WebSocket API, its routes, alarms or secret; chatlib's deploy "
            "still does. `python3 workbook.py lab` installs the moto this was checked against.",
            file=sys.stderr,
            flush=True,
        )
        return

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.describe_change_set(change_set_name)
        before = change_set.stack.template
        executed(self, change_set_name, stack_name)
        if not change_set.change_set_name.startswith(CHATLIB_CHANGE_SETS):
            finish(self.stacks[change_set.stack_id], change_set, before)

    execute_change_set.finishes_with_the_bridge = True  # type: ignore[attr-defined]
    CloudFormationBackend.execute_change_set = execute_change_set
    ChangeSet.diff = _diff_as_aws_would(ChangeSet.diff)
    ChangeSet.apply = _defaults_as_unchanged(ChangeSet.apply)
    ResourceMap.build_resource_diff = _conditions_respected(ResourceMap.build_resource_diff)
    _no_changes_as_aws_says(CloudFormationBackend, CloudFormationResponse)


def _conditions_respected(moto_diff: Callable[..., dict[str, list[str]]]) -> Callable[..., Any]:
    """On an update, moto "modifies" every resource that refers to a changed parameter, even
    one its ``Condition`` kept out of the stack (a new ``CodeKey`` and the auth step's
    functions, say), and fails on it. CloudFormation leaves such a resource alone."""
    from chatlib.deploy.template import Resolver, load_template

    def build_resource_diff(
        self: Any, other_template: dict[str, Any], parameters: dict[str, Any] | None = None
    ) -> dict[str, list[str]]:
        diff = moto_diff(self, other_template, parameters)
        if parameters is None:
            return diff
        try:
            template = load_template(other_template)
            resolver = Resolver(template, _declared(template, parameters))
            diff["Modify"] = [name for name in diff["Modify"] if resolver.included(name)]
        except Exception:  # a template the resolver cannot read: moto's own answer, then
            pass
        return diff

    return build_resource_diff


def _defaults_as_unchanged(moto_apply: Callable[[Any], None]) -> Callable[[Any], None]:
    """``UsePreviousValue`` for a parameter still at its default (what a careful update sends
    for everything it leaves out) made moto see a changed parameter, and "update" resources
    that refer to it even where their ``Condition`` had kept them from being created (a crash).
    Such a parameter is left out of what moto applies: its value is the same either way."""

    def apply(self: Any) -> None:
        if not self.change_set_name.startswith(CHATLIB_CHANGE_SETS):
            applied = self.stack.resource_map.input_parameters or {}
            declared = self.template_dict.get("Parameters") or {}
            self.parameters = {
                key: value
                for key, value in self.parameters.items()
                if key in applied or str(declared.get(key, {}).get("Default")) != str(value)
            }
        moto_apply(self)

    return apply


def _no_changes_as_aws_says(backend: Any, responses: Any) -> None:
    """An update with nothing to do: AWS creates the change set and fails it with a reason;
    moto refuses the call ("No updates are to be performed"), or completes a change set whose
    list is empty. Both now answer as AWS does."""
    validate = responses._validate_different_update
    created = backend.create_change_set

    def validate_different_update(self: Any, *args: Any, **kwargs: Any) -> None:
        if self._get_param("ChangeSetName", "").startswith(CHATLIB_CHANGE_SETS):
            validate(self, *args, **kwargs)

    def create_change_set(self: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
        change_set_id, stack_id = created(self, *args, **kwargs)
        change_set = self.change_sets[change_set_id]
        mine = change_set.change_set_name.startswith(CHATLIB_CHANGE_SETS)
        if not mine and change_set.change_set_type == "UPDATE" and not change_set.changes:
            change_set.status, change_set.execution_status = "FAILED", "UNAVAILABLE"
            change_set.status_reason = NO_CHANGES
        return change_set_id, stack_id

    responses._validate_different_update = validate_different_update
    backend.create_change_set = create_change_set


def _diff_as_aws_would(moto_diff: Callable[[Any], list[Any]]) -> Callable[[Any], list[Any]]:
    """moto lists every resource of a template, Conditions or not, and nothing for an update
    that changes only parameters; CloudFormation lists what will happen. Compare the two
    resolved templates instead (:func:`chatlib.deploy.changes.compare_templates`)."""
    from moto.cloudformation.models import Change

    from chatlib.deploy.changes import compare_templates
    from chatlib.deploy.template import Resolver

    def diff(self: Any) -> list[Any]:
        if self.change_set_name.startswith(CHATLIB_CHANGE_SETS):
            return moto_diff(self)
        try:
            after = _read(self.template)
            before = {}
            if self.change_set_type == "UPDATE":
                deployed = _read(self.stack.template)
                before = Resolver(
                    deployed, _declared(deployed, self.stack.stack_parameters)
                ).resources()
            changes = compare_templates(
                before, Resolver(after, _declared(after, self.parameters)).resources()
            )
        except Exception:  # a template the resolver cannot read: moto's own list, then
            return moto_diff(self)
        listed = []
        for change in changes:
            listed.append(Change(change.action, change.logical_id, change.resource_type))
            if change.action == "Modify":
                listed[-1].details = [
                    {"Target": {"Attribute": "Properties", "Name": name}}
                    for name in change.properties
                ]
        return listed

    return diff


def finish(stack: Any, change_set: Any, before: Any = None) -> None:
    """Run the bridge for moto's ``stack`` as ``change_set`` left it (``before``: the template
    it replaced); record what happened."""
    from moto.cloudformation.parsing import Output, OutputMap

    from chatlib.local import moto_bridge

    template = _read(change_set.template)
    parameters = _declared(template, change_set.parameters)
    try:
        outputs = moto_bridge.reconcile(stack.name, template, parameters, progress=_log.info)
        _revoke_removed_permissions(stack, before, template)
        _gateway_follows()
    except Exception as error:  # any reason the bridge fails is the learner's to read
        failed = f"{change_set.change_set_type}_FAILED"
        stack.status = failed
        stack._add_stack_event(failed, resource_status_reason=f"{error}")
        return
    # moto keeps the outputs of the template the stack was created with (none, for a change
    # set's CREATE) and cannot resolve those naming skipped resources: the bridge's replace them.
    declared = {key: template.get("Outputs", {}).get(key, {}) for key in outputs}
    stack._parse_template()
    stack.output_map = OutputMap(stack.resource_map, {"Outputs": declared}, stack.stack_id)
    for key, value in outputs.items():
        description = declared[key].get("Description")
        stack.output_map._parsed_outputs[key] = Output(key, str(value), description)


def _gateway_follows() -> None:
    """Open connections use the redeployed API from their next message, as on AWS; the local
    gateway otherwise keeps what it read at their handshake. (chatlib's deploy gets the same
    from ``LocalStack.local_url``, which a notebook calls after each deploy.)"""
    from chatlib.local.gateway import stack as gateway

    running = gateway._running
    if running is not None:
        running.refresh()


def _revoke_removed_permissions(stack: Any, before: Any, template: Mapping[str, Any]) -> None:
    """An ``AWS::Lambda::Permission`` the update removed takes its grant with it, as on AWS.

    The bridge puts each declared permission in its function's policy under the permission's
    logical id (:mod:`chatlib.local.bridge_permissions`) but never takes one away, and moto's
    CloudFormation cannot delete its own; so a route whose permission was removed still ran.
    """
    if not before:
        return
    removed = _permission_ids(_read(before)) - _permission_ids(template)
    if not removed:
        return
    lambda_client = boto3.client("lambda")
    for resource in stack.resource_map.values():
        if getattr(resource, "cf_resource_type", "") != "AWS::Lambda::Function":
            continue
        try:
            policy = json.loads(
                lambda_client.get_policy(FunctionName=resource.function_name)["Policy"]
            )
        except lambda_client.exceptions.ResourceNotFoundException:
            continue
        for statement in policy["Statement"]:
            if statement.get("Sid") in removed:
                lambda_client.remove_permission(
                    FunctionName=resource.function_name, StatementId=statement["Sid"]
                )


def _permission_ids(template: Mapping[str, Any]) -> set[str]:
    return {
        logical_id
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == "AWS::Lambda::Permission"
    }


def _read(text: str) -> dict[str, Any]:
    """A template's text as a dict: JSON (any layout) or YAML with CloudFormation's tags."""
    from chatlib.deploy.template import load_template

    try:
        return load_template(json.loads(text))
    except ValueError:
        return load_template(text)


def _declared(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    declared = template.get("Parameters", {})
    return {key: value for key, value in given.items() if key in declared}
