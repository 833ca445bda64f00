"""CRD validation rules (``x-kubernetes-validations``), compiled and run with cel-python.

The API server evaluates these rules on create and update; a failing rule rejects the write
with HTTP 422. This module reproduces that closely enough for tests and the demo, and lets
a test check that every rule in a generated CRD at least parses:

* ``self`` is the value at the rule's level of the schema (root, ``spec``, any property,
  list item or map value); rules are skipped where the value is absent or null.
* Transition rules (those that mention ``oldSelf``) run only on update, and only where an
  old value exists at the same path (map-lists are correlated by their map keys, maps by
  key; items of other lists are not correlated, as in Kubernetes).
* Ratcheting: on update, a subtree equal to its old value is not re-validated.
* ``message``, ``messageExpression``, ``fieldPath`` and ``reason`` are honoured.
* The immutability idiom ``self.P == oldSelf.P || ...`` is answered without CEL when ``P`` is
  unchanged (the answer is then true whatever follows). cel-python interprets in pure Python,
  and a root rule of this form would otherwise convert and compare the whole object on every
  status patch: most of the emulator's CPU in a burst of new resources.

Not reproduced: the API server's type-checking of rules against the schema (cel-python only
parses them, so a reference to a missing field is found at run time, not at CRD creation),
cost budgets, the Kubernetes CEL extension libraries (``isSorted``, ``url``, ``quantity``...)
and ``optionalOldSelf``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import celpy
from celpy import celtypes

_ENV = celpy.Environment()
_OLD_SELF = re.compile(r"\boldSelf\b")
# `self.a.b == oldSelf.a.b || REST`, REST free of `?` (a ternary there would take the whole `||` as its
# condition). `==` binds tighter than `||`, so when the paths hold equal values the rule is true.
_UNCHANGED_OR = re.compile(r"\s*self((?:\.[A-Za-z_]\w*)+)\s*==\s*oldSelf\1\s*\|\|[^?]*")
_MISSING = object()

# How the API server prints a cause, by the rule's `reason`.
_REASON_TEXT = {
    "FieldValueInvalid": 'Invalid value: "{type}"',
    "FieldValueForbidden": "Forbidden",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": 'Duplicate value: "{type}"',
}


class RuleCompileError(ValueError):
    """A rule that does not parse: the API server would reject the whole CRD."""


@dataclasses.dataclass(frozen=True)
class Rule:
    rule: str
    program: celpy.Runner
    transition: bool
    message: str | None = None
    message_expression: celpy.Runner | None = None
    field_path: str | None = None
    reason: str = "FieldValueInvalid"
    unchanged_path: tuple[str, ...] | None = None  # true whenever this path is unchanged (see the module doc)


@dataclasses.dataclass
class SchemaRules:
    """The rules of one schema level and of the levels below it that have any."""

    type: str | None = None
    rules: list[Rule] = dataclasses.field(default_factory=list)
    properties: dict[str, SchemaRules] = dataclasses.field(default_factory=dict)
    items: SchemaRules | None = None
    additional: SchemaRules | None = None
    map_keys: tuple[str, ...] | None = None  # for `x-kubernetes-list-type: map`

    @property
    def empty(self) -> bool:
        return not (self.rules or self.properties or self.items or self.additional)


@dataclasses.dataclass(frozen=True)
class Violation:
    """One failed rule, printed the way the API server prints a field error."""

    field: str
    type: str
    message: str
    reason: str = "FieldValueInvalid"

    @property
    def detail(self) -> str:
        """The error without its field, as in a Status cause: `Invalid value: "object": ...`."""
        prefix = _REASON_TEXT.get(self.reason, _REASON_TEXT["FieldValueInvalid"]).format(type=self.type)
        return f"{prefix}: {self.message}"

    def __str__(self) -> str:
        return f"{self.field or '<nil>'}: {self.detail}"


def compile_schema(schema: Mapping[str, Any], path: str = "openAPIV3Schema") -> SchemaRules | None:
    """Compile every rule of an OpenAPI v3 schema; None if there are none."""
    node = SchemaRules(type=schema.get("type"))
    for index, raw in enumerate(schema.get("x-kubernetes-validations") or []):
        node.rules.append(_compile_rule(raw, f"{path}.x-kubernetes-validations[{index}]"))
    for name, sub in (schema.get("properties") or {}).items():
        if (child := compile_schema(sub, f"{path}.properties[{name}]")) is not None:
            node.properties[name] = child
    if isinstance(items := schema.get("items"), Mapping):
        node.items = compile_schema(items, f"{path}.items")
    if isinstance(additional := schema.get("additionalProperties"), Mapping):
        node.additional = compile_schema(additional, f"{path}.additionalProperties")
    if schema.get("x-kubernetes-list-type") == "map":
        node.map_keys = tuple(schema.get("x-kubernetes-list-map-keys") or ())
    return None if node.empty else node


def validate(node: SchemaRules | None, new: Any, old: Any = None, *, update: bool = False) -> list[Violation]:
    """Evaluate the rules against a new value (and the old one on update)."""
    if node is None:
        return []
    return _walk(node, new, old, has_old=update and old is not None, path="")


def _compile_rule(raw: Mapping[str, Any], where: str) -> Rule:
    text = raw.get("rule")
    if not isinstance(text, str) or not text.strip():
        raise RuleCompileError(f"{where}.rule: Required value")
    message_expression = None
    if isinstance(raw.get("messageExpression"), str):
        message_expression = _program(raw["messageExpression"], f"{where}.messageExpression")
    idiom = _UNCHANGED_OR.fullmatch(text)
    return Rule(
        rule=text,
        unchanged_path=tuple(idiom.group(1).split(".")[1:]) if idiom else None,
        program=_program(text, f"{where}.rule"),
        transition=bool(_OLD_SELF.search(text)),
        message=raw.get("message"),
        message_expression=message_expression,
        field_path=raw.get("fieldPath"),
        reason=raw.get("reason") or "FieldValueInvalid",
    )


def _program(text: str, where: str) -> celpy.Runner:
    try:
        return _ENV.program(_ENV.compile(text))
    except Exception as exc:  # cel-python raises parser-specific errors of several kinds
        raise RuleCompileError(f"{where}: Invalid value: {text!r}: compilation failed: {exc}") from exc


def _walk(node: SchemaRules, new: Any, old: Any, *, has_old: bool, path: str) -> list[Violation]:
    if new is None or (has_old and new == old):  # absent values are not validated; ratcheting
        return []
    violations = [v for rule in node.rules if (v := _check(rule, node, new, old, has_old, path))]
    if isinstance(new, Mapping):
        old_map = old if has_old and isinstance(old, Mapping) else {}
        for name, child in node.properties.items():
            if name in new:
                sub = _join(path, name)
                violations += _walk(child, new[name], old_map.get(name), has_old=name in old_map, path=sub)
        if node.additional is not None:
            for key, value in new.items():
                violations += _walk(
                    node.additional, value, old_map.get(key), has_old=key in old_map, path=f"{path}[{key}]"
                )
    if isinstance(new, list) and node.items is not None:
        old_by_key = _index_map_list(node, old) if has_old else {}
        for index, item in enumerate(new):
            old_item = old_by_key.get(_map_key(node, item)) if old_by_key else None
            sub = f"{path}[{index}]"
            violations += _walk(node.items, item, old_item, has_old=old_item is not None, path=sub)
    return violations


def _check(rule: Rule, node: SchemaRules, new: Any, old: Any, has_old: bool, path: str) -> Violation | None:
    if rule.transition and not has_old:
        return None
    if rule.unchanged_path and _same(_at(new, rule.unchanged_path), _at(old, rule.unchanged_path)):
        return None
    activation = {"self": celpy.json_to_cel(new)}
    if rule.transition:
        activation["oldSelf"] = celpy.json_to_cel(old)
    field = _join(path, rule.field_path.lstrip(".")) if rule.field_path else path
    value_type = node.type or _json_type(new)
    try:
        result: Any = rule.program.evaluate(activation)
    except Exception as exc:  # evaluation errors (no such key, division by zero...) reject the write
        result = exc
    if isinstance(result, Exception):  # cel-python raises some errors and returns others
        reason = result.args[0] if result.args else result
        return Violation(field, value_type, f"{reason} evaluating rule: {rule.rule}")
    if not isinstance(result, celtypes.BoolType):
        return Violation(field, value_type, f"rule did not evaluate to a bool: {rule.rule}")
    if result:
        return None
    return Violation(field, value_type, _message(rule, activation), rule.reason)


def _message(rule: Rule, activation: dict[str, Any]) -> str:
    if rule.message_expression is not None:
        try:
            text = rule.message_expression.evaluate(activation)
        except Exception:  # the API server falls back to the static message too
            text = None
        if isinstance(text, str) and text.strip():
            return str(text)
    return rule.message or f"failed rule: {rule.rule}"


def _index_map_list(node: SchemaRules, old: Any) -> dict[tuple[Any, ...], Any]:
    if not node.map_keys or not isinstance(old, list):
        return {}
    return {_map_key(node, item): item for item in old if isinstance(item, Mapping)}


def _map_key(node: SchemaRules, item: Any) -> tuple[Any, ...]:
    if not node.map_keys or not isinstance(item, Mapping):
        return ()
    return tuple(item.get(key) for key in node.map_keys)


def _at(value: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        if not isinstance(value, Mapping) or name not in value:
            return _MISSING
        value = value[name]
    return value


def _same(a: Any, b: Any) -> bool:
    """Equal JSON values of the same types all the way down: then CEL's `==` is true as well (Python's
    `==` alone would also equate `true` with `1`, and `1` with `1.0`, which CEL may not)."""
    if a is _MISSING or b is _MISSING or type(a) is not type(b):
        return False
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _json_type(value: Any) -> str:
    match value:
        case bool():
            return "boolean"
        case int():
            return "integer"
        case float():
            return "number"
        case str():
            return "string"
        case list():
            return "array"
        case _:
            return "object"
