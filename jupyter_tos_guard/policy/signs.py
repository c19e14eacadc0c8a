"""The signs of rules that need several together (`require: all` or a number), as lines of
code a kernel has run: a rule whose signs stand in different cells (a Jupyter server started
in one, tunnelled in the next) holds in the cell that completes it.

`Signs` knows, per rule, the patterns its matchers' kinds give the prefilter. After a cell
runs, the lines where such a pattern matches are kept in the kernel's `Memory`, a few per
pattern (a rule counts which of its signs hold, not how often: thirty `wget https://` lines
of data downloads must not push out the one `chmod +x`); a later cell holding a sign of the
same rule is read with them before it (`Engine.evaluate(signs=)`). Matches there count toward
a rule's `require`, never as matches of their own: the rule holds only with one in the new
cell, and its spans are that cell's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import re2

from .patterns import compile_re2

MAX_LINE_CHARS = 2000  # a longer line is data, not a command
MAX_MATCHES = 2  # lines kept per pattern and cell (the latest in `Memory`)
# a cell larger than this (pasted data) is neither searched for signs nor given them: the pass
# runs on the server's event loop after the cell is on its way
MAX_TEXT_CHARS = 256 * 1024


class Signs:
    def __init__(self, entries: Iterable[tuple[str, str]]):
        """`entries`: (rule id, pattern) of the rules that need several signs."""
        self.entries = list(entries)
        self.compiled = [compile_re2(p) for _, p in self.entries]
        self.set: Any = None
        if self.entries:
            options = re2.Options()
            options.case_sensitive = False
            options.log_errors = False
            self.set = re2.Set.SearchSet(options)
            for _, pattern in self.entries:
                self.set.Add(pattern)
            self.set.Compile()

    def _hits(self, code: str) -> list[int]:
        if self.set is None or not code or len(code) > MAX_TEXT_CHARS:
            return []
        return list(self.set.Match(code.encode() if code.isascii() else code) or ())

    def rules_in(self, code: str) -> set[str]:
        """The rules with a sign in `code`."""
        return {self.entries[i][0] for i in self._hits(code)}

    def lines(self, code: str) -> dict[tuple[str, str], list[str]]:
        """(rule id, pattern) -> the whole lines of `code` that sign matches on (a match over
        several lines keeps them all), in order, at most MAX_MATCHES, each at most
        MAX_LINE_CHARS."""
        out: dict[tuple[str, str], list[str]] = {}
        for i in self._hits(code):
            kept = out.setdefault(self.entries[i], [])
            for k, m in enumerate(self.compiled[i].finditer(code)):
                if k == MAX_MATCHES:
                    break
                start = code.rfind("\n", 0, m.start()) + 1
                end = code.find("\n", max(m.end() - 1, m.start()))
                text = code[start : end if end >= 0 else len(code)]
                if text.strip() and len(text) <= MAX_LINE_CHARS and text not in kept:
                    kept.append(text)
        return {sign: kept for sign, kept in out.items() if kept}
