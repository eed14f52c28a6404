"""What a deploy will change, as one list whoever computed it.

On AWS the change set says it (``DescribeChangeSet``). moto's change sets list the resources
of a new stack but nothing for an update, so for an update on moto we compare the resolved
templates ourselves (:func:`compare_templates`): the same Add / Modify / Remove per logical
id, with the properties that differ. References to resources stay symbolic in that
comparison, which is also how CloudFormation reads a template before it runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ResourceChange", "compare_templates", "from_change_set", "render_changes"]


@dataclass(frozen=True)
class ResourceChange:
    action: str  # Add | Modify | Remove
    logical_id: str
    resource_type: str
    properties: tuple[str, ...] = ()  # for Modify: the top-level properties that change


def compare_templates(
    before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]
) -> list[ResourceChange]:
    """Changes from ``before`` to ``after``, both ``{logical id: {"Type", "Properties"}}``."""
    changes = []
    for logical_id, resource in after.items():
        if logical_id not in before:
            changes.append(ResourceChange("Add", logical_id, resource["Type"]))
            continue
        old = before[logical_id]
        if old["Type"] != resource["Type"]:
            changes.append(ResourceChange("Remove", logical_id, old["Type"]))
            changes.append(ResourceChange("Add", logical_id, resource["Type"]))
            continue
        differing = _differing_properties(old.get("Properties", {}), resource.get("Properties", {}))
        if differing:
            changes.append(ResourceChange("Modify", logical_id, resource["Type"], differing))
    changes.extend(
        ResourceChange("Remove", logical_id, resource["Type"])
        for logical_id, resource in before.items()
        if logical_id not in after
    )
    return changes


def _differing_properties(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    names = sorted(set(old) | set(new))
    return tuple(name for name in names if old.get(name) != new.get(name))


def from_change_set(changes: Iterable[Mapping[str, Any]]) -> list[ResourceChange]:
    """``DescribeChangeSet``'s ``Changes`` as :class:`ResourceChange` values."""
    result = []
    for change in changes:
        resource = change.get("ResourceChange", {})
        properties = sorted(
            {
                detail["Target"]["Name"]
                for detail in resource.get("Details", [])
                if detail.get("Target", {}).get("Attribute") == "Properties"
                and detail["Target"].get("Name")
            }
        )
        result.append(
            ResourceChange(
                resource.get("Action", "?"),
                resource.get("LogicalResourceId", "?"),
                resource.get("ResourceType", "?"),
                tuple(properties),
            )
        )
    return result


def render_changes(changes: Iterable[ResourceChange]) -> str:
    """A table a learner can read: action, resource, type, what changes."""
    rows = [
        (change.action, change.logical_id, change.resource_type, ", ".join(change.properties))
        for change in changes
    ]
    if not rows:
        return "No changes."
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)).rstrip()
        + (f"  ({row[3]})" if row[3] else "")
        for row in rows
    )
