"""`repo: owner/name` (optionally `host/owner/name`, `*` for a part): a repository cloned,
downloaded or installed from a code host (GitHub, GitLab, Hugging Face ...)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import yaml

from ..evidence import Evidence
from ..indexes import Glob, GlobIndex, TextWords, literal_runs
from ..matching import Found, FoundMap
from ..nodes import NodeReader
from .base import Index, Kind, Needle, is_name_glob


@dataclass(frozen=True)
class RepoMatcher:
    """`owner/name` with optional `*` globs and optional host (`huggingface.co/owner/name`)."""

    owner: str
    name: str
    host: str | None = None
    kind: Literal["repo"] = "repo"

    @property
    def pattern(self) -> str:
        prefix = f"{self.host}/" if self.host else ""
        return f"{prefix}{self.owner}/{self.name}"


class RepoIndex(Index[RepoMatcher]):
    evidence = ("repo",)

    def __init__(self) -> None:
        self.names: dict[str, list[tuple[int, RepoMatcher, Glob | None]]] = defaultdict(list)
        self.name_globs = GlobIndex()  # on the name; payload: (rule index, matcher, owner glob)
        self.owner_globs = GlobIndex()  # "owner/*": on the owner; payload: (rule index, matcher)

    def add(self, rule: int, matcher: RepoMatcher) -> None:
        owner = None if matcher.owner == "*" else Glob(matcher.owner)
        if matcher.name == "*":
            self.owner_globs.add(matcher.owner, (rule, matcher))
        elif "*" in matcher.name:
            self.name_globs.add(matcher.name, (rule, matcher, owner))
        else:
            self.names[matcher.name].append((rule, matcher, owner))

    def build(self) -> None:
        self.name_globs.build()
        self.owner_globs.build()

    def match(self, ev: Evidence, found: FoundMap) -> None:
        owner, _, name = ev.value.partition("/")
        candidates = list(self.names.get(name, ())) + self.name_globs.matches(name)
        candidates += [(idx, m, None) for idx, m in self.owner_globs.matches(owner)]
        for idx, m, owner_glob in candidates:
            if (owner_glob is None or owner_glob.match(owner)) and (m.host is None or m.host == ev.detail):
                found[idx].append(Found.whole(m, ev, f"{ev.detail}/{ev.value}"))


class RepoKind(Kind[RepoMatcher]):
    name = "repo"
    names_a_tool = True
    unless_reads = "token"

    def parse(self, reader: NodeReader, node: yaml.Node) -> RepoMatcher | None:
        text = reader.string(node, "the repo matcher")
        if text is None:
            return None
        parts = text.strip().strip("/").split("/")
        host = None
        if len(parts) == 3 and "." in parts[0]:
            host, parts = parts[0].lower(), parts[1:]
        if len(parts) != 2 or not all(parts):
            reader.problem(node, f"repo {text!r} must be owner/name (optionally host/owner/name)")
            return None
        owner, name = parts
        if name.lower().endswith(".git"):
            name = name[:-4]
        ok = all(is_name_glob(p) for p in (owner, name)) and not (owner.strip("*") == "" and name.strip("*") == "")
        if not ok:
            reader.problem(node, f"repo {text!r} must be owner/name; * may stand for a part, not for both")
            return None
        return RepoMatcher(owner.lower(), name.lower(), host)

    def needles(self, matcher: RepoMatcher) -> Iterable[Needle]:
        return literal_runs(matcher.name) or literal_runs(matcher.owner)

    def index(self, words: TextWords) -> RepoIndex:
        return RepoIndex()


KIND = RepoKind()
