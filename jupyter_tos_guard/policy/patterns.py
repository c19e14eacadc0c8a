"""Operator patterns on RE2: compiled once, refused in words an operator can act on.

RE2 runs in linear time, so no pattern a policy file holds can stall the server on a cell
crafted against it; the price is that lookaround and backreferences are refused.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.case_sensitive = False


@functools.lru_cache(maxsize=65536)
def compile_re2(pattern: str) -> Any:
    """Compile an operator pattern on RE2 (linear time, case-insensitive). Memoized: the loader
    compiles each pattern to validate it, and the engine then reuses that program."""
    return re2.compile(pattern, options=_RE2_OPTIONS)


def re2_problem(pattern: str) -> str | None:
    """Why RE2 refuses a pattern, in words an operator can act on; None when it compiles."""
    try:
        compile_re2(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        hint = ""
        if "perl operator" in reason or "escape sequence" in reason:
            hint = (
                " (lookaround and backreferences cannot run in linear time, so RE2 does not "
                "support them; rewrite the pattern without them)"
            )
        return f"pattern '{pattern}' is refused: {reason}{hint}"
    return None


def line_end_hint(pattern: str) -> str | None:
    """A warning for a `$` that reads like a line's end but is the end of the text: a `regex:`
    runs over a whole cell or a rebuilt command, and without `(?m)` RE2's `$` matches only at
    its very end (`-p x([ \\t]|$)` then misses every line but the last). None when the pattern
    has no such `$` (one beside `\\s`, as in `(\\s|$)`, is fine: the end or any blank)."""
    if "$" not in pattern or re.search(r"\(\?[a-z]*m", pattern):
        return None
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                i += 1
            if pattern[i + 1 : i + 2] == "]":  # a leading ] is a character of the class
                i += 1
        elif c == "$" and not (pattern[:i].endswith("\\s|") or pattern[i + 1 :].startswith("|\\s")):
            return (
                f"'$' in pattern '{pattern}' matches only at the end of the text the rule reads "
                "(the whole cell, or a rebuilt command), not at the end of each line: write "
                "'(?m)' at the pattern's start for line ends, or '(\\s|$)' for a word's end"
            )
        i += 1
    return None
