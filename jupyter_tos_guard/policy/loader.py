"""Load policy files: YAML in, a layered `Policy` out, or every problem at once.

The YAML is composed into nodes (not loaded into plain dicts) so each problem can name the
file, line and column where it was written. Layers apply in order: the embedded default
first, then each operator file, which may add rules, override fields of an existing rule by
id, or disable rules.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import gc
import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import PolicyError, Problem
from .exemptions import Exemption
from .matchers import KINDS
from .matching import Matcher
from .model import (
    RULE_ACTIONS,
    SEVERITIES,
    Action,
    GroupCondition,
    Policy,
    Position,
    Rule,
    RuleTests,
    Severity,
)
from .nodes import NodeReader
from .patterns import compile_re2, re2_problem

__all__ = [
    "compile_re2",  # where the engine and the benchmarks have always found them
    "default_policy_texts",
    "load_policy",
    "load_texts",
    "merge_layers",
    "parse_layer",
    "re2_problem",
    "read_sources",
    "without_gc",
]

# libyaml's composer is ~10x faster than the pure-Python one; it matters for 10,000-rule files.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_NOT_PLAIN_TEXT = frozenset("0123456789+-.~yYnNtTfFoO<=")  # what a bool, number, null, date... starts with


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        """Most scalars are plain text (ids, titles, messages, patterns): say so without running
        YAML's implicit-type regexes, which cost more than reading the file."""
        if kind is yaml.ScalarNode and implicit[0] and value and value[0] not in _NOT_PLAIN_TEXT:
            return _STR_TAG
        return str(super().resolve(kind, value, implicit))


