"""The engine: a policy compiled once, then `evaluate(code, context) -> Verdict` per cell.

Two stages keep the common case cheap. The prefilter (`prefilter.py`) reads the cell in one
RE2 set pass for every name and pattern the rules' matcher kinds give and the signs of
hiding, sinks and assembly; a cell with none of those is allowed right there. For the rest,
the places of those hits pick the statements worth reading (`windows.py`); only those are
split, parsed and normalized into evidence by the readers (`evidence.py` and the modules it
uses), which is looked up in each kind's index (`matchers/`, `indexes.py`) and turned into
rule hits (`evaluation.py`). This module only compiles a policy into those parts and runs
them in order.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .cell import SHELL_LANGUAGES, cell_body
from .evaluation import MAX_MATCHES_PER_RULE, Dispatch, hits
from .evidence import Evidence, collect
from .indexes import TextWords
from .loader import without_gc
from .matchers import KINDS
from .matchers.base import Index, Kind
from .matchers.package import normalize_package
from .matching import Found, FoundMap
from .model import Action, Policy
from .patterns import compile_re2
from .prefilter import WHOLE, Prefilter
from .signs import Signs
from .verdict import Verdict

__all__ = [
    "MAX_MATCHES_PER_RULE",
    "CompiledPolicy",
    "Engine",
    "EvaluationContext",
    "Found",
    "normalize_package",
    "normalize_text",
]


@dataclass(frozen=True)
class EvaluationContext:
    """Who runs the code and in which language; rules may use it for exemptions."""

    language: str = "python"
    user: str | None = None
    groups: tuple[str, ...] = ()


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def normalize_text(code: str) -> str:
    """Text every reader can take: lone surrogates (which a JSON message can carry, and which no
    UTF-8 encoder accepts) become U+FFFD, one for one, so every offset stays where it was."""
    if code.isascii():
        return code
    return _LONE_SURROGATE.sub("\ufffd", code)


class CompiledPolicy:
    """A policy's matchers filed once: each matcher's kind (from the registry) gives the
    prefilter its needles and patterns and files it in the kind's index."""

    def __init__(self, policy: Policy, kinds: Iterable[Kind[Any]] | None = None):
        self.policy = policy
        self.rules = policy.rules
        # the kinds as they are now: a later change to the registry leaves this policy alone
        self.kinds: dict[str, Kind[Any]] = {kind.name: kind for kind in (KINDS if kinds is None else kinds)}
        self.words = TextWords()  # fixed words in text evidence, shared by the kinds that have them
        self.indexes: dict[str, Index[Any]] = {}
        self.unless: dict[int, list[Any]] = {}
        needles: dict[str, set[tuple[bool, bool]]] = defaultdict(set)
        patterns: list[tuple[int, int, str]] = []
        needed: dict[int, int] = {}
        together: dict[tuple[int, int], list[int]] = {}  # matcher -> the patterns it needs all of
        for idx, rule in enumerate(self.rules):
            if rule.unless:
                self.unless[idx] = [compile_re2(p) for p in rule.unless]
            by_pattern = 0  # matchers known to the prefilter by patterns, not names
            for ordinal, m in enumerate(rule.matchers):
                kind = self.kinds[m.kind]
                for text, left, right in kind.needles(m):
                    needles[text.lower()].add((left, right))
                own = [(idx, ordinal, p) for p in kind.patterns(m)]
                if own:
                    required = kind.patterns_required(m)
                    if required > 1:
                        together[(idx, ordinal)] = list(range(len(patterns), len(patterns) + required))
                    patterns.extend(own)
                    by_pattern += 1
                index = self.indexes.get(m.kind)
                if index is None:
                    index = self.indexes[m.kind] = kind.index(self.words)
                index.add(idx, m)
            if rule.require > 1 and by_pattern:
                # how many of its patterns must hit for the rule to hold, even if every other
                # matcher (a command, a package ...) did
                needed[idx] = rule.require - (len(rule.matchers) - by_pattern)
        for index in self.indexes.values():
            index.build()
        self.words.build()
        self.prefilter = Prefilter(needles, patterns, needed, together)
        # what a kernel remembers of the cells it ran, for rules whose signs may be in several
        self.signs = Signs((self.rules[idx].id, pattern) for idx, _, pattern in patterns if self.rules[idx].require > 1)
        # the shared words first: a text's fixed words are listed before its patterns' finds
        consumers: list[Any] = [self.words] if self.words else []
        self.dispatch = Dispatch(consumers + [self.indexes[k] for k in self.kinds if k in self.indexes])

    @property
    def needles(self) -> dict[str, frozenset[tuple[bool, bool]]]:
        """Lowercase name -> the boundary rules of its uses: what the prefilter looks for."""
        return self.prefilter.needles

    def worth_analyzing(
        self, code: str, places: list[int] | None = None, *, shell: bool = False, settled: int = 0
    ) -> bool:
        """Whether the cell needs reading beyond the prefilter (see `Prefilter.worth_analyzing`)."""
        return self.prefilter.worth_analyzing(code, places, shell=shell, settled=settled)

    def match(self, items: Iterable[Evidence]) -> FoundMap:
        """rule index -> every place one of its matchers matched."""
        return self.dispatch.match(items)


