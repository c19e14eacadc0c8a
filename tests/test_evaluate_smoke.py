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


def test_round_filter_keeps_the_hash_split(
    snapshots: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, manifest = snapshots
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    rows[0]["round"] = 2  # the miner notebook joins a later collection round
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    main([str(folder), "--manifest", str(manifest), "--half", "all", "--round", "2", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert [(o["repo"], o["round"]) for o in data["outcomes"]] == [("someone/colab-miner", 2)]
    main([str(folder), "--manifest", str(manifest), "--half", "all", "--round", "1", "--json"])
    assert {o["round"] for o in json.loads(capsys.readouterr().out)["outcomes"]} == {1}
    item = next(i for i in read_manifest(manifest) if i.round == 2)
    unrounded = next(i for i in read_manifest(manifest) if i.repo == item.repo and i.path == item.path)
    assert item.half == unrounded.half  # the round does not move an entry between halves


def test_the_committed_manifest_has_a_second_round() -> None:
    second = [i for i in read_manifest(MANIFEST) if i.round == 2]
    assert len(second) >= 100
    assert {i.category for i in second} == {"deepfake", "mining", "dos", "password-cracking", "p2p", "remote-access"}
    benign = [i for i in second if i.label == "benign"]
    assert sum(i.hard_negative for i in benign) >= len(second) / 3