@contextlib.contextmanager
def without_gc() -> Iterator[None]:
    """A big policy composes hundreds of thousands of acyclic nodes: the cycle collector would
    walk them again and again for nothing (it doubles the load time of 10,000 rules)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


SUPPORTED_VERSIONS = (1,)
DOCUMENT_KEYS = ("version", "name", "info_url", "appeal_url", "contact", "rules", "disable", "exemptions", "groups")
GROUP_KEYS = ("group", "rules", "action")
EXEMPTION_KEYS = ("id", "users", "groups", "rules", "categories", "reason", "expires")
RULE_KEYS = (
    "id",
    "category",
    "title",
    "severity",
    "action",
    "message",
    "references",
    "match",
    "unless",
    "private",
    "tests",
    "enabled",
    "require",
    "confidence",
)
CONFIDENCES = ("low", "medium", "high")
REQUIRED_RULE_KEYS = ("id", "category", "title", "action", "message", "match")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_CATEGORY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass
class _RuleEntry:
    """One rule mapping as written: validated fields, possibly partial (an override)."""

    fields: dict[str, Any]
    position: Position
    invalid: set[str] = field(default_factory=set)  # fields written but refused (already reported)


@dataclass
class _Layer:
    source: str
    header: dict[str, Any]
    rules: list[_RuleEntry]
    disable: list[tuple[str, Position]]
    exemptions: list[Exemption] = field(default_factory=list)
    groups: list[GroupCondition] = field(default_factory=list)


def _pos(source: str, node: yaml.Node) -> Position:
    return Position(source, node.start_mark.line + 1, node.start_mark.column + 1)


def _parse_matcher(reader: NodeReader, node: yaml.Node) -> Matcher | None:
    """`{KIND: VALUE}`: one matcher, read by its kind (see `matchers/`)."""
    names = KINDS.names()
    entries = reader.mapping(node, "a matcher", names)
    if not entries:
        if isinstance(node, yaml.MappingNode) and not node.value:
            reader.problem(node, f"a matcher needs one of: {', '.join(names)}")
        return None
    if len(entries) != 1:
        reader.problem(node, "a matcher has exactly one kind; write each as its own list item")
        return None
    kind, (_, value) = next(iter(entries.items()))
    matcher: Matcher | None = KINDS[kind].parse(reader, value)
    return matcher


def _parse_rule(reader: NodeReader, node: yaml.Node) -> _RuleEntry | None:
    entries = reader.mapping(node, "a rule", RULE_KEYS)
    if not isinstance(node, yaml.MappingNode):
        return None
    fields: dict[str, Any] = {}
    invalid: set[str] = set()
    for key, (_, value) in entries.items():
        before = len(reader.problems)
        parsed = _parse_rule_field(reader, key, value)
        if len(reader.problems) == before and parsed is not None:
            fields[key] = parsed
        else:
            invalid.add(key)
    if "id" not in entries:
        reader.problem(node, "a rule needs an id")
        return None
    if "id" not in fields:
        return None
    return _RuleEntry(fields, _pos(reader.source, node), invalid)


def _parse_message(reader: NodeReader, node: yaml.Node) -> dict[str, str] | None:
    """`message: text` (for every action), or one text per action: `message: {warn: ..., block: ...}`.
    The key "" stands for the plain form."""
    if not isinstance(node, yaml.MappingNode):
        text = reader.string(node, "message")
        return None if text is None else {"": text.strip()}
    texts = {}
    for action, (_, value) in reader.mapping(node, "message", RULE_ACTIONS).items():
        text = reader.string(value, f"the {action} message")
        if text is not None:
            texts[action] = text.strip()
    if not texts and not node.value:
        reader.problem(node, f"message needs a text, or a text for some of: {', '.join(RULE_ACTIONS)}")
    return texts or None


def _message_fields(texts: dict[str, str], action: Action) -> dict[str, Any]:
    """Rule fields for the parsed `message`: the text for its own action (or the first written)
    as `message`, and each per-action text in `messages`."""
    if "" in texts:
        return {"message": texts[""], "messages": ()}
    written = tuple(texts.items())
    rule = Rule("", "", "", Severity.MEDIUM, action, next(iter(texts.values())), (), messages=written)
    return {"message": rule.message_for(action), "messages": written}


def _parse_rule_field(reader: NodeReader, key: str, value: yaml.Node) -> Any:
    if key == "id":
        text = reader.string(value, "id")
        if text is not None and not _ID_RE.match(text):
            reader.problem(value, f"id {text!r} must be lowercase letters, digits, '.', '_' or '-', e.g. mining.xmrig")
            return None
        return text
    if key == "category":
        text = reader.string(value, "category")
        if text is not None and not _CATEGORY_RE.match(text):
            reader.problem(value, f"category {text!r} must be lowercase letters, digits, '_' or '-'")
            return None
        return text
    if key == "title":
        return reader.string(value, key)
    if key == "message":
        return _parse_message(reader, value)
    if key == "severity":
        text = reader.string(value, "severity")
        if text is not None and text not in SEVERITIES:
            reader.problem(value, f"severity {text!r} must be one of: {', '.join(SEVERITIES)}")
            return None
        return Severity[text.upper()] if text else None
    if key == "action":
        text = reader.string(value, "action")
        if text is not None and text not in RULE_ACTIONS:
            reader.problem(value, f"action {text!r} must be one of: {', '.join(RULE_ACTIONS)}")
            return None
        return Action.parse(text) if text else None
    if key == "references":
        return reader.strings(value, "references")
    if key in ("private", "enabled"):
        flag = reader.scalar(value, key)
        if not isinstance(flag, bool):
            reader.problem(value, f"{key} must be true or false")
            return None
        return flag
    if key == "require":  # "any", "all", or how many of the matchers
        raw = reader.scalar(value, "require")
        if raw in ("any", "all") or (isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1):
            return raw
        reader.problem(value, f"require must be any, all or a number of matchers (1 or more), not {raw!r}")
        return None
    if key == "confidence":
        text = reader.string(value, "confidence")
        if text is not None and text not in CONFIDENCES:
            reader.problem(value, f"confidence {text!r} must be one of: {', '.join(CONFIDENCES)}")
            return None
        return text
    if key == "match":
        items = reader.sequence(value, "match")
        if isinstance(value, yaml.SequenceNode) and not items:
            reader.problem(value, "match must list at least one matcher")
            return None
        matchers = [_parse_matcher(reader, item) for item in items]
        return tuple(m for m in matchers if m is not None)
    if key == "unless":
        patterns = []
        for item in reader.sequence(value, "unless"):
            pattern = reader.string(item, "each entry of unless")
            if pattern is None:
                continue
            why = re2_problem(pattern)
            if why:
                reader.problem(item, why)
            patterns.append(pattern)
        return tuple(patterns)
    if key == "tests":
        entries = reader.mapping(value, "tests", ("flag", "allow"))
        flag = reader.strings(entries["flag"][1], "tests.flag") if "flag" in entries else ()
        allow = reader.strings(entries["allow"][1], "tests.allow") if "allow" in entries else ()
        return RuleTests(flag, allow)
    raise AssertionError(key)


def parse_layer(text: str, source: str) -> tuple[_Layer | None, list[Problem]]:
    """Parse one policy file's text. Returns the layer and every problem found in it."""
    reader = NodeReader(source)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        started = exc.context_mark
        if exc.context and exc.problem and started is not None and started.line + 1 != line:
            # e.g. an unclosed quote: say where the unfinished thing began, not only where the file ended
            what = f"{what} ({exc.context} that began at line {started.line + 1}, column {started.column + 1})"
        return None, [Problem(source, line, col, f"invalid YAML: {what}")]
    except yaml.YAMLError as exc:
        return None, [Problem(source, 1, 1, f"invalid YAML: {exc}")]
    if root is None:
        return None, [Problem(source, 1, 1, "the file is empty; a policy needs at least 'version: 1'")]
    doc = reader.mapping(root, "the policy file", DOCUMENT_KEYS)
    header: dict[str, Any] = {}
    if not isinstance(root, yaml.MappingNode):
        return None, reader.problems  # already said: the file must be a mapping
    if "version" not in doc:
        reader.problem(root, "the policy file needs 'version: 1'")
    else:
        version = reader.scalar(doc["version"][1], "version")
        if version not in SUPPORTED_VERSIONS:
            reader.problem(doc["version"][1], f"version {version!r} is not supported; use version: 1")
        header["version"] = version
    for key in ("name", "info_url", "appeal_url", "contact"):
        if key in doc:
            value = reader.string(doc[key][1], key)
            if value is not None:
                header[key] = value
    rules: list[_RuleEntry] = []
    seen: dict[str, Position] = {}
    if "rules" in doc:
        for item in reader.sequence(doc["rules"][1], "rules"):
            entry = _parse_rule(reader, item)
            if entry is None:
                continue
            rid = entry.fields["id"]
            if rid in seen:
                reader.problem(item, f"rule id {rid!r} is already used at line {seen[rid].line} of this file")
                continue
            seen[rid] = entry.position
            rules.append(entry)
    disable: list[tuple[str, Position]] = []
    if "disable" in doc:
        for item in reader.sequence(doc["disable"][1], "disable"):
            value = reader.string(item, "each entry of disable")
            if value is not None:
                disable.append((value, _pos(source, item)))
    exemptions: list[Exemption] = []
    if "exemptions" in doc:
        for item in reader.sequence(doc["exemptions"][1], "exemptions"):
            exemptions.extend(_parse_exemption(reader, item))
    groups: list[GroupCondition] = []
    if "groups" in doc:
        for item in reader.sequence(doc["groups"][1], "groups"):
            condition = _parse_group(reader, item)
            if condition is not None:
                groups.append(condition)
    return _Layer(source, header, rules, disable, exemptions, groups), reader.problems


