"""Read a CloudFormation template and evaluate its intrinsic functions, without any I/O.

CloudFormation itself evaluates templates on AWS. We need the same evaluation in two places
where it cannot: to see what an update changes when moto's change sets list nothing
(:mod:`chatlib.deploy.changes`), and to build the resources moto's CloudFormation skips
(:mod:`chatlib.local.moto_bridge`). The resolver below covers what our templates use:
``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::If``, ``Fn::Join``, ``Fn::Select``, conditions
(``Fn::Equals``, ``Fn::Not``, ``Fn::And``, ``Fn::Or``) and ``AWS::NoValue``.

What a ``Ref`` or ``Fn::GetAtt`` to a resource means is the caller's business: pass
functions that look the value up, or leave the defaults, which keep symbolic placeholders
(``<Ref ChatApi>``), enough to compare two versions of a template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from chatlib.errors import TemplateError

__all__ = [
    "CHAT_TEMPLATE",
    "Resolver",
    "TemplateError",
    "load_template",
    "route_handlers",
    "template_body",
]

#: The course's template: the whole chat, its ``Step`` parameter picking the teaching step.
CHAT_TEMPLATE = Path(__file__).resolve().parents[2] / "infra_cfn" / "chat.yaml"

_NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


class _CloudFormationLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus CloudFormation's short forms (``!Ref``, ``!Sub``, ...)."""


def _short_form(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix in {"Ref", "Condition"}:
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _short_form)


