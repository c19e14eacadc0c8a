"""Scan notebooks and scripts on disk with the policy engine (the `scan` command)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .policy import Engine, EvaluationContext
from .policy.memory import Memory
from .policy.model import Action, Policy
from .policy.verdict import line_text

SCANNED_SUFFIXES = (".ipynb", ".py", ".sh", ".bash", ".ipy")
SKIPPED_DIRS = {".git", ".hg", ".svn", "node_modules", ".ipynb_checkpoints", "__pycache__", ".venv", ".tox"}
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Finding:
    path: str
    # as editors and compilers count, and as the JupyterLab notice says "cells 3, 7": from 1,
    # over every cell of the notebook (markdown included); None for scripts
    cell: int | None
    line: int  # line within the cell (or file), from 1
    column: int  # from 1
    rule: str
    category: str
    action: str
    excerpt: str


@dataclass
class ScanReport:
    files_scanned: int = 0
    findings: list[Finding] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return any(Action.parse(f.action) >= Action.WARN for f in self.findings)

    def to_json(self) -> str:
        return json.dumps(
            {
                "files_scanned": self.files_scanned,
                "findings": [asdict(f) for f in self.findings],
                "errors": self.errors,
            },
            indent=2,
        )


_SARIF_LEVEL = {"block": "error", "confirm": "error", "warn": "warning", "log": "note"}


def to_sarif(report: ScanReport, policy: Policy, version: str) -> str:
    """SARIF 2.1.0, for code-scanning views (GitHub, GitLab, VS Code's SARIF viewer): one
    result per finding, the rule's title and message as its description. Notebook findings
    name their cell in the message and in `properties` (SARIF has no notion of cells)."""
    rules = {r.id: r for r in policy.rules}
    used = list(dict.fromkeys(f.rule for f in report.findings))
    index = {rule_id: i for i, rule_id in enumerate(used)}
    driver_rules = []
    for rule_id in used:
        rule = rules.get(rule_id)
        title = rule.title if rule else rule_id
        driver_rules.append(
            {
                "id": rule_id,
                "name": rule_id.replace(".", "_").replace("-", "_"),
                "shortDescription": {"text": title},
                "fullDescription": {"text": rule.message_for() if rule else title},
                "defaultConfiguration": {"level": _SARIF_LEVEL.get(rule.action.label if rule else "warn", "warning")},
                "properties": {"category": rule.category if rule else "", "tags": ["terms-of-use"]},
            }
        )
    results = []
    for f in report.findings:
        where = f" (cell {f.cell}, line {f.line})" if f.cell is not None else ""
        rule = rules.get(f.rule)
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": _SARIF_LEVEL.get(f.action, "warning"),
                "message": {"text": f"{rule.title if rule else f.rule}{where}: {f.excerpt}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": Path(f.path).as_posix()},
                            "region": {"startLine": f.line, "startColumn": f.column},
                        },
                        **({"logicalLocations": [{"name": f"cell {f.cell}", "kind": "module"}]} if f.cell else {}),
                    }
                ],
                "properties": {"cell": f.cell, "category": f.category, "action": f.action},
            }
        )
    notifications = [
        {
            "level": "error",
            "message": {"text": e["error"]},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": Path(e["path"]).as_posix()}}}],
        }
        for e in report.errors
    ]
    run = {
        "tool": {
            "driver": {
                "name": "jupyter-tos-guard",
                "version": version,
                "rules": driver_rules,
            }
        },
        "invocations": [{"executionSuccessful": not report.errors, "toolExecutionNotifications": notifications}],
        "results": results,
    }
    sarif = {"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "runs": [run]}
    return json.dumps(sarif, indent=2)


def iter_files(paths: Sequence[str]) -> Iterator[tuple[Path, bool]]:
    """(path, named explicitly). Directories are walked for notebooks and scripts."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
                for name in sorted(files):
                    if name.endswith(SCANNED_SUFFIXES):
                        yield Path(root) / name, False
        else:
            yield path, True


def _looks_like_notebook(text: str) -> bool:
    head = text.lstrip()[:4096]
    return head.startswith("{") and '"cells"' in text[:1_000_000]


def _script_language(path: Path, text: str) -> str:
    first = text.split("\n", 1)[0]
    if path.suffix in (".sh", ".bash") or (first.startswith("#!") and any(s in first for s in ("sh", "bash", "zsh"))):
        return "bash"
    return "python"


def _excerpt(code: str, line: int) -> str:
    text = line_text(code, line).strip()
    return text if len(text) <= 200 else text[:197] + "..."


def scan_text(
    engine: Engine,
    code: str,
    language: str,
    path: str,
    cell: int | None,
    report: ScanReport,
    memory: Memory | None = None,
) -> None:
    """Findings in one file or cell; `memory` carries a notebook's earlier cells' assignments
    (the notebook is read as one program, as its kernel would run it top to bottom)."""
    prelude = memory.prelude(code) if memory is not None else ""
    verdict = engine.evaluate(code, EvaluationContext(language=language), prelude=prelude)
    if memory is not None:
        memory.remember(code)
    found = []
    for hit in verdict.hits:
        m = hit.matches[0]
        found.append(
            Finding(
                path,
                cell,
                m.span.line,
                m.span.column + 1,
                hit.rule.id,
                hit.rule.category,
                hit.rule.action.label,
                _excerpt(code, m.span.line),
            )
        )
    report.findings.extend(sorted(found, key=lambda f: (f.line, f.column, f.rule)))  # in reading order


def scan_file(engine: Engine, path: Path, report: ScanReport) -> None:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            report.errors.append({"path": str(path), "error": f"larger than {MAX_FILE_BYTES // 2**20} MB; skipped"})
            return
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        report.errors.append({"path": str(path), "error": f"not UTF-8 text ({exc.reason} at byte {exc.start})"})
        return
    except OSError as exc:
        report.errors.append({"path": str(path), "error": f"cannot read: {exc.strerror or exc}"})
        return
    if path.suffix == ".ipynb" or _looks_like_notebook(text):
        try:
            language, cells = read_notebook(text)
        except ValueError as exc:
            # still read: a script saved under that name runs with `python x.ipynb`, and a
            # truncated notebook's code cells are still there to be found
            why = str(exc).splitlines()[0][:300]
            if not text.lstrip().startswith(("{", "[")):
                report.errors.append(
                    {"path": str(path), "error": f"not a readable notebook: {why}; read as plain text"}
                )
                report.files_scanned += 1
                scan_text(engine, text, _script_language(path, text), str(path), None, report)
                return
            salvaged = salvage_cells(text)
            report.files_scanned += bool(salvaged)
            report.errors.append(
                {
                    "path": str(path),
                    "error": f"not a readable notebook: {why}; {len(salvaged)} code cells read from what is left",
                }
            )
            scan_cells(engine, salvaged, "python", str(path), report)
            return
        report.files_scanned += 1
        scan_cells(engine, cells, language, str(path), report)
        return
    report.files_scanned += 1
    scan_text(engine, text, _script_language(path, text), str(path), None, report)


def scan_cells(engine: Engine, cells: list[tuple[int, str]], language: str, path: str, report: ScanReport) -> None:
    """A notebook's code cells, each read with what the earlier ones assigned, then together."""
    memory = Memory()
    before = len(report.findings)
    for index, source in cells:
        scan_text(engine, source, language, path, index + 1, report, memory)
    scan_whole_notebook(engine, cells, language, path, report, {f.rule for f in report.findings[before:]})


def scan_whole_notebook(
    engine: Engine, cells: list[tuple[int, str]], language: str, path: str, report: ScanReport, found: set[str]
) -> None:
    """The notebook's code cells read together, as the program its kernel runs: a rule whose
    signs stand in different cells (the model loaded in one, the swap in another) is found
    where its first match is. Rules a cell already showed are not reported twice."""
    if len(cells) < 2:
        return
    starts: list[tuple[int, int, str]] = []  # (offset in the joined text, cell index, source)
    at = 0
    for index, source in cells:
        starts.append((at, index, source))
        at += len(source) + 1
    joined = "\n".join(source for _, source in cells)
    verdict = engine.evaluate(joined, EvaluationContext(language=language))
    for hit in verdict.hits:
        if hit.rule.id in found:
            continue
        m = hit.matches[0]
        offset = m.span.start
        cell_start, index, source = next(s for s in reversed(starts) if s[0] <= offset)
        line = joined.count("\n", cell_start, offset) + 1
        column = offset - (joined.rfind("\n", 0, offset) + 1) + 1
        report.findings.append(
            Finding(
                path,
                index + 1,
                line,
                column,
                hit.rule.id,
                hit.rule.category,
                hit.rule.action.label,
                _excerpt(source, line),
            )
        )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def read_notebook(text: str) -> tuple[str, list[tuple[int, str]]]:
    """(kernel language, [(cell index over all cells, code cell source)]) of a notebook's JSON,
    nbformat 4 or 3 (worksheets, `input`). Read as plain JSON: validating against nbformat's
    schema costs a second of imports and refuses notebooks a student can still run."""
    try:
        nb = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"invalid JSON ({exc})") from None
    if not isinstance(nb, dict):
        raise ValueError("the JSON is not a notebook object")
    raw_cells = nb.get("cells")
    if raw_cells is None and isinstance(nb.get("worksheets"), list):  # nbformat 3
        raw_cells = [c for ws in nb["worksheets"] if isinstance(ws, dict) for c in ws.get("cells") or []]
    if not isinstance(raw_cells, list):
        raise ValueError("the notebook has no list of cells")
    meta = _mapping(nb.get("metadata"))
    kernelspec, info = _mapping(meta.get("kernelspec")), _mapping(meta.get("language_info"))
    language = str(kernelspec.get("language") or info.get("name") or nb.get("language") or "python").lower()
    cells = []
    for index, cell in enumerate(raw_cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", cell.get("input", ""))
        if isinstance(source, list):
            source = "".join(str(part) for part in source)
        cells.append((index, str(source)))
    return language, cells


# a cell's source in notebook JSON: one string or a list of them (nbformat writes a cell's keys
# sorted, so its "cell_type" comes before its "source")
_SOURCE = re.compile(r'"source"\s*:\s*(\[(?:\s*"(?:[^"\\]|\\.)*"\s*,?)*|"(?:[^"\\]|\\.)*")')
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_CELL_TYPE = re.compile(r'"cell_type"\s*:\s*"(\w+)"')


def salvage_cells(text: str) -> list[tuple[int, str]]:
    """The code cells still readable in broken notebook JSON (cut short, a stray character):
    each `"source"` whose cell's `"cell_type"` before it is code, as (cell number, source)."""
    out = []
    cell = -1
    kind = "code"
    position = 0
    for m in _SOURCE.finditer(text):
        for t in _CELL_TYPE.finditer(text, position, m.start()):
            cell, kind = cell + 1, t.group(1)
        position = m.end()
        if kind != "code":
            continue
        parts = []
        for literal in _STRING.findall(m.group(1)):
            try:
                parts.append(str(json.loads(literal)))
            except ValueError:
                break
        out.append((max(cell, 0), "".join(parts)))
    return out


def scan_paths(engine: Engine, paths: Sequence[str], jobs: int = 1) -> ScanReport:
    """Every file under `paths`, in order; with `jobs` > 1, read by that many processes (forked,
    so each starts with the policy already compiled), findings still in the files' order."""
    report = ScanReport()
    files: list[Path] = []
    for path, explicit in iter_files(paths):
        if explicit and not path.exists():
            report.errors.append({"path": str(path), "error": "no such file or directory"})
        else:
            files.append(path)
    if jobs > 1 and len(files) >= 2 * jobs and _can_fork():
        import multiprocessing

        global _FORKED_ENGINE
        _FORKED_ENGINE = engine
        try:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                # batches of a few files: one message per batch, and slow files spread out
                parts = pool.imap(_scan_batch, _batches(files, jobs), chunksize=1)
                for part in parts:
                    report.files_scanned += part.files_scanned
                    report.findings.extend(part.findings)
                    report.errors.extend(part.errors)
        finally:
            _FORKED_ENGINE = None
        return report
    for path in files:
        scan_file(engine, path, report)
    return report


_FORKED_ENGINE: Engine | None = None  # the parent's engine, inherited by the forked workers


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _batches(files: list[Path], jobs: int) -> Iterator[list[Path]]:
    size = max(1, min(32, len(files) // (jobs * 8)))
    for start in range(0, len(files), size):
        yield files[start : start + size]


def _scan_batch(files: list[Path]) -> ScanReport:
    assert _FORKED_ENGINE is not None
    report = ScanReport()
    for path in files:
        scan_file(_FORKED_ENGINE, path, report)
    return report


def default_jobs() -> int:
    """Every core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
