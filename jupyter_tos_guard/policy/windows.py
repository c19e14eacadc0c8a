"""Focus the analysis of a cell on the statements that can matter.

Parsing costs far more than finding the few interesting places of a cell: `ast` takes ~0.3 ms
per KB, a shell reader driven from Python about as much, and a 1 MB cell about a second. The
prefilter already knows where the tool names, hiding tricks and shell sinks are, so we keep
the statements around those places, follow the variables they read and write (the
assignments that feed them, the statements that use what they assign, a few rounds deep),
and hand only those lines on. The kept lines form a `Window`: a short text plus the table
that maps each of its runs back to the cell, so every span still points into the cell.
"""

from __future__ import annotations

import bisect
import builtins
import functools
import keyword
import re
import threading
from dataclasses import dataclass
from typing import Literal

from .python import strip_comments

Mode = Literal["python", "shell"]

_MAX_BLOCK_LINES = 200  # a statement longer than this is cut to a window of lines
_CONTEXT_LINES = 20
_MAX_ROUNDS = 4  # variables followed this many assignments deep
_MAX_USES = 20  # statements kept per variable that a kept statement assigns

_CONTINUATION_START = re.compile(r"[\s)\]}#]|(?:else|elif|except|finally)\b")
# NAME = ..., NAME: T = ..., NAME += ... (group 1: indentation, group 2: the name)
_ASSIGNMENT = re.compile(r"(?m)^([ \t]*)([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?\+?=[^=\n]")
_IMPORT = re.compile(r"(?m)^([ \t]*)(?:from[ \t]+[\w.]+[ \t]+)?import[ \t]+\(?([^\n#;]*)")
# the same from a line break: a literal first character is searched for at C speed
_IMPORT_AFTER_BREAK = re.compile(r"\n([ \t]*)(?:from[ \t]+[\w.]+[ \t]+)?import[ \t]+\(?([^\n#;]*)")
_TUPLE_TARGET_HEAD = re.compile(r"[ \t]*(?:[(\[][ \t]*)?(?:[A-Za-z_]\w*[ \t]*,[ \t]*)+")  # `(a, ` before `b) = ...`
_TUPLE_ASSIGNMENT = re.compile(
    r"(?m)^[ \t]*(?:[(\[][ \t]*)?((?:[A-Za-z_]\w*[ \t]*,[ \t]*)+[A-Za-z_]\w*)[ \t]*(?:[)\]][ \t]*)?=(?!=)"
)
_PLAIN_TARGET = re.compile(r"(?m)^[ \t]*[A-Za-z_]\w*[ \t]*(?::[^=\n]*)?=(?!=)")
_SHELL_ESCAPE_LINE = re.compile(r"(?m)^([ \t]*(?:[A-Za-z_][\w., \t]*=[ \t]*)?)([!%][^\n]*)")
_EXPANDED = re.compile(r"\{([A-Za-z_]\w*)[^{}\n]*\}|\$\{?([A-Za-z_]\w*)")
_CALLED = re.compile(r"(?<![\w.])([A-Za-z_]\w*)[ \t]*\(")
_PLAIN_STRING = re.compile(r"""(?<!\w)[rRbBuU]{0,2}(?:"[^"\\\n{$]*"|'[^'\\\n{$]*')""")
# a one-line string that fills something in (an f-string, a `{}` template, `$NAME` for a shell):
# only what it fills in is read, never the words of its text
_TEMPLATE_STRING = re.compile(r"""(?<!\w)[rRbBuUfF]{0,2}(?:"([^"\\\n]*[{$][^"\\\n]*)"|'([^'\\\n]*[{$][^'\\\n]*)')""")
_FILLED = re.compile(r"\{([^{}]*)\}|\$\{?([A-Za-z_]\w*)")
_KEYWORD_ARGUMENT = re.compile(r"([(,]\s*)[A-Za-z_]\w*[ \t]*=(?!=)")
_IMPORTED_NAME = re.compile(r"([\w.]+)(?:[ \t]+as[ \t]+(\w+))?")
_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*")
_SHELL_ASSIGNMENT = re.compile(
    r"(?m)^([ \t]*)(?:(?:export|local|declare|readonly|typeset)[ \t]+(?:-\w+[ \t]+)*)?([A-Za-z_]\w*)="
)
_SHELL_USE = re.compile(r"\$\{?([A-Za-z_]\w*)")
_BUILTINS = frozenset(dir(builtins))  # called bare, these are (nearly) never imported
_KEYWORDS = frozenset(keyword.kwlist) | {"self", "print", "len", "range", "str", "int", "True", "False", "None"}


