"""Files a cell runs inside the kernel: `%run x.py`, `exec(open("x.py").read())`,
`runpy.run_path("x.py")`, and `import x` of a module that sits beside the notebook.

Such code never starts a process, so the process watcher never sees it; the cell itself only
names the file. The guard reads the files (size-capped, relative to the kernel's own working
directory, as the kernel would) and judges their text with the cell's.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

# `%run [-options] path`, at the start of a line (IPython's magic; `-m module` is a module)
_RUN = re.compile(r"^[ \t]*%run[ \t]+((?:-[a-zA-Z]+[ \t]+)*)(['\"]?)([^\s'\";]+)\2", re.M)
_OPEN_READ = re.compile(r"""\bexec\s*\(\s*open\s*\(\s*(['"])([^'"\n]+)\1""")
_RUN_PATH = re.compile(r"""\brun_path\s*\(\s*(['"])([^'"\n]+)\1""")
_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+([A-Za-z_]\w*)[ \t.]|import[ \t]+([A-Za-z_]\w*(?:[ \t]*,[ \t]*[A-Za-z_]\w*)*))", re.M
)

# directories the cell moves to before it runs something: `%cd sub`, `os.chdir("sub")`
_CD = re.compile(r"""^[ \t]*%cd[ \t]+(['"]?)([^\s'";]+)\1|\bchdir\s*\(\s*(['"])([^'"\n]+)\3""", re.M)

MAX_FILES = 8  # per cell: a cell naming hundreds of files is read for the first few


def named_files(code: str) -> list[str]:
    """Paths (as written, relative or absolute) of files the cell would run in the kernel."""
    found: list[str] = []
    for m in _RUN.finditer(code):
        options, target = m.group(1), m.group(3)
        if "-m" in options.split():
            found.append(target.replace(".", "/") + ".py")
        else:
            found.append(target)
    found += [m.group(2) for m in _OPEN_READ.finditer(code)]
    found += [m.group(2) for m in _RUN_PATH.finditer(code)]
    for m in _IMPORT.finditer(code):
        names = [m.group(1)] if m.group(1) else [n.strip() for n in m.group(2).split(",")]
        found += [f"{name}.py" for name in names]
    return list(dict.fromkeys(found))[:MAX_FILES]


def read_files(code: str, cwd: str | None, max_bytes: int) -> tuple[tuple[str, str], ...]:
    """(path, text) of each named file that exists, read as the kernel would find it from
    `cwd`. Notebooks give their code cells. Missing, unreadable or oversized files are left
    out: an import of `numpy` names no file beside the notebook."""
    if cwd is None:
        return ()
    # the kernel's directory, and those the cell changes to before it names a file
    dirs = [Path(cwd)] + [Path(cwd) / os.path.expanduser(m.group(2) or m.group(4)) for m in _CD.finditer(code)]
    out: list[tuple[str, str]] = []
    for name in named_files(code):
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
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
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