def _parse_group(reader: NodeReader, node: yaml.Node) -> GroupCondition | None:
    """`{group: NAME, action: ACTION, rules: [ids, globs or category:NAME]}` (rules: every rule)."""
    entries = reader.mapping(node, "a groups entry", GROUP_KEYS)
    if not isinstance(node, yaml.MappingNode):
        return None
    for key in ("group", "action"):
        if key not in entries:
            reader.problem(node, f"a groups entry needs {key!r} (e.g. group: restricted, action: block)")
    if "group" not in entries or "action" not in entries:
        return None
    group = reader.string(entries["group"][1], "group")
    action = reader.string(entries["action"][1], "action")
    if action is not None and action not in RULE_ACTIONS:
        reader.problem(entries["action"][1], f"action {action!r} must be one of: {', '.join(RULE_ACTIONS)}")
        return None
    targets = reader.strings(entries["rules"][1], "rules") if "rules" in entries else ("*",)
    if group is None or action is None or not targets:
        return None
    return GroupCondition(group, Action.parse(action), targets, _pos(reader.source, node))


def _parse_exemption(reader: NodeReader, node: yaml.Node) -> list[Exemption]:
    """One YAML exemption -> one Exemption per rule pattern or category it names."""
    entries = reader.mapping(node, "an exemption", EXEMPTION_KEYS)
    if not isinstance(node, yaml.MappingNode):
        return []
    got: dict[str, Any] = {}
    for key in ("users", "groups", "rules", "categories"):
        if key in entries:
            got[key] = reader.strings(entries[key][1], key)
    for key in ("id", "reason"):
        if key in entries:
            got[key] = reader.string(entries[key][1], key)
    expires = None
    if "expires" in entries:
        value_node = entries["expires"][1]
        text = value_node.value if isinstance(value_node, yaml.ScalarNode) else None
        try:
            expires = datetime.fromisoformat(str(text))
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
        except ValueError:
            reader.problem(value_node, f"expires {text!r} must be a date or time such as 2027-01-31")
            return []
    if not got.get("users") and not got.get("groups"):
        reader.problem(node, "an exemption must name users or groups")
        return []
    if not got.get("rules") and not got.get("categories"):
        reader.problem(node, "an exemption must name rules (ids or globs) or categories")
        return []
    common: dict[str, Any] = dict(
        users=tuple(got.get("users", ())),
        groups=tuple(got.get("groups", ())),
        reason=got.get("reason") or "",
        expires=expires,
        source=reader.source,
        id=got.get("id"),
    )
    return [Exemption(rule=r, **common) for r in got.get("rules", ())] + [
        Exemption(category=c, **common) for c in got.get("categories", ())
    ]


