"""The real-code evaluation command on a folder laid out like the snapshots it reads (our own
small samples here: the real files are never committed)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from jupyter_tos_guard.bench.evaluate import MANIFEST, main, read_manifest

FILES = {
    ("someone/colab-miner", "abc123", "mine.ipynb"): (
        nbformat.writes(
            nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("!./xmrig -o pool.supportxmr.com:3333")])
        ),
        "prohibited",
        "mining",
    ),
    ("someone/pow-lesson", "HEAD", "pow.py"): (
        "import hashlib\nnonce = 0\nwhile not hashlib.sha256(f'block{nonce}'.encode()).hexdigest().startswith('0000'):\n"
        "    nonce += 1\nprint(nonce)\n",
        "benign",
        "mining",
    ),
    ("someone/hidden", "def456", "run.sh"): ("echo hello\n", "prohibited", "mining"),  # a miss, on purpose
}


@pytest.fixture
def snapshots(tmp_path: Path) -> tuple[Path, Path]:
    rows = []
    for (repo, commit, path), (text, label, category) in FILES.items():
        file = tmp_path / "snap" / repo.replace("/", "+") / commit / path
        file.parent.mkdir(parents=True)
        file.write_text(text)
        rows.append(
            {
                "repo": repo,
                "path": path,
                "commit": commit,
                "label": label,
                "category": category,
                "hard_negative": label == "benign",
                "reason": "sample",
            }
        )
    rows.append(
        {
            "repo": "someone/absent",
            "path": "x.py",
            "commit": "HEAD",
            "label": "benign",
            "category": "mining",
            "reason": "not in the folder",
        }
    )
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path / "snap", manifest


def test_recall_false_alarms_and_every_miss_are_printed(
    snapshots: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, manifest = snapshots
    assert main([str(folder), "--manifest", str(manifest), "--half", "all"]) == 0
    out = capsys.readouterr().out
    assert "3 files read, 1 not in the snapshots folder" in out
    mining = next(line for line in out.splitlines() if line.startswith("mining"))
    assert mining.split()[1:4] == ["2", "1", "50.0%"]  # 2 prohibited, 1 found
    assert "someone/hidden/run.sh" in out.split("missed")[1]
    assert "false alarms" not in out


def test_json_output_and_halves(snapshots: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    folder, manifest = snapshots
    main([str(folder), "--manifest", str(manifest), "--half", "all", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["total"]["prohibited"] == 2 and data["missing"] == 1
    halves = {i.half for i in read_manifest(manifest)}
    assert halves <= {"dev", "test"}


def test_the_committed_manifest_is_well_formed() -> None:
    items = read_manifest(MANIFEST)
    assert len(items) >= 300
    assert len({(i.repo, i.path) for i in items}) == len(items)  # no file twice
    benign = [i for i in items if i.label == "benign"]
    assert sum(i.hard_negative for i in benign) >= len(items) / 3
    assert all(i.reason.strip() for i in items)
    for half in ("dev", "test"):
        share = sum(i.half == half for i in items) / len(items)
        assert 0.35 < share < 0.65
