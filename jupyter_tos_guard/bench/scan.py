"""`jupyter tos-guard scan` beside Semgrep on one folder: `python -m jupyter_tos_guard.bench.scan [FOLDER]`.

Semgrep gets the keyword rules a blacklist would be made of: one `pattern-regex` rule per
default rule, its tool names as whole words (commands, packages, literals). The guard reads
the same files with its whole default policy (shells, decoding, argv lists, notebooks as one
program). Both use every core; each command is run `--runs` times and the best wall-clock time
is kept, side by side in one run. Semgrep is not a dependency: point `--semgrep` at one, or
have it on PATH (`pip install semgrep` in a separate environment); without it the guard's
figures are printed alone. The default folder is the Python code this installation's own
dependencies ship (IPython, tornado, jupyter_server, traitlets, jupyter_client): real code,
nothing fetched.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..policy import load_policy
from ..policy.model import CommandMatcher, LiteralMatcher, PackageMatcher
from ..scan import default_jobs

START_TARGET_S = 0.25
PACKAGES = ("IPython", "tornado", "jupyter_server", "traitlets", "jupyter_client")


def default_folders() -> list[str]:
    import importlib.util

    out = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            out.extend(spec.submodule_search_locations)
    return out


def keyword_rules() -> str:
    """Semgrep rules with the default policy's tool names, one rule per default rule."""
    rules = []
    for rule in load_policy().rules:
        names = sorted(
            {
                m.name if isinstance(m, (CommandMatcher, PackageMatcher)) else m.text
                for m in rule.matchers
                if isinstance(m, (CommandMatcher, PackageMatcher, LiteralMatcher))
            }
        )
        words = [re.escape(n).replace(r"\*", r"\w*") for n in names if n.strip("*")]
        if not words:
            continue
        rules.append(
            {
                "id": rule.id,
                "languages": ["regex"],
                "severity": "WARNING",
                "message": rule.title,
                "pattern-regex": r"(?i)\b(" + "|".join(words) + r")\b",
                "paths": {"include": ["*.py", "*.ipynb", "*.sh"]},
            }
        )
    return json.dumps({"rules": rules})


def _best(cmd: list[str], runs: int) -> tuple[float, subprocess.CompletedProcess[str]]:
    best, last = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        last = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
        best = min(best, time.perf_counter() - t0)
    assert last is not None
    return best, last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jupyter_tos_guard.bench.scan", description=__doc__)
    parser.add_argument("folders", nargs="*", help="folders to scan (default: the installed dependencies' code)")
    parser.add_argument("--semgrep", default=shutil.which("semgrep"), help="the semgrep program (default: on PATH)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each command; the best is kept")
    parser.add_argument("-j", "--jobs", type=int, default=default_jobs())
    args = parser.parse_args(argv)
    folders = args.folders or default_folders()
    files = [p for f in folders for p in Path(f).rglob("*") if p.suffix in (".py", ".ipynb", ".sh") and p.is_file()]
    size = sum(p.stat().st_size for p in files)
    print(f"scan benchmark: {len(files)} files, {size / 2**20:.1f} MB, {args.jobs} jobs, best of {args.runs}")
    print(f"  load average {os.getloadavg()[0]:.2f} (wall-clock figures inflate when other work shares the CPUs)")
    # start-up: one small script, as an operator's pre-commit hook or a CI step would run it
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "cell.py"
        one.write_text("import os\nprint(os.getcwd())\n")
        start_s, _ = _best([sys.executable, "-m", "jupyter_tos_guard", "scan", str(one)], max(5, args.runs))
    verdict = "PASS" if start_s <= START_TARGET_S else "MISS"
    print(f"  start-up (one small file)  {start_s:5.2f} s  [target <= {START_TARGET_S:g} s: {verdict}]")
    guard_cmd = [sys.executable, "-m", "jupyter_tos_guard", "scan", "--format", "json", "-j", str(args.jobs), *folders]
    guard_s, guard = _best(guard_cmd, args.runs)
    report = json.loads(guard.stdout)
    print(
        f"  jupyter tos-guard scan  {guard_s:7.2f} s  {size / 2**20 / guard_s:6.1f} MB/s  "
        f"{report['files_scanned']} files read, {len(report['findings'])} findings (whole default policy)"
    )
    if not args.semgrep:
        print("  semgrep: not found (pip install semgrep in another environment, then --semgrep PATH)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "keywords.json"
        config.write_text(keyword_rules())
        semgrep_cmd = [
            args.semgrep,
            "scan",
            "--config",
            str(config),
            "--json",
            "--metrics=off",
            "--disable-version-check",
            "--no-git-ignore",
            "-j",
            str(args.jobs),
            *folders,
        ]
        env_home = dict(os.environ, SEMGREP_SEND_METRICS="off", HOME=tmp)
        t_best, done = float("inf"), None
        for _ in range(args.runs):
            t0 = time.perf_counter()
            done = subprocess.run(semgrep_cmd, capture_output=True, text=True, timeout=3600, env=env_home)
            t_best = min(t_best, time.perf_counter() - t0)
    assert done is not None
    try:
        results = json.loads(done.stdout).get("results", [])
    except ValueError:
        print(f"  semgrep failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
        return 1
    print(
        f"  semgrep (keyword rules) {t_best:7.2f} s  {size / 2**20 / t_best:6.1f} MB/s  "
        f"{len({r['path'] for r in results})} files with {len(results)} keyword matches"
    )
    print(f"  the guard is {t_best / guard_s:.1f}x as fast (target: >= 15x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