def _required(require: Any, matchers: int) -> int:
    if require == "all":
        return matchers
    if require == "any":
        return 1
    return min(int(require), matchers)


def _build_rule(entry: _RuleEntry, source: str) -> tuple[Rule | None, list[Problem]]:
    f = entry.fields
    missing = [k for k in REQUIRED_RULE_KEYS if k not in f and k not in entry.invalid]
    if entry.invalid & set(REQUIRED_RULE_KEYS):
        return None, []  # its problems are already reported where they were written
    if missing:
        p = entry.position
        return None, [
            Problem(
                source,
                p.line,
                p.column,
                f"rule {f['id']!r} is missing {', '.join(missing)} (it is not defined in an earlier "
                "layer, so this is not an override)",
            )
        ]
    if not f["match"]:
        return None, []  # every matcher was invalid; those problems are already reported
    rule = Rule(
        id=f["id"],
        category=f["category"],
        title=f["title"],
        severity=f.get("severity", Severity.MEDIUM),
        action=f["action"],
        matchers=f["match"],
        **_message_fields(f["message"], f["action"]),
        unless=f.get("unless", ()),
        references=f.get("references", ()),
        private=f.get("private", False),
        tests=f.get("tests", RuleTests()),
        origin=entry.position,
        require=_required(f.get("require", "any"), len(f["match"])),
        confidence=f.get("confidence", "high"),
    )
    return rule, []


_OVERRIDABLE = {
    "category": "category",
    "title": "title",
    "severity": "severity",
    "action": "action",
    "references": "references",
    "match": "matchers",
    "unless": "unless",
    "private": "private",
    "tests": "tests",
    "confidence": "confidence",
}


def _closest_rule(rule_id: str, rules: dict[str, Rule]) -> str:
    close = difflib.get_close_matches(rule_id, list(rules), n=1, cutoff=0.8)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _override_message(rule: Rule, texts: dict[str, str], changes: dict[str, Any]) -> dict[str, Any]:
    """A plain message replaces every text; per-action texts replace only the actions they name."""
    if "" in texts:
        return _message_fields(texts, changes.get("action", rule.action))
    merged = dict(rule.messages) if rule.messages else {rule.action.label: rule.message}
    merged.update(texts)
    return _message_fields(merged, changes.get("action", rule.action))


