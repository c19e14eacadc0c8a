"""Files a cell runs: inside the kernel (`%run x.py`, `exec(open("x.py").read())`,
`runpy.run_path("x.py")`, `import x` of a module beside the notebook), and scripts it hands to
a shell or an interpreter (`!bash x.sh`, `!sh x`, `!./x.sh`, `!source x`, `!python x.py`).

Code run in the kernel never starts a process, so the process watcher never sees it; a script
run by a shell shows the watcher only its argv (`bash x.sh`), not what the script does. Either
way the cell only names the file, which an earlier cell may have written or cloned under an
innocent name. The guard reads the files (size-capped, relative to the kernel's own working
directory, as the kernel would; binaries skipped) and judges their text with the cell's, each
in its own language.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import re2

# `%run [-options] path`, at the start of a line (IPython's magic; `-m module` is a module)
_RUN = re.compile(r"^[ \t]*%run[ \t]+((?:-[a-zA-Z]+[ \t]+)*)(['\"]?)([^\s'\";]+)\2", re.M)
_OPEN_READ = re.compile(r"""\bexec\s*\(\s*open\s*\(\s*(['"])([^'"\n]+)\1""")
_RUN_PATH = re.compile(r"""\brun_path\s*\(\s*(['"])([^'"\n]+)\1""")
_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+([A-Za-z_]\w*)[ \t.]|import[ \t]+([A-Za-z_]\w*(?:[ \t]*,[ \t]*[A-Za-z_]\w*)*))", re.M
)

# a script handed to a shell or an interpreter, in a `!` line, a %%bash cell or a string a
# shell runs: `bash x.sh`, `sh -e x`, `source x`, `. x`, `python3 -u x.py`, `./x.sh`
_SHELL_RUN = re.compile(
    r"""(?:^|[\s;&|!(`'"])(?:(?:sudo|nohup|exec)[ \t]+)*"""
    r"""(?:(?:ba|z|da|k)?sh|source|\.|python(?:3(?:\.\d+)?)?)"""
    r"""[ \t]+(?P<opts>(?:-[A-Za-z]+[ \t]+)*)(?P<q>['"]?)(?P<path>[\w./~-]+)(?P=q)""",
    re.M,
)
# `./x` as the command itself: at the start of a line, `!` line or string, or after ; & | ( `
_RUN_HERE = re.compile(r"""(?:^|[;&|!(`'"])[ \t]*(?:(?:sudo|nohup|exec)[ \t]+)*\./(?P<path>[\w./-]+)""", re.M)
# the same in an argv list: subprocess.run(["bash", "x.sh"]), Popen(['python3', '-u', 'x.py'])
_ARGV_RUN = re.compile(
    r"""['"](?:(?:ba|z|da|k)?sh|source|python(?:3(?:\.\d+)?)?)['"][ \t]*,[ \t]*"""
    r"""(?P<opts>(?:['"]-[A-Za-z]+['"][ \t]*,[ \t]*)*)['"](?P<path>[\w./~-]+)['"]"""
)
_SCRIPT_SUFFIXES = (".sh", ".bash", ".py", "")

# directories the cell moves to before it runs something: `%cd sub`, `os.chdir("sub")`
_CD = re.compile(r"""^[ \t]*%cd[ \t]+(['"]?)([^\s'";]+)\1|\bchdir\s*\(\s*(['"])([^'"\n]+)\3""", re.M)

MAX_FILES = 8  # per cell: a cell naming hundreds of files is read for the first few


def named_files(code: str, words: frozenset[str] | None = None) -> list[str]:
    """Paths (as written, relative or absolute) of files the cell would run (`words`: what
    `_words_in(code)` gives, when the caller has it already)."""
    found: list[str] = []
    if words is None:
        words = _words_in(code)
    # Each pattern only where the words it needs are in the cell: Python's `re` tries these at
    # every position, ~20 ms apiece over a megabyte of pasted data, on the server's event loop
    for m in _gated(_RUN, code, words, "%run"):
        options, target = m.group(1), m.group(3)
        if "-m" in options.split():
            found.append(target.replace(".", "/") + ".py")
        else:
            found.append(target)
    found += [m.group(2) for m in _gated(_OPEN_READ, code, words, "open")]
    found += [m.group(2) for m in _gated(_RUN_PATH, code, words, "run_path")]
    for m in _gated(_IMPORT, code, words, "import", "from"):
        names = [m.group(1)] if m.group(1) else [n.strip() for n in m.group(2).split(",")]
        found += [f"{name}.py" for name in names]
    shell = _gated(_SHELL_RUN, code, words, *_SHELL_WORDS)
    for m in (*shell, *_gated(_ARGV_RUN, code, words, *_ARGV_WORDS)):
        if re.search(r"-[mc]\b", m.group("opts")):  # a module or a code string, not a file
            continue
        found.append(m.group("path"))
    found += ["./" + m.group("path") for m in _gated(_RUN_HERE, code, words, "./")]
    found = [f for f in found if f.strip("./") and not f.startswith("-") and os.path.splitext(f)[1] in _SCRIPT_SUFFIXES]
    return list(dict.fromkeys(found))[:MAX_FILES]


# what each shell pattern cannot match without: a runner followed by a blank (`sh x`, `. x`,
# `python3.11 x`) or, in an argv list, closed by a quote (`"sh",`)
_SHELL_WORDS = ("sh ", "sh\t", "source", ". ", ".\t", "python")
_ARGV_WORDS = ("sh'", 'sh"', "source", "python")


# every string a pattern above needs, found in one pass of one RE2 set (a DFA: ~1.5 ms per MB)
_WORDS = tuple(
    dict.fromkeys(("%run", "open", "run_path", "import", "from", "./", "%cd", "chdir", *_SHELL_WORDS, *_ARGV_WORDS))
)


def _word_set() -> Any:
    options = re2.Options()
    options.log_errors = False
    words = re2.Set.SearchSet(options)
    for word in _WORDS:
        words.Add("".join(c if c.isalnum() or c == " " else "\\t" if c == "\t" else "\\" + c for c in word))
    words.Compile()
    return words


_WORD_SET = _word_set()
_SMALL = 4096  # characters: below this, each word is looked for on its own


def _words_in(code: str) -> frozenset[str]:
    if len(code) < _SMALL:
        # a few C-speed substring tests: on a small cell the set's DFA, cold again by the time
        # the next cell comes (the kernel ran in between), costs ~25 us in the server
        return frozenset(word for word in _WORDS if word in code)
    try:
        return frozenset(_WORDS[i] for i in _WORD_SET.Match(code) or ())
    except UnicodeError:  # a lone surrogate RE2 cannot encode: try every pattern
        return frozenset(_WORDS)


def _gated(pattern: re.Pattern[str], code: str, words: frozenset[str], *needed: str) -> list[re.Match[str]]:
    """`pattern.finditer(code)`, or nothing when none of the strings it needs is in `code`."""
    return list(pattern.finditer(code)) if not words.isdisjoint(needed) else []


def language_of(path: str, text: str) -> str:
    """How a file is judged: a shell script by its suffix or `#!` line, otherwise Python."""
    first = text.split("\n", 1)[0]
    if path.endswith((".sh", ".bash")) or (first.startswith("#!") and "python" not in first):
        return "bash"
    return "python"


def read_files(code: str, cwd: str | Callable[[], str | None] | None, max_bytes: int) -> tuple[tuple[str, str], ...]:
    """(path, text) of each named file that exists, read as the kernel would find it from
    `cwd` (or what calling it returns: asked only when the cell names a file). Notebooks give
    their code cells. Missing, unreadable, binary or oversized files are left out: an import
    of `numpy` names no file beside the notebook."""
    words = _words_in(code)
    names = named_files(code, words)
    if not names:
        return ()
    if callable(cwd):
        cwd = cwd()
    if cwd is None:
        return ()
    # the kernel's directory, and those the cell changes to before it names a file
    moves = _gated(_CD, code, words, "%cd", "chdir")
    dirs = [Path(cwd)] + [Path(cwd) / os.path.expanduser(m.group(2) or m.group(4)) for m in moves]
    out: list[tuple[str, str]] = []
    for name in names:
        written = Path(os.path.expanduser(name))
        for path in [written] if written.is_absolute() else [d / written for d in dirs]:
            text = _read(path, max_bytes)
            if text is not None:
                out.append((str(path), text))
                break
    return tuple(out[:MAX_FILES])


def _read(path: Path, max_bytes: int) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > max_bytes:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:  # a program, not a script: the process watcher judges what it runs
        return None
    text = data.decode("utf-8", errors="replace")
    return _notebook_code(text) if path.suffix == ".ipynb" else text


def _notebook_code(text: str) -> str:
    try:
        cells = json.loads(text).get("cells", [])
    except (ValueError, AttributeError):
        return text
    sources = []
    for cell in cells if isinstance(cells, list) else []:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            sources.append("".join(source) if isinstance(source, list) else str(source))
    return "\n".join(sources)


def kernel_cwd(pid: int | None) -> str | None:
    """The kernel process's current directory (after any `%cd`), where the OS tells it."""
    if pid is None:
        return None
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None
