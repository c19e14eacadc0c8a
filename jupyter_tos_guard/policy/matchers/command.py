"""`command: NAME` or `command: {name: NAME, args: REGEX}`: an executable run from a shell line,
`subprocess`, `os.system` ... known by its basename (a `*` glob), optionally narrowed by an RE2
pattern on its arguments."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from ..evidence import Evidence
from ..indexes import Glob, GlobIndex, TextWords, literal_runs
from ..matching import Found, FoundMap
from ..nodes import NodeReader
from ..patterns import compile_re2, re2_problem
from .base import Index, Kind, Needle, check_name_glob


@dataclass(frozen=True)
class CommandMatcher:
    """An executable's basename (glob), optionally narrowed by an RE2 pattern on its arguments."""

    name: str
    args: str | None = None
    kind: Literal["command"] = "command"

    @property
    def pattern(self) -> str:
        return self.name + (f" /{self.args}/" if self.args else "")


_SHELL_GLOB = re.compile(r"\*|\?|\[[^\]]+\]")


class CommandIndex(Index[CommandMatcher]):
    evidence = ("command",)

    def __init__(self) -> None:
        self.names: dict[str, list[tuple[int, CommandMatcher, Any]]] = defaultdict(list)
        self.globs = GlobIndex()  # payload: (rule index, matcher, args regex)
        # a name each command would have, for a glob the student types (`./xmr*`)
        self.samples: list[tuple[str, int, CommandMatcher, Any]] = []

    def add(self, rule: int, matcher: CommandMatcher) -> None:
        args = compile_re2(matcher.args) if matcher.args else None
        if "*" in matcher.name:
            self.globs.add(matcher.name, (rule, matcher, args))
        else:
            self.names[matcher.name].append((rule, matcher, args))
        self.samples.append((matcher.name.replace("*", "").lower(), rule, matcher, args))

    def build(self) -> None:
        self.globs.build()

    def match(self, ev: Evidence, found: FoundMap) -> None:
        name = ev.value.lower()
        candidates = [(idx, m, args) for idx, m, args in self.names.get(name, ())]
        candidates += self.globs.matches(name)
        if _SHELL_GLOB.search(name) and len(_SHELL_GLOB.sub("", name)) >= 3:
            # the program is a glob (`./xmr*`, `./[x]mrig`): whatever it expands to runs; a glob
            # with fewer than three literal characters says too little to name a tool
            glob = Glob(name)
            candidates += [(idx, m, args) for sample, idx, m, args in self.samples if glob.match(sample)]
        for idx, m, args in candidates:
            if args is None or args.search(ev.detail):
                found[idx].append(Found.whole(m, ev, f"{ev.value} {ev.detail}".strip()))


class CommandKind(Kind[CommandMatcher]):
    name = "command"
    names_a_tool = True
    unless_reads = "command"

    def parse(self, reader: NodeReader, node: yaml.Node) -> CommandMatcher | None:
        if isinstance(node, yaml.ScalarNode):
            name = reader.string(node, "the command matcher")
            if name is None or not check_name_glob(reader, node, name, "command"):
                return None
            return CommandMatcher(name.lower())
        entries = reader.mapping(node, "a command matcher", ("name", "args"))
        if "name" not in entries:
            reader.problem(node, "a command matcher needs a name")
            return None
        name = reader.string(entries["name"][1], "command name")
        if name is None or not check_name_glob(reader, entries["name"][1], name, "command"):
            return None
        args = None
        if "args" in entries:
            args = reader.string(entries["args"][1], "args")
            if args is not None:
                why = re2_problem(args)
                if why:
                    reader.problem(entries["args"][1], why)
                    return None
        return CommandMatcher(name.lower(), args)

    def needles(self, matcher: CommandMatcher) -> Iterable[Needle]:
        return literal_runs(matcher.name)

    def index(self, words: TextWords) -> CommandIndex:
        return CommandIndex()


KIND = CommandKind()
