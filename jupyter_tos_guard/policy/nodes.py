"""Reading composed YAML nodes with their positions, so every problem names file, line and column.

The loader walks a policy file's nodes (not plain dicts) through a `NodeReader`; so does each
matcher kind's `parse` (see `matchers/`), which is how a kind added later reports its problems
as precisely as the built-in ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import yaml

from .errors import Problem


class NodeReader:
    """Walks composed YAML nodes, validating as it goes and collecting problems."""

    def __init__(self, source: str):
        self.source = source
        self.problems: list[Problem] = []

    def problem(self, node: yaml.Node, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.source, mark.line + 1, mark.column + 1, message))

    def scalar(self, node: yaml.Node, what: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.problem(node, f"{what} must be a single value, not a {node_kind(node)}")
            return None
        tag = node.tag.rsplit(":", 1)[-1]
        if tag == "bool":
            return node.value.lower() in ("true", "yes", "on")
        if tag == "int":
            try:
                return int(node.value)
            except ValueError:
                return node.value
        if tag == "null":
            return None
        return node.value

    def string(self, node: yaml.Node, what: str, *, empty_ok: bool = False) -> str | None:
        value = self.scalar(node, what)
        if value is None and not isinstance(node, yaml.ScalarNode):
            return None
        if isinstance(value, (bool, int)) or (value is None and node.value):
            reads = {bool: "true/false", int: "a number"}.get(type(value), "null")
            self.problem(node, f"{what} must be text, but YAML reads {node.value!r} as {reads}; put it in quotes")
            return None
        if not isinstance(value, str) or (not empty_ok and not value.strip()):
            self.problem(node, f"{what} must be a non-empty string")
            return None
        return value

    def mapping(self, node: yaml.Node, what: str, allowed: Sequence[str]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping, not a {node_kind(node)}")
            return {}
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.problem(key_node, f"{what} has a key that is not a string")
                continue
            if key in out:
                self.problem(key_node, f"{what} has the key {key!r} twice")
                continue
            if key not in allowed:
                close = suggest(key, allowed)
                self.problem(
                    key_node,
                    f"unknown key {key!r} in {what}{close}; expected one of: {', '.join(allowed)}",
                )
                continue
            out[key] = (key_node, value_node)
        return out

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        self.problem(node, f"{what} must be a list, not a {node_kind(node)}")
        return []

    def strings(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        values = []
        for item in self.sequence(node, what):
            s = self.string(item, f"each entry of {what}")
            if s is not None:
                values.append(s)
        return tuple(values)


def node_kind(node: yaml.Node) -> str:
    kinds: dict[type[yaml.Node], str] = {yaml.MappingNode: "mapping", yaml.SequenceNode: "list"}
    return kinds.get(type(node), "single value")


def suggest(key: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