@dataclass(frozen=True)
class Window:
    """The kept lines of a cell, in order, and where each run of them sits in the cell."""

    text: str
    runs: tuple[tuple[int, int, int], ...]  # (offset in text, offset in cell, length)


_NEAR = 4096  # look this far for a line break before using the cell's table of lines
_line_tables = threading.local()


def _newlines(code: str) -> list[int]:
    """Offsets of the cell's line breaks, built once per cell (per thread): on a line of a
    megabyte, finding its start by searching back from every place in it would be quadratic."""
    cached = getattr(_line_tables, "entry", None)
    if cached is None or cached[0] is not code:
        cached = (code, [m.start() for m in re.finditer("\n", code)])
        _line_tables.entry = cached
    return cached[1]


def _line_start(code: str, at: int) -> int:
    i = code.rfind("\n", max(0, at - _NEAR), at)
    if i >= 0 or at <= _NEAR:
        return i + 1
    breaks = _newlines(code)
    k = bisect.bisect_left(breaks, at)
    return breaks[k - 1] + 1 if k else 0


def _line_end(code: str, at: int) -> int:
    end = code.find("\n", at, at + _NEAR)
    if end >= 0:
        return end + 1
    if at + _NEAR >= len(code):
        return len(code)
    breaks = _newlines(code)
    k = bisect.bisect_left(breaks, at)
    return breaks[k] + 1 if k < len(breaks) else len(code)


class _ReadWhole(Exception):
    """Focusing would keep most of the cell: read it whole instead."""


# measured on real library modules (2-170 KB) and the benchmark mix: once a tenth of the lines are kept,
# following names further costs more than parsing everything
_BUDGET_FRACTION = 10
_MIN_BUDGET_LINES = 20


