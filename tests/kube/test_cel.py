"""CRD validation rules behave as the API server's: paths, messages, transition rules, compile errors."""

from __future__ import annotations

import pytest

from sagemaker_operator.kube import cel

SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "x-kubernetes-validations": [
                {
                    "rule": "self.replicas <= 10",
                    "fieldPath": ".replicas",
                    "messageExpression": "'at most 10 replicas, got ' + string(self.replicas)",
                }
            ],
            "properties": {
                "channels": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {
                        "type": "object",
                        "x-kubernetes-validations": [
                            {"rule": "self.uri == oldSelf.uri", "message": "a channel's uri is immutable"},
                        ],
                    },
                }
            },
        }
    },
}


def test_message_expression_and_field_path_shape_the_error() -> None:
    [violation] = cel.validate(cel.compile_schema(SCHEMA), {"spec": {"replicas": 11}})

    assert str(violation) == 'spec.replicas: Invalid value: "object": at most 10 replicas, got 11'


def test_transition_rules_follow_map_list_items_by_key() -> None:
    rules = cel.compile_schema(SCHEMA)
    old = {"spec": {"replicas": 1, "channels": [{"name": "train", "uri": "s3://a"}]}}
    reordered_and_added = {
        "spec": {"replicas": 1, "channels": [{"name": "test", "uri": "s3://new"}, {"name": "train", "uri": "s3://a"}]}
    }
    edited = {
        "spec": {"replicas": 1, "channels": [{"name": "test", "uri": "s3://new"}, {"name": "train", "uri": "s3://b"}]}
    }

    assert cel.validate(rules, reordered_and_added, old, update=True) == []
    assert [str(v) for v in cel.validate(rules, edited, old, update=True)] == [
        'spec.channels[1]: Invalid value: "object": a channel\'s uri is immutable',
    ]
    assert cel.validate(rules, edited) == []  # transition rules do not run on create


def test_a_rule_that_does_not_parse_is_refused_with_its_location() -> None:
    schema = {"type": "object", "properties": {"spec": {"x-kubernetes-validations": [{"rule": "self =="}]}}}

    with pytest.raises(cel.RuleCompileError, match=r"properties\[spec\]\.x-kubernetes-validations\[0\]"):
        cel.compile_schema(schema)


def _root_rule(rule: str) -> cel.SchemaRules | None:
    return cel.compile_schema({"type": "object", "x-kubernetes-validations": [{"rule": rule, "message": "no"}]})


@pytest.mark.parametrize(
    ("rule", "old", "new", "allowed"),
    [
        # The immutability idiom: a status change passes, a spec change is judged by the rest of the rule.
        ("self.spec == oldSelf.spec || oldSelf.open", {"spec": {"a": 1}}, {"spec": {"a": 1}, "status": {}}, True),
        ("self.spec == oldSelf.spec || oldSelf.open", {"spec": {"a": 1}}, {"spec": {"a": 2}}, False),
        ("self.spec == oldSelf.spec || oldSelf.open", {"spec": {"a": 1}, "open": True}, {"spec": {"a": 2}}, True),
        # A ternary takes the whole `||` as its condition: no shortcut.
        ("self.spec == oldSelf.spec || false ? false : true", {"spec": {"a": 1}}, {"spec": {"a": 1}, "x": 1}, False),
    ],
)
def test_the_immutability_idiom_answers_as_cel_does(rule: str, old: dict, new: dict, allowed: bool) -> None:
    assert (cel.validate(_root_rule(rule), new, old, update=True) == []) is allowed