class Engine:
    """Evaluates cells against one policy. Thread-safe for reads; build a new one to reload."""

    def __init__(self, policy: Policy, *, max_chars: int | None = None, focus: bool = True):
        self.policy = policy
        with without_gc():  # tens of thousands of index entries, none of them in a cycle
            self.compiled = CompiledPolicy(policy)
        self.max_chars = max_chars
        self.focus = focus  # False: read every deep cell whole (the reference for tests)

    def needs_analysis(self, code: str, context: EvaluationContext | None = None) -> bool:
        """Whether `evaluate` reads this cell beyond the prefilter (the deep path)."""
        language = (context or EvaluationContext()).language
        if language in SHELL_LANGUAGES:
            return True
        return self.compiled.worth_analyzing(code, shell=cell_body(code, language)[0] == "shell")

    def evaluate(
        self,
        code: str,
        context: EvaluationContext | None = None,
        *,
        deadline: float | None = None,
        prelude: str = "",
        signs: str = "",
    ) -> Verdict:
        """The verdict on one piece of code. Never raises on what a client can send: text the
        readers cannot take (lone surrogates) is normalised first, and a cell that cannot be read
        to the end (a folding budget, `deadline` — a time.monotonic() value — passed) comes back
        with `unreadable` set beside whatever matched in what was read.

        `prelude` is code that ran before (earlier cells' assignments, see `memory.py`), and
        `signs` lines that ran before holding signs of rules that need several (`signs.py`):
        both read with the cell, so a name set there resolves here, but only what matches in
        `code` counts (a match there counts toward a rule's `require`, never alone), and spans
        count from `code`'s own start. The sign lines were read when they ran: a tool name,
        hidden code or a sink in them is no reason to read this cell."""
        verdict = self._evaluate(code, context, deadline, prelude, signs, deep=True)
        assert verdict is not None
        return verdict

    def prefiltered(
        self, code: str, context: EvaluationContext | None = None, *, prelude: str = "", signs: str = ""
    ) -> Verdict | None:
        """`evaluate`'s verdict when its first pass alone decides it (nothing in the cell needs
        reading: linear, a few ms per MB), else None: for a caller that reads deep cells
        elsewhere (the guard's worker process) and need not send it the others."""
        return self._evaluate(code, context, None, prelude, signs, deep=False)

    def _evaluate(
        self,
        code: str,
        context: EvaluationContext | None,
        deadline: float | None,
        prelude: str,
        signs: str,
        *,
        deep: bool,
    ) -> Verdict | None:
        started = time.perf_counter()
        context = context or EvaluationContext()
        truncated = False
        code = normalize_text(code)
        if self.max_chars is not None and len(code) > self.max_chars:
            code, truncated = code[: self.max_chars], True
        signs = normalize_text(signs).rstrip("\n") + "\n" if signs else ""
        prelude = signs + (normalize_text(prelude).rstrip("\n") + "\n" if prelude else "")
        code = prelude + code
        # every cell is read around its interesting places only (see `windows`)
        places: list[int] = []
        shell_cell = cell_body(code, context.language, len(prelude))[0] == "shell"
        worth = self.compiled.worth_analyzing(code, places, shell=shell_cell, settled=len(signs))
        if context.language in SHELL_LANGUAGES:
            worth = True  # every line of a shell script runs something: never skip one
        if not worth:
            return Verdict(Action.ALLOW, (), (time.perf_counter() - started) * 1000, truncated)
        if not deep:
            return None
        # read around its places (windows.py reads it whole when that would keep most of it)
        focused = self.focus and WHOLE not in places
        focus: list[int] | None = places if focused else None
        notes: list[str] = []
        items = collect(code, context.language, focus=focus, notes=notes, start=len(prelude))
        if deadline is not None and time.monotonic() > deadline:
            notes.append("the check ran out of time")
        compiled = self.compiled
        found = compiled.match(items)
        rule_hits = hits(code, found, compiled.rules, compiled.unless, compiled.kinds, len(prelude))
        action = max((h.rule.action for h in rule_hits), default=Action.ALLOW)
        elapsed = (time.perf_counter() - started) * 1000
        return Verdict(action, rule_hits, elapsed, truncated, notes[0] if notes else None)