class _Focus:
    """The statements kept so far in one cell, and the reading that decides what else to keep."""

    def __init__(self, code: str, begin: int, mode: Mode):
        self.code = code
        self.begin = begin  # lines before it (a cell magic's header) are kept as they are
        self.mode = mode
        self.kept: list[tuple[int, int]] = []  # (start, end) of kept statements, cell offsets
        self.lifted: dict[int, int] = {}  # line start -> indentation of an indented line kept alone
        self.lines: set[int] = set()  # starts of the kept lines
        self._names: dict[tuple[int, int], tuple[set[str], set[str], set[str]]] = {}
        self._triple: tuple[list[int], list[int]] | None = None
        # Where each word stands, and per name where it is defined: built once, then bisected,
        # so that following a name costs the same in statement 5,000 as in statement 1.
        self._words: dict[str, list[int]] | None = None
        self._found: dict[str, list[int]] = {}  # names looked up one by one, before the index
        self._defs: dict[str, tuple[list[int], list[tuple[int, int]]]] = {}
        self._envs: dict[str, tuple[list[int], list[tuple[int, int]]]] | None = None
        self._import_table: dict[str, tuple[list[int], list[tuple[int, int]]]] | None = None
        # past this many kept lines, reading the whole cell is cheaper than following more
        # names from statement to statement (dense code: a script, a library module)
        self.budget = max(_MIN_BUDGET_LINES, code.count("\n", begin) // _BUDGET_FRACTION)

    # --- statements ------------------------------------------------------------------

    def triple_quotes(self) -> tuple[list[int], list[int]]:
        """Offsets of every triple double quote and of every triple single quote (an odd count
        of either before a line: the line is inside such a string)."""
        if self._triple is None:
            code = self.code
            # no `q in code` first: that test alone costs more than the search (6 vs 3 ms per 10 MB)
            self._triple = tuple([m.start() for m in re.finditer(q, code)] for q in ('"""', "'''"))  # type: ignore[assignment]
        return self._triple  # type: ignore[return-value]

    def line(self, start: int) -> str:
        return self.code[start : _line_end(self.code, start)]

    def statement(self, at: int) -> tuple[int, int]:
        """The whole statement around offset `at`, as (start, end) of whole lines."""
        code = self.code
        start = max(_line_start(code, at), self.begin)
        if self.mode == "shell":
            return self._shell_statement(start)
        # inside a triple-quoted string: the statement starts where the string opens
        for quotes in self.triple_quotes():
            before = bisect.bisect_left(quotes, start)
            if before % 2:
                start = max(_line_start(code, quotes[before - 1]), self.begin)
        first, steps = start, 0
        while first > self.begin and steps < _MAX_BLOCK_LINES:
            above = max(_line_start(code, first - 1), self.begin)
            if _statement_start(self.line(first)) and not _continued(code[above:first]):
                break
            first = above
            steps += 1
        while first > self.begin and self.line(_line_start(code, first - 1)).startswith("@"):
            first = _line_start(code, first - 1)  # a decorated statement keeps its decorators
        last, end, steps = start, _line_end(code, start), 0
        while (
            end < len(code)
            and steps < _MAX_BLOCK_LINES
            and (not _statement_start(self.line(end)) or self.line(last).startswith("@") or _continued(code[last:end]))
        ):
            last, end = end, _line_end(code, end)  # ... and a decorator keeps what it decorates
            steps += 1
        if steps >= _MAX_BLOCK_LINES or code.count("\n", first, start) >= _MAX_BLOCK_LINES:
            return self._around(start)
        return first, end

    def _shell_statement(self, start: int) -> tuple[int, int]:
        code = self.code
        first = start
        while first > self.begin:  # continued from the line above
            above = max(_line_start(code, first - 1), self.begin)
            if not _continued(code[above:first]) or start - first > 100_000:
                break
            first = above
        line, end = start, _line_end(code, start)
        while end < len(code) and _continued(code[line:end]) and end - start < 100_000:
            line, end = end, _line_end(code, end)
        return first, end

    def _around(self, start: int) -> tuple[int, int]:
        first = end = start
        for _ in range(_CONTEXT_LINES):
            if first > self.begin:
                first = max(_line_start(self.code, first - 1), self.begin)
            if end < len(self.code):
                end = _line_end(self.code, end)
        return first, max(end, _line_end(self.code, start))

    def keep(self, at: int) -> bool:
        """Keep the statement around `at`; False when it was kept already."""
        if self.code.startswith("\n", at):
            at += 1  # a trigger that matched from the end of the line before
        if self.covered(at):
            return False
        self.add(self.statement(at))
        return True

    def add(self, span: tuple[int, int]) -> None:
        self.kept.append(span)
        a, b = span
        code = self.code
        while a < b:  # every line start it covers, for `covered`
            self.lines.add(a)
            a = _line_end(code, a)
        if len(self.lines) > self.budget:
            raise _ReadWhole

    def covered(self, at: int) -> bool:
        start = _line_start(self.code, at)
        return start in self.lines or start in self.lifted

    # --- variables --------------------------------------------------------------------

    def occurrences(self, name: str) -> list[int]:
        """Offsets (from `begin`) where `name` stands as a whole word, in order."""
        if self._words is not None:
            return self._words.get(name, [])
        found = self._found.get(name)
        if found is not None:
            return found
        if len(self._found) < _LOOKUPS_BEFORE_INDEX:
            # a few names: str.find per name is C-speed, where indexing every word of a
            # 200-line script costs ~1.5 ms of Python
            found = self._found[name] = self._find_word(name)
            return found
        words: dict[str, list[int]] = {}
        for m in _WORD_RUN.finditer(self.code, self.begin):
            words.setdefault(m.group(), []).append(m.start())
        self._words = words
        return words.get(name, [])

    def _find_word(self, name: str) -> list[int]:
        """`name`'s whole-word offsets, as the word index would list them."""
        if not _WORD_RUN.fullmatch(name):
            return []
        code, begin = self.code, self.begin
        # one scan per name for its literal text (C speed): a short name (`i`, `p`, `f`)
        # stands inside hundreds of words of a script, and checking each str.find hit from
        # Python cost ~0.05 ms a name; only the whole-word ends are checked here
        out = []
        for m in _word_end(name).finditer(code, begin):
            at = m.start()
            if at <= begin or not _WORD_CHAR.match(code, at - 1):
                out.append(at)
        return out

    @staticmethod
    def _last_before(table: tuple[list[int], list[tuple[int, int]]], before: int) -> tuple[int, int] | None:
        ends, entries = table
        i = bisect.bisect_right(ends, before)
        return entries[i - 1] if i else None

    def _assignments(self, name: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Every line that assigns `name`: (end of the match, (line start, indentation)), in order."""
        table = self._defs.get(name)
        if table is None and self.mode == "python":
            table = self._defs[name] = self._python_assignments(name)
        if table is None:
            code = self.code
            ends: list[int] = []
            entries: list[tuple[int, int]] = []
            shell = self.mode == "shell"
            for at in self.occurrences(name):
                # one pattern for every name, matched just past it (a pattern per name would be
                # compiled again and again in a file of thousands of names)
                m = (_SHELL_ASSIGN_AFTER if shell else _ASSIGN_AFTER).match(code, at + len(name))
                if m is None:
                    continue
                start = _line_start(code, at)
                if self.mode == "shell":  # NAME=..., export NAME=...
                    line = _SHELL_ASSIGNMENT.match(code, start, _line_end(code, at))
                    if not (line and line.start(2) == at):
                        continue
                    entry = (max(start, self.begin), 0)
                elif start == at or not code[start:at].strip(" \t") or _TUPLE_TARGET_HEAD.fullmatch(code, start, at):
                    entry = (max(start, self.begin), len(code[start:at]) - len(code[start:at].lstrip(" \t")))
                else:
                    continue
                ends.append(m.end())
                entries.append(entry)
            table = self._defs[name] = (ends, entries)
        return table

    def _python_assignments(self, name: str) -> tuple[list[int], list[tuple[int, int]]]:
        code, begin = self.code, self.begin
        ends: list[int] = []
        entries: list[tuple[int, int]] = []
        # the name and what follows an assignment in one pattern: only its assignments reach Python
        for m in _assigned(name).finditer(code, begin):
            at = m.start()
            if at > begin and _WORD_CHAR.match(code, at - 1):
                continue  # the end of a longer word
            start = _line_start(code, at)
            head = code[start:at]
            if start == at or not head.strip(" \t") or _TUPLE_TARGET_HEAD.fullmatch(code, start, at):
                ends.append(m.end())
                entries.append((max(start, begin), len(head) - len(head.lstrip(" \t"))))
        return ends, entries

    def _environment(self, name: str) -> tuple[list[int], list[tuple[int, int]]]:
        """%env NAME=..., os.environ["NAME"] = ..., putenv("NAME", ...): where the cell sets `name`."""
        if self._envs is None:  # every name at once, in one pass over the code
            code = self.code
            tables: dict[str, tuple[list[int], list[tuple[int, int]]]] = {}
            for m in _ENVIRON_ASSIGNMENT.finditer(code, self.begin):
                ends, entries = tables.setdefault(m.group(1) or m.group(2) or m.group(3), ([], []))
                start = max(_line_start(code, m.start()), self.begin)
                ends.append(m.end())
                entries.append((start, len(code[start : m.start()]) - len(code[start : m.start()].lstrip(" \t"))))
            self._envs = tables
        return self._envs.get(name, _NO_TABLE)

    def _import_lines(self, name: str) -> tuple[list[int], list[tuple[int, int]]]:
        """The import lines that bind `name`: (end of the name's first whole-word place on the
        line, (line start, indentation)), in order."""
        if self._import_table is None:  # every name at once, in one pass over the import lines
            code, begin = self.code, self.begin
            tables: dict[str, tuple[list[int], list[tuple[int, int]]]] = {}
            first = _IMPORT.match(code, begin, _line_end(code, begin))
            lines = ([first] if first else []) + list(_IMPORT_AFTER_BREAK.finditer(code, begin))
            for line in lines:
                start = line.start(1)
                for bound in dict.fromkeys(_imported(line.group(2))):
                    at = self._first_word(bound, start, line.end())
                    if at is not None:
                        ends, entries = tables.setdefault(bound, ([], []))
                        ends.append(at + len(bound))
                        entries.append((start, len(line.group(1))))
            self._import_table = tables
        return self._import_table.get(name, _NO_TABLE)

    def _first_word(self, name: str, start: int, end: int) -> int | None:
        """Where `name` first stands as a whole word in code[start:end]."""
        if not _WORD_RUN.fullmatch(name):
            return None
        code = self.code
        for m in _word_end(name).finditer(code, start, end):
            at = m.start()
            if at <= self.begin or not _WORD_CHAR.match(code, at - 1):
                return at
        return None

    def definition(self, name: str, imports: bool, before: int, env: bool = False) -> tuple[int, int] | None:
        """(line start, indentation) of the last line before `before` that assigns `name` (or,
        with `imports`, imports it)."""
        last = self._last_before(self._assignments(name), before)
        if env and self.mode == "python":
            found = self._last_before(self._environment(name), before)
            if found is not None and (last is None or found[0] > last[0]):
                last = found
        if imports and self.mode == "python" and name not in _BUILTINS:
            found = self._last_before(self._import_lines(name), before)
            if found is not None and (last is None or found[0] > last[0]):
                last = found
        return last

    def later_definition(self, name: str, after: int) -> tuple[int, int] | None:
        """(line start, 0) of the first top-level line after `after` that assigns `name`: what a
        function body reads of a name the code sets only below the function (a constant
        defined after the `def`, read when the function is called)."""
        ends, entries = self._assignments(name)
        for i in range(bisect.bisect_right(ends, after), len(ends)):
            if entries[i][1] == 0:
                return entries[i]
        return None

    def imports_of(self, name: str, before: int) -> list[tuple[int, int]]:
        """(line start, indentation) of the import lines before `before` that bind `name`."""
        ends, entries = self._import_lines(name)
        return entries[: bisect.bisect_right(ends, before)]

    def names(self, a: int, b: int) -> tuple[set[str], set[str], set[str]]:
        """(names read, names called bare as `name(`, names assigned) in a kept statement."""
        cached = self._names.get((a, b))
        if cached is not None:
            return cached
        text = self.code[a:b]
        found: tuple[set[str], set[str], set[str]]
        if self.mode == "shell":
            found = set(_SHELL_USE.findall(text)), set(), {m.group(2) for m in _SHELL_ASSIGNMENT.finditer(text)}
        else:
            if "!" in text or "%" in text:
                # a shell escape or magic reads Python names only through {name} and $name
                text = _SHELL_ESCAPE_LINE.sub(_expansions, text)
            text = strip_comments(text)
            assigned = {m.group(2) for m in _ASSIGNMENT.finditer(text)}
            if "," in text:
                for m in _TUPLE_ASSIGNMENT.finditer(text):
                    assigned.update(n.strip() for n in m.group(1).split(","))
            if "import" in text:
                for m in _IMPORT.finditer(text):
                    assigned.update(_imported(m.group(2)))
                text = _IMPORT.sub("", text)  # an import reads nothing
            # the target of a plain `x = ...` is not read (`x += ...` reads it), nor is the
            # text of a string (f-strings, `{}` templates and `$NAME` read what they fill in)
            text = _PLAIN_TARGET.sub("", text)
            if "{" in text or "$" in text:
                text = _TEMPLATE_STRING.sub(_filled_in, text)
            text = _PLAIN_STRING.sub('""', text)
            if "=" in text:  # `f(x, name=value)` reads value, not name
                text = _KEYWORD_ARGUMENT.sub(r"\1", text)
            used = set(_NAME.findall(text)) - _KEYWORDS
            called = set(_CALLED.findall(text)) & used if "(" in text else set()
            found = used, called, assigned
        self._names[(a, b)] = found
        return found

    def keep_definition(self, start: int, indent: int) -> bool:
        if self.covered(start):
            return False
        if indent and self.mode == "python":  # inside a def/with/for: this line alone, lifted
            body = self.line(start).rstrip("\r\n").rstrip()
            if body.endswith(("\\", "(", "[", "{", ",")):
                return False  # a statement over several lines cannot be lifted alone
            self.lifted[start] = indent
            return True
        self.add(self.statement(start))
        return True

    def keep_uses(self, name: str, after: int) -> list[tuple[int, int]]:
        """Keep the statements from `after` on that read `name` (at most _MAX_USES of them);
        the new ones."""
        code = self.code
        if self.mode == "shell":
            pattern = re.compile(r"\$\{?" + re.escape(name) + r"\b")
        else:
            pattern = _word(name)
        added = []
        uses = 0
        for m in pattern.finditer(code, max(after, self.begin)):
            at = m.start()
            if self.mode == "python" and at and (_is_word(code[at - 1]) or code[at - 1] == "."):
                continue
            uses += 1
            if self.keep(at):
                added.append(self.kept[-1])
            if uses >= _MAX_USES:
                break
        return added

    def follow(self) -> None:
        """Rounds of: keep the definitions of what the kept statements read, and the
        statements that read what the first statements (and those, in turn) assign. A
        definition kept for its value does not spread forward: `import torch` kept for one
        call must not bring in every line that uses torch. Imports are followed only for
        names called bare (`run_it(...)` after `from os import system as run_it`): a module
        named before a dot is known by its attribute's name."""
        done_assigned: set[str] = set()
        reading = list(self.kept)  # statements whose reads are followed back
        assigning = list(self.kept)  # statements whose assignments are followed forward
        code = self.code
        for _ in range(_MAX_ROUNDS):
            new_reading: list[tuple[int, int]] = []
            for a, b in reading:
                # the last assignment before the statement is the value it reads; an augmented
                # one (`x += ...`) reads x in turn, so earlier ones follow in the next round
                used, called, _ = self.names(a, b)
                text = code[a:b] if "$" in code[a:b] else ""
                for name in used:
                    # `$NAME` in a shell escape may come from the environment the cell set
                    env = bool(text) and ("$" + name in text or "${" + name in text)
                    found = self.definition(name, name in called, a, env)
                    if found is None and self.mode == "python" and _IN_FUNCTION.match(code, a):
                        found = self.later_definition(name, a)
                    if found is not None and self.keep_definition(*found):
                        start, indent = found
                        lifted = indent and self.mode == "python"
                        new_reading.append((start, _line_end(code, start)) if lifted else self.kept[-1])
            assigned: dict[str, int] = {}  # name -> where it is first assigned
            for a, b in assigning:
                for name in self.names(a, b)[2] - done_assigned:
                    assigned[name] = min(a, assigned.get(name, a))
            done_assigned |= assigned.keys()
            assigning = []
            for name in sorted(assigned):
                uses = self.keep_uses(name, assigned[name])
                new_reading += uses
                assigning += uses
            reading = new_reading
            if not reading:
                return

    # --- the result -------------------------------------------------------------------

    def window(self) -> Window:
        code = self.code
        merged: list[list[int]] = []
        for a, b in sorted(self.kept):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        items = [(a, b, 0) for a, b in merged]
        items += [
            (s, _line_end(code, s), indent)
            for s, indent in self.lifted.items()
            if not any(a <= s < b for a, b in merged)
        ]
        if self.begin:
            items.append((0, self.begin, 0))
        parts: list[str] = []
        runs: list[tuple[int, int, int]] = []
        length = 0
        for a, b, indent in sorted(items):
            piece = code[a + indent : b]  # a lifted line moves to column 0, to parse on its own
            runs.append((length, a + indent, len(piece)))
            if not piece.endswith("\n"):
                piece += "\n"  # the cell's last line: whatever follows must start a line
            parts.append(piece)
            length += len(piece)
        return Window("".join(parts), tuple(runs))


def _statement_start(line: str) -> bool:
    return bool(line.strip()) and not _CONTINUATION_START.match(line)


def _continued(line: str) -> bool:
    """A line ending in a backslash goes on over the next one."""
    return line.rstrip("\r\n").endswith("\\")


def _is_word(ch: str) -> bool:
    return bool(ch) and (ch.isalnum() or ch == "_")


_WORD_RUN = re.compile(r"\w+")
# a statement that is (or is inside) a function or a class: its body runs when called, later
_IN_FUNCTION = re.compile(r"[ \t]|@|(?:async[ \t]+)?def\b|class\b")
_WORD_CHAR = re.compile(r"\w")
# names followed one by one with str.find before every word of the cell is indexed instead (a
# dense module follows hundreds)
_LOOKUPS_BEFORE_INDEX = 24


@functools.lru_cache(maxsize=512)
def _word(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(name) + r"\b")


@functools.lru_cache(maxsize=1024)
def _word_end(name: str) -> re.Pattern[str]:
    # no look-behind: a pattern that starts with its literal text is searched for at C speed
    return re.compile(re.escape(name) + r"(?!\w)")


@functools.lru_cache(maxsize=1024)
def _assigned(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(name) + r"(?!\w)" + _ASSIGN_AFTER.pattern)


# %env NAME=..., os.environ["NAME"] = ..., putenv("NAME", ...): the name in groups 1-3
_QUOTED_NAME = r"""\s*[rbuRBU]?["']([^"'\n]+)["']"""
_ENVIRON_ASSIGNMENT = re.compile(
    rf"%(?:set_)?env[ \t]+([^\s=]+)|environ\[{_QUOTED_NAME}\s*\]\s*=(?!=)|(?:setdefault|putenv)\({_QUOTED_NAME}\s*,"
)
_NO_TABLE: tuple[list[int], list[tuple[int, int]]] = ([], [])

# what follows a name it assigns: `name = ...`, `name: T = ...`, `name += ...` (python), `name=` (shell)
_ASSIGN_AFTER = re.compile(r"[ \t]*(?:[)\]][ \t]*)?(?::[^=\n]*)?\+?=(?!=)")
_SHELL_ASSIGN_AFTER = re.compile("=")


def _expansions(m: re.Match[str]) -> str:
    """A shell-escape line reduced to its assignment (if any) and the names it expands."""
    names = " ".join(a or b for a, b in _EXPANDED.findall(m.group(2)))
    return f"{m.group(1)}({names})" if m.group(1).strip() else names


def _filled_in(m: re.Match[str]) -> str:
    return " " + " ".join(a or b for a, b in _FILLED.findall(m.group(1) or m.group(2) or "")) + " "


def _imported(names: str) -> list[str]:
    """The names an import binds: `a.b` -> a, `x as y` -> y."""
    out = []
    for m in _IMPORTED_NAME.finditer(names):
        out.append(m.group(2) or m.group(1).split(".")[0])
    return out


def focus(code: str, offsets: list[int], mode: Mode = "python", begin: int = 0) -> Window | None:
    """The statements of `code` around `offsets` and the variables they use, or None when the
    cell is best read whole (a shell quote left open across the kept lines)."""
    f = _Focus(code, begin, mode)
    try:
        for offset in sorted(set(offsets)):
            if begin <= offset < len(code):
                f.keep(offset)
        f.follow()
    except _ReadWhole:
        return None
    window = f.window()
    if mode == "shell":
        for a, b in ((a, a + n) for _, a, n in window.runs):
            text = code[a:b]
            if text.count("'") % 2 or (text.count('"') - text.count('\\"')) % 2:
                return None  # a quoted string runs over lines we did not keep
    return window
