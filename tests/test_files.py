"""Notebooks and scripts as they are opened or saved: read with the policy on a real server, never refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from guard_fixtures import POLICIES, enable_guard, read_audit
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def jp_server_config(jp_server_config: Config, audit_path: Path) -> Config:
    return enable_guard(jp_server_config, policy_file=POLICIES / "warn_block.yaml", audit_path=audit_path)


def notebook(*cells: tuple[str, str]) -> str:
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        nb.cells.append(nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source))
    return str(nbformat.writes(nb))


async def read(jp_fetch: Any, path: str) -> dict[str, Any]:
    r = await jp_fetch("tos-guard", "file", params={"path": path})
    return dict(json.loads(r.body))


async def test_opened_notebook_names_its_prohibited_cells(jp_fetch: Any, jp_root_dir: Path, audit_path: Path) -> None:
    (jp_root_dir / "shared.ipynb").write_text(
        notebook(("markdown", "# Week 3"), ("code", "print('hello')"), ("code", "!blockme-tool --fast"))
    )
    result = await read(jp_fetch, "shared.ipynb")
    assert [(f["cell"], f["rule"], f["action"]) for f in result["findings"]] == [(3, "test.blockme", "block")]
    assert result["findings"][0]["excerpt"] == "!blockme-tool --fast"
    assert result["findings"][0]["title"]
    reason = result["verdict"]["reason"]
    assert "cell 3" in reason and "Nothing has run" in result["verdict"]["reason"]
    assert result["verdict"]["action"] == "warn"  # a notice: opening a file never blocks anything
    records = read_audit(audit_path, surface="file")
    assert len(records) == 1 and records[0]["origin"] == "shared.ipynb" and records[0]["action"] == "log"
    await read(jp_fetch, "shared.ipynb")  # the same content again: no second record
    assert len(read_audit(audit_path, surface="file")) == 1


async def test_clean_files_and_scripts(jp_fetch: Any, jp_root_dir: Path, audit_path: Path) -> None:
    (jp_root_dir / "clean.ipynb").write_text(notebook(("code", "import math\nprint(math.pi)")))
    (jp_root_dir / "run.sh").write_text("#!/bin/bash\nblockme-tool --pool x\n")
    clean = await read(jp_fetch, "clean.ipynb")
    assert clean["findings"] == [] and clean["verdict"] is None
    script = await read(jp_fetch, "run.sh")
    assert [(f["cell"], f["line"], f["rule"]) for f in script["findings"]] == [(None, 2, "test.blockme")]


async def test_paths_outside_the_root_or_not_code_are_refused(jp_fetch: Any, jp_root_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.py").write_text("blockme-tool\n")
    (jp_root_dir / "data.csv").write_text("a,b\n")
    for path in ("../outside.py", "/etc/passwd", "data.csv", "missing.ipynb"):
        with pytest.raises(HTTPClientError) as err:
            await read(jp_fetch, path)
        assert err.value.code == 404


async def test_saving_is_never_refused_or_altered_and_is_read_after(
    jp_fetch: Any, jp_root_dir: Path, audit_path: Path
) -> None:
    import asyncio

    content = json.loads(notebook(("code", "!blockme-tool"), ("code", "x = 1")))
    body = json.dumps({"type": "notebook", "format": "json", "content": content})
    r = await jp_fetch("api", "contents", "saved.ipynb", method="PUT", body=body)
    assert r.code in (200, 201)
    on_disk = nbformat.read(jp_root_dir / "saved.ipynb", as_version=4)
    assert [c.source for c in on_disk.cells] == ["!blockme-tool", "x = 1"]
    for _ in range(50):  # read in the background after the save
        if read_audit(audit_path, surface="file"):
            break
        await asyncio.sleep(0.1)
    records = read_audit(audit_path, surface="file")
    assert len(records) == 1 and records[0]["rules"] == ["test.blockme"]


async def test_broken_notebook_answers_with_the_reason(jp_fetch: Any, jp_root_dir: Path) -> None:
    (jp_root_dir / "broken.ipynb").write_text('{"cells": [ not json')
    result = await read(jp_fetch, "broken.ipynb")
    assert result["findings"] == [] and "not a readable notebook" in result["error"]