def load_template(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A template as a dict: from a YAML or JSON file, YAML or JSON text, or a dict (copied)."""
    if isinstance(source, Mapping):
        return json.loads(json.dumps(source))
    text = Path(source).read_text() if _looks_like_path(source) else str(source)
    template = yaml.load(text, Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(template, dict) or "Resources" not in template:
        raise TemplateError("a CloudFormation template is a mapping with a Resources section")
    return template


def template_body(source: str | Path | Mapping[str, Any]) -> str:
    """The text to send to CloudFormation: a file's own text, or a dict as JSON."""
    if isinstance(source, Mapping):
        return json.dumps(source, indent=1)
    return Path(source).read_text() if _looks_like_path(source) else str(source)


def _looks_like_path(source: str | Path) -> bool:
    return isinstance(source, Path) or ("\n" not in source and Path(source).is_file())


RefLookup = Callable[[str], Any]
GetAttLookup = Callable[[str, str], Any]


class Resolver:
    """Evaluate a template's expressions for one set of parameter values.

    ``parameters`` are the values given (defaults fill the rest); ``pseudo`` the pseudo
    parameters (``AWS::Region``, ``AWS::AccountId``, ``AWS::StackName``, ...); ``ref`` and
    ``get_att`` resolve references to resources.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str] | None = None,
        *,
        pseudo: Mapping[str, str] | None = None,
        ref: RefLookup | None = None,
        get_att: GetAttLookup | None = None,
    ) -> None:
        self.template = template
        self.parameters = self._parameter_values(parameters or {})
        self.pseudo = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", **(pseudo or {})}
        self._ref = ref or (lambda name: f"<Ref {name}>")
        self._get_att = get_att or (lambda name, attribute: f"<GetAtt {name}.{attribute}>")
        self._conditions: dict[str, bool] = {}

    def _parameter_values(self, given: Mapping[str, str]) -> dict[str, str]:
        declared = self.template.get("Parameters", {})
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise TemplateError(f"the template has no parameter {', '.join(unknown)}")
        values = {}
        for name, spec in declared.items():
            if name in given:
                values[name] = str(given[name])
            elif "Default" in spec:
                values[name] = str(spec["Default"])
            else:
                raise TemplateError(f"parameter {name} has no default: give it a value")
            allowed = spec.get("AllowedValues")
            if allowed is not None and values[name] not in {str(v) for v in allowed}:
                raise TemplateError(
                    f"parameter {name} must be one of {', '.join(map(str, allowed))}, "
                    f"not {values[name]!r}"
                )
        return values

    # ------------------------------------------------------------------ conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            try:
                expression = self.template["Conditions"][name]
            except KeyError:
                raise TemplateError(f"the template has no condition {name}") from None
            self._conditions[name] = bool(self._condition_value(expression))
        return self._conditions[name]

    def _condition_value(self, expression: Any) -> bool:
        if isinstance(expression, Mapping) and len(expression) == 1:
            ((function, argument),) = expression.items()
            if function == "Condition":
                return self.condition(argument)
            if function == "Fn::Equals":
                left, right = (self.resolve(value) for value in argument)
                return str(left) == str(right)
            if function == "Fn::Not":
                return not self._condition_value(argument[0])
            if function == "Fn::And":
                return all(self._condition_value(value) for value in argument)
            if function == "Fn::Or":
                return any(self._condition_value(value) for value in argument)
        raise TemplateError(f"not a condition: {expression!r}")

    # ------------------------------------------------------------------ resources
    def included(self, logical_id: str) -> bool:
        """Whether a resource exists for these parameters (its ``Condition`` holds)."""
        condition = self.template["Resources"][logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def resources(self) -> dict[str, dict[str, Any]]:
        """Every included resource as ``{"Type", "Properties"}`` with expressions resolved."""
        return {
            logical_id: self.resource(logical_id)
            for logical_id in self.template["Resources"]
            if self.included(logical_id)
        }

    def resource(self, logical_id: str) -> dict[str, Any]:
        declared = self.template["Resources"][logical_id]
        return {
            "Type": declared["Type"],
            "Properties": self.resolve(declared.get("Properties", {})),
        }

    def outputs(self) -> dict[str, Any]:
        return {
            name: self.resolve(output["Value"])
            for name, output in self.template.get("Outputs", {}).items()
            if "Condition" not in output or self.condition(output["Condition"])
        }

    # ------------------------------------------------------------------ expressions
    def resolve(self, value: Any) -> Any:
        resolved = self._resolve(value)
        return None if resolved is _NO_VALUE else resolved

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = (self._resolve(item) for item in value)
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._reference(argument)
            if key.startswith("Fn::"):
                return self._function(key, argument)
        resolved = {key: self._resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _reference(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name.startswith("AWS::"):  # a pseudo parameter not given: keep it symbolic
            return f"<Ref {name}>"
        if name in self.template["Resources"]:
            return self._ref(name)
        raise TemplateError(f"Ref to {name}, which is neither a parameter nor a resource")

    def _function(self, name: str, argument: Any) -> Any:
        if name == "Fn::GetAtt":
            logical_id, attribute = argument
            return self._get_att(logical_id, attribute)
        if name == "Fn::Sub":
            return self._substitute(argument)
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self._resolve(when_true if self.condition(condition) else when_false)
        if name == "Fn::Join":
            separator, values = argument
            return separator.join(str(item) for item in self._resolve(values))
        if name == "Fn::Select":
            index, values = argument
            return self._resolve(values)[int(self._resolve(index))]
        raise TemplateError(f"{name} is not supported by chatlib's template resolver")

    def _substitute(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        local = {key: self._resolve(value) for key, value in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return str(local[name])
            if "." in name and name.split(".", 1)[0] in self.template["Resources"]:
                return str(self._get_att(*name.split(".", 1)))
            return str(self._reference(name))

        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")


def route_handlers(
    template: Mapping[str, Any], parameters: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``{route key: Lambda handler}`` as the template wires them for these parameters.

    Follows each included ``AWS::ApiGatewayV2::Route`` to its integration and on to the
    function whose ARN the integration's URI names, and reads that function's ``Handler``.
    A route with no Lambda integration is left out. This is how a caller that does not run
    CloudFormation (the local shortcut of notebooks 02 and 03) learns the routes without
    repeating them.
    """
    resolver = Resolver(template, parameters)
    resources = resolver.resources()
    handlers: dict[str, str] = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::ApiGatewayV2::Route":
            continue
        properties = resource["Properties"]
        target = re.fullmatch(r"integrations/<Ref (\w+)>", str(properties.get("Target", "")))
        if target is None or target.group(1) not in resources:
            continue
        uri = str(resources[target.group(1)]["Properties"].get("IntegrationUri", ""))
        function = re.search(r"<GetAtt (\w+)\.Arn>", uri)
        if function is None or function.group(1) not in resources:
            continue
        handlers[properties["RouteKey"]] = resources[function.group(1)]["Properties"]["Handler"]
    return handlers