def merge_layers(layers: Sequence[_Layer]) -> tuple[Policy, list[Problem]]:
    """Apply layers in order: add rules, override fields by id, disable by id or category."""
    problems: list[Problem] = []
    rules: dict[str, Rule] = {}
    header: dict[str, Any] = {"name": "terms-of-use policy", "version": 1}
    for layer in layers:
        header.update(layer.header)
        for entry in layer.rules:
            rid = entry.fields["id"]
            enabled = entry.fields.get("enabled", True)
            if rid in rules:
                changes = {_OVERRIDABLE[k]: v for k, v in entry.fields.items() if k in _OVERRIDABLE}
                if "message" in entry.fields:
                    changes.update(_override_message(rules[rid], entry.fields["message"], changes))
                elif "action" in changes and rules[rid].messages:  # the text written for the new action
                    changes["message"] = replace(rules[rid], action=changes["action"]).message_for()
                if "matchers" in changes and not changes["matchers"]:
                    changes.pop("matchers")
                if "require" in entry.fields:
                    count = len(changes.get("matchers", rules[rid].matchers))
                    changes["require"] = _required(entry.fields["require"], count)
                rules[rid] = replace(rules[rid], **changes)
                if not enabled:
                    del rules[rid]
                continue
            if not enabled and set(entry.fields) <= {"id", "enabled"}:
                p = entry.position
                problems.append(
                    Problem(
                        layer.source,
                        p.line,
                        p.column,
                        f"cannot disable {rid!r}: no earlier layer defines it{_closest_rule(rid, rules)}",
                    )
                )
                continue
            missing = [k for k in REQUIRED_RULE_KEYS if k not in entry.fields]
            hint = _closest_rule(rid, rules) if missing else ""
            if hint:  # a misspelled id in an override, not a new rule missing its keys
                p = entry.position
                problems.append(
                    Problem(layer.source, p.line, p.column, f"{rid!r} overrides no rule defined so far{hint}")
                )
                continue
            rule, errs = _build_rule(entry, layer.source)
            problems.extend(errs)
            if rule is not None and enabled:
                rules[rid] = rule
        for condition in layer.groups:
            for target in condition.rules:
                named = GroupCondition(condition.group, condition.action, (target,))
                if not any(named.applies(r) for r in rules.values()):
                    hint = "" if target.startswith("category:") or "*" in target else _closest_rule(target, rules)
                    p = condition.origin or Position(layer.source, 1, 1)
                    problems.append(
                        Problem(
                            layer.source, p.line, p.column, f"groups: {target!r} names no rule defined so far{hint}"
                        )
                    )
        for target, p in layer.disable:
            if target.startswith("category:"):
                category = target.split(":", 1)[1]
                victims = [rid for rid, r in rules.items() if r.category == category]
            else:
                victims = [rid for rid in rules if fnmatch.fnmatchcase(rid, target)]
            if not victims:
                hint = "" if target.startswith("category:") or "*" in target else _closest_rule(target, rules)
                problems.append(
                    Problem(layer.source, p.line, p.column, f"disable {target!r} matches no rule defined so far{hint}")
                )
            for rid in victims:
                del rules[rid]
    policy = Policy(
        exemptions=tuple(e for layer in layers for e in layer.exemptions),
        groups=tuple(g for layer in layers for g in layer.groups),
        name=header["name"],
        version=header["version"] if isinstance(header["version"], int) else 1,
        rules=tuple(rules.values()),
        info_url=header.get("info_url"),
        appeal_url=header.get("appeal_url"),
        contact=header.get("contact"),
        sources=tuple(layer.source for layer in layers),
    )
    return policy, problems


def default_policy_texts() -> list[tuple[str, str]]:
    """The embedded default policy: (source name, YAML text) per file, in load order."""
    folder = resources.files("jupyter_tos_guard.policy") / "default"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)
    return [(f"<default>/{f.name}", f.read_text(encoding="utf-8")) for f in files]


def read_sources(paths: Iterable[str | Path]) -> tuple[list[tuple[str, str]], list[Problem]]:
    texts: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for path in paths:
        p = Path(path)
        try:
            texts.append((str(p), p.read_text(encoding="utf-8")))
        except FileNotFoundError:
            problems.append(Problem(str(p), 1, 1, "no such file"))
        except IsADirectoryError:
            problems.append(Problem(str(p), 1, 1, "is a directory, not a policy file"))
        except UnicodeDecodeError as exc:
            before = exc.object[: exc.start]
            line = before.count(b"\n") + 1
            column = len(before) - (before.rfind(b"\n") + 1) + 1
            problems.append(
                Problem(
                    str(p), line, column, f"not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as UTF-8"
                )
            )
        except OSError as exc:
            problems.append(Problem(str(p), 1, 1, f"cannot read: {exc.strerror or exc}"))
    return texts, problems


def load_texts(texts: Sequence[tuple[str, str]]) -> Policy:
    """Layer already-read (source, text) pairs; raises PolicyError listing every problem."""
    layers: list[_Layer] = []
    problems: list[Problem] = []
    digest = hashlib.sha256()
    with without_gc():
        for source, text in texts:
            digest.update(source.encode() + b"\0" + text.encode() + b"\0")
            layer, errs = parse_layer(text, source)
            problems.extend(errs)
            if layer is not None:
                layers.append(layer)
        policy, errs = merge_layers(layers)
    problems.extend(errs)
    if problems:
        order = {source: i for i, (source, _) in enumerate(texts)}
        problems.sort(key=lambda p: (order.get(p.source, len(order)), p.line, p.column))  # reading order
        raise PolicyError(problems)
    return replace(policy, digest=digest.hexdigest())


def load_policy(paths: Sequence[str | Path] = (), *, include_default: bool = True) -> Policy:
    """The embedded default (unless excluded) layered with the operator's files, in order."""
    texts = default_policy_texts() if include_default else []
    extra, problems = read_sources(paths)
    if problems:
        raise PolicyError(problems)
    return load_texts(texts + extra)
