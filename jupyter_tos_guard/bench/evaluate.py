"""Detection measured on real public code: `python -m jupyter_tos_guard.bench.evaluate SNAPSHOTS`.

`eval/manifest.jsonl` lists real notebooks and scripts (repository, path, commit), each labelled
by hand `prohibited` or `benign` with a one-line reason; hard negatives (benign files that look
like prohibited ones: face detection, hashing lessons, a tunnel for the notebook's own demo) are
marked. Their text is never committed: this command fetches nothing, it reads the files from
a folder of snapshots laid out as `<owner>+<repo>/<commit>/<path>` and prints, per category,
recall on the prohibited files and false alarms on the benign ones, with every miss and false
alarm and its reason.

The manifest splits itself in two halves by a hash of repository and path: rules are tuned on
`dev` and reported on `test` (`--half`), so the figures say how the policy does on files it was
not tuned on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..policy import Action, Engine, load_policy
from ..scan import ScanReport, scan_file

MANIFEST = Path(__file__).resolve().parents[2] / "eval" / "manifest.jsonl"


@dataclass(frozen=True)
class Item:
    repo: str
    path: str
    commit: str
    label: str  # prohibited | benign
    category: str
    hard_negative: bool
    reason: str
    round: int = 1  # the collection round that added the entry (2: chosen after round 1's tuning, unseen by it)

    @property
    def half(self) -> str:
        digest = hashlib.sha256(f"{self.repo}/{self.path}".encode()).digest()
        return "dev" if digest[0] % 2 == 0 else "test"

    def locate(self, root: Path) -> Path | None:
        base = root / self.repo.replace("/", "+")
        for commit in (self.commit, "HEAD"):
            candidate = base / commit / self.path
            if candidate.is_file():
                return candidate
        found = sorted(base.glob(f"*/{self.path}")) if base.is_dir() else []
        return found[0] if found else None


def read_manifest(path: Path) -> list[Item]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            items.append(
                Item(
                    row["repo"],
                    row["path"],
                    row.get("commit") or "HEAD",
                    row["label"],
                    row["category"],
                    bool(row.get("hard_negative")),
                    row.get("reason", ""),
                    int(row.get("round", 1)),
                )
            )
        except (ValueError, KeyError) as exc:
            raise SystemExit(f"{path}:{n}: not a manifest row ({exc})") from None
        if items[-1].label not in ("prohibited", "benign"):
            raise SystemExit(f"{path}:{n}: label must be prohibited or benign")
    return items


@dataclass
class Outcome:
    item: Item
    flagged: bool  # a rule at warn or above matched
    rules: tuple[str, ...]
    error: str | None = None


def judge(engine: Engine, item: Item, file: Path, threshold: Action) -> Outcome:
    report = ScanReport()
    scan_file(engine, file, report)
    if report.errors and not report.findings:
        return Outcome(item, False, (), report.errors[0]["error"])
    rules = tuple(dict.fromkeys(f.rule for f in report.findings if Action.parse(f.action) >= threshold))
    return Outcome(item, bool(rules), rules)


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    by_category: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for o in outcomes:
        c = by_category[o.item.category]
        if o.item.label == "prohibited":
            c["prohibited"] += 1
            c["found"] += o.flagged
        else:
            c["benign"] += 1
            c["false_alarms"] += o.flagged
            c["hard_negatives"] += o.item.hard_negative
            c["hard_false_alarms"] += o.flagged and o.item.hard_negative
    total: dict[str, int] = defaultdict(int)
    for c in by_category.values():
        for k, v in c.items():
            total[k] += v
    return {"categories": {k: dict(v) for k, v in sorted(by_category.items())}, "total": dict(total)}


def _rate(n: int, d: int) -> str:
    return f"{n / d:6.1%}" if d else "     –"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jupyter_tos_guard.bench.evaluate", description=__doc__)
    parser.add_argument("snapshots", type=Path, help="folder of <owner>+<repo>/<commit>/<path> files")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--half", choices=("dev", "test", "all"), default="test")
    parser.add_argument(
        "--round", default="all", help="only entries added in this collection round (1, 2, ...; default all)"
    )
    parser.add_argument("--policy", action="append", default=[], help="an operator policy layered over the default")
    parser.add_argument("--threshold", choices=("log", "warn", "block"), default="warn", help="what counts as found")
    parser.add_argument("--json", action="store_true", help="print the figures and every outcome as JSON")
    args = parser.parse_args(argv)
    items = [
        i
        for i in read_manifest(args.manifest)
        if (args.half == "all" or i.half == args.half) and (args.round == "all" or str(i.round) == args.round)
    ]
    engine = Engine(load_policy(args.policy))
    threshold = Action.parse(args.threshold)
    outcomes, missing = [], []
    for item in items:
        file = item.locate(args.snapshots)
        if file is None:
            missing.append(item)
            continue
        outcomes.append(judge(engine, item, file, threshold))
    summary = summarize(outcomes)
    if args.json:
        rows = [
            {
                "repo": o.item.repo,
                "path": o.item.path,
                "label": o.item.label,
                "category": o.item.category,
                "round": o.item.round,
                "flagged": o.flagged,
                "rules": o.rules,
            }
            for o in outcomes
        ]
        print(
            json.dumps(
                {"half": args.half, "round": args.round, "summary": summary, "outcomes": rows, "missing": len(missing)},
                indent=2,
            )
        )
        return 0
    which = "" if args.round == "all" else f", round {args.round}"
    print(f"{args.half} half{which}: {len(outcomes)} files read, {len(missing)} not in the snapshots folder")
    print(
        f"{'category':<20}{'prohibited':>11}{'found':>7}{'recall':>8}{'benign':>8}{'false':>7}{'rate':>8}{'hard neg.':>10}"
    )
    for name, c in [*summary["categories"].items(), ("all", summary["total"])]:
        print(
            f"{name:<20}{c.get('prohibited', 0):>11}{c.get('found', 0):>7}{_rate(c.get('found', 0), c.get('prohibited', 0)):>8}"
            f"{c.get('benign', 0):>8}{c.get('false_alarms', 0):>7}{_rate(c.get('false_alarms', 0), c.get('benign', 0)):>8}"
            f"{c.get('hard_false_alarms', 0):>5}/{c.get('hard_negatives', 0):<4}"
        )
    misses = [o for o in outcomes if o.item.label == "prohibited" and not o.flagged]
    alarms = [o for o in outcomes if o.item.label == "benign" and o.flagged]
    if misses:
        print("\nmissed (prohibited, nothing at or above the threshold):")
        for o in misses:
            extra = f" [unreadable: {o.error}]" if o.error else ""
            print(f"  {o.item.category:<18} {o.item.repo}/{o.item.path}: {o.item.reason}{extra}")
    if alarms:
        print("\nfalse alarms (benign, flagged):")
        for o in alarms:
            print(f"  {o.item.category:<18} {o.item.repo}/{o.item.path}: {', '.join(o.rules)} — {o.item.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
