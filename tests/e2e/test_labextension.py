"""What a student sees, in a real JupyterLab 4 / Notebook 7 in headless Chromium.

Each test opens its own notebook (so its own kernel), runs cells with the keyboard as a
student would, and checks the inline notice, the banner, the kernel's side effects on disk,
and the server's audit log. Screenshots of the warn, block and confirm states go to a
temporary folder, or to docs/screenshots/ with JUPYTER_TOS_GUARD_SCREENSHOTS=docs.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from guard_fixtures import read_audit
from playwright.sync_api import Locator, Page, expect

from jupyter_tos_guard.bench.server import execute_request_content

from .conftest import Lab

MIME = "application/vnd.jupyter.tos-guard+json"
pytestmark = pytest.mark.timeout(240)


# --- helpers ---------------------------------------------------------------------------------


def open_lab(page: Page, lab: Lab, notebook: str) -> Locator:
    """Open a notebook in JupyterLab (its own workspace, so tests do not share a layout)."""
    workspace = "e2e-" + re.sub(r"\W", "-", notebook)
    page.goto(lab.url(f"/lab/workspaces/{workspace}/tree/{notebook}?reset"))
    return _ready(page, notebook)


def open_nb7(page: Page, lab: Lab, notebook: str) -> Locator:
    """Open a notebook in Notebook 7 (/notebooks/...)."""
    page.goto(lab.url(f"/notebooks/{notebook}"))
    return _ready(page, notebook)


KERNEL_READY = """(name) => {
  const app = window.jupyterapp;
  const widget = app && app.shell.currentWidget;
  const kernel = widget && widget.sessionContext && widget.sessionContext.session
    && widget.sessionContext.session.kernel;
  return !!kernel && widget.context.path === name && kernel.connectionStatus === 'connected'
    && kernel.status === 'idle';
}"""


def _ready(page: Page, notebook: str) -> Locator:
    """Wait until the notebook in view is `notebook` and its kernel is connected and idle."""
    panel = page.locator(".jp-NotebookPanel:visible")
    panel.locator(".jp-Cell").first.wait_for(timeout=90_000)
    page.wait_for_function(KERNEL_READY, arg=notebook, timeout=90_000)
    return panel


def cell(panel: Locator, index: int) -> Locator:
    return panel.locator(".jp-Notebook .jp-Cell").nth(index)


def run_cell(page: Page, panel: Locator, index: int) -> Locator:
    """Select a cell (command mode), Shift+Enter, and wait until it has finished with output."""
    c = cell(panel, index)
    c.locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("Shift+Enter")
    wait_finished(c)
    return c


def wait_finished(c: Locator, timeout: float = 60_000) -> None:
    expect(c.locator(".jp-OutputArea-output").first).to_be_attached(timeout=timeout)
    expect(c.locator(".jp-InputPrompt")).not_to_have_text(re.compile(r"\[\*\]"), timeout=timeout)


def banner(panel: Locator) -> Locator:
    return panel.locator(".jp-TosGuard-banner")


def entries(panel: Locator) -> Locator:
    return panel.locator(".jp-TosGuard-banner .jp-TosGuard-entry")


def audit(lab: Lab, surface: str = "cell") -> list[dict[str, Any]]:
    """The audit records of one surface: cells by default (opening a notebook adds a `file` record)."""
    return read_audit(lab.audit, surface=surface)


def shot(page: Page, screenshots: Path, name: str) -> None:
    page.wait_for_timeout(300)  # let the layout settle after the last fit
    page.screenshot(path=str(screenshots / name))


def set_theme(page: Page, theme: str) -> None:
    page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme)
    light = "true" if "Light" in theme else "false"
    expect(page.locator(f"body[data-jp-theme-light='{light}']")).to_be_attached()
    page.wait_for_timeout(500)


def kernel_of(lab: Lab, notebook: str) -> str:
    for session in lab.api("/api/sessions"):
        if session.get("path") == notebook:
            return str(session["kernel"]["id"])
    raise AssertionError(f"no session for {notebook}")


def execute_from_outside(lab: Lab, kernel_id: str, code: str) -> list[dict[str, Any]]:
    """Send one execute_request to a kernel over its websocket (legacy JSON protocol), like a
    second frontend would; returns the messages answering it. Runs its own loop in a thread."""

    async def go() -> list[dict[str, Any]]:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        url = lab.base.replace("http://", "ws://") + f"/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}"
        ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {lab.token}"}))
        msg_id = uuid.uuid4().hex
        ws.write_message(
            json.dumps(
                {
                    "channel": "shell",
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "session": uuid.uuid4().hex,
                        "username": "e2e",
                        "version": "5.3",
                        "date": datetime.datetime.now(datetime.UTC).isoformat(),
                    },
                    "parent_header": {},
                    "metadata": {},
                    "buffers": [],
                    "content": execute_request_content(code),
                }
            )
        )
        answers: list[dict[str, Any]] = []
        while True:
            raw = await asyncio.wait_for(ws.read_message(), 30)
            if raw is None:
                break
            if isinstance(raw, bytes):
                continue
            m = json.loads(raw)
            if m.get("parent_header", {}).get("msg_id") == msg_id:
                answers.append(m)
                if m.get("header", {}).get("msg_type") == "execute_reply":
                    break
        ws.close()
        return answers

    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["answers"] = asyncio.run(go())
        except BaseException as exc:  # reported below
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    if "error" in out:
        raise out["error"]
    return list(out["answers"])


# --- the cases -------------------------------------------------------------------------------


def test_benign_cell_shows_nothing(page: Page, lab: Lab) -> None:
    panel = open_lab(page, lab, "benign.ipynb")
    c = run_cell(page, panel, 0)
    expect(c.locator(".jp-OutputArea-output")).to_contain_text("hello from a benign cell")
    expect(c.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[1\]"))
    assert (lab.root / "benign_ran.txt").exists()
    page.wait_for_timeout(500)  # an event would have arrived by now
    expect(banner(panel)).to_be_hidden()
    assert entries(panel).count() == 0
    assert c.locator(".jp-TosGuard-notice").count() == 0
    assert not page.errors  # type: ignore[attr-defined]


def test_opening_a_notebook_with_prohibited_code_says_so_before_anything_runs(
    page: Page, lab: Lab, screenshots: Path
) -> None:
    panel = open_lab(page, lab, "opened.ipynb")
    notice = panel.locator(".jp-TosGuard-fileNotice")
    expect(notice).to_contain_text("cell 2")
    expect(notice).to_contain_text("Nothing has run")
    expect(banner(panel)).to_be_hidden()  # the verdict banner is for what ran: nothing did
    assert not (lab.root / "opened_ran.txt").exists() and not (lab.root / "opened_block.txt").exists()
    files = [r for r in audit(lab, "file") if r.get("origin") == "opened.ipynb"]
    assert len(files) == 1 and files[0]["action"] == "log"
    shot(page, screenshots, "file-notice.png")
    notice.locator(".jp-TosGuard-dismiss").click()
    expect(notice).to_be_hidden()
    c = run_cell(page, panel, 0)  # the notebook works as before
    expect(c.locator(".jp-OutputArea-output")).to_contain_text("hello from a benign cell")
    assert not page.errors  # type: ignore[attr-defined]


def test_warn_shows_banner_and_inline_notice_and_runs(page: Page, lab: Lab, screenshots: Path) -> None:
    panel = open_lab(page, lab, "warn.ipynb")
    c = run_cell(page, panel, 0)
    # inline notice first, then the cell's own output: the code ran
    notice = c.locator(".jp-TosGuard-notice")
    expect(notice).to_have_attribute("data-action", "warn")
    expect(notice).to_have_attribute("role", "status")
    expect(notice.locator(".jp-TosGuard-title")).to_have_text("faceswap (deepfakes/faceswap)")
    expect(notice.locator("mark.jp-TosGuard-hit")).to_have_text("github.com/deepfakes/faceswap")
    expect(notice.locator("a", has_text="Terms of use")).to_have_attribute("href", "https://example.org/terms-of-use")
    outputs = c.locator(".jp-OutputArea-output")
    expect(outputs.nth(1)).to_contain_text("reading the faceswap README")
    expect(c.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[1\]"))
    assert (lab.root / "warn_ran.txt").read_text() == "the cell ran"
    # our renderer, not the text/html fallback
    assert c.locator(".jp-tos-guard-notice").count() == 0
    # the banner at the top of this notebook
    expect(entries(panel)).to_have_count(1)
    entry = entries(panel).first
    expect(entry).to_have_attribute("data-action", "warn")
    expect(entry.locator(".jp-TosGuard-title")).to_have_text("faceswap (deepfakes/faceswap)")
    box = banner(panel).bounding_box()
    assert box is not None and box["height"] > 40  # really laid out, not a zero-height box
    page.mouse.move(0, 0)
    shot(page, screenshots, "warn.png")

    # a repeat collapses into the same entry with a count
    run_cell(page, panel, 0)
    expect(entries(panel)).to_have_count(1)
    expect(entries(panel).first.locator(".jp-TosGuard-count")).to_have_text("(2 times)")

    # keyboard dismiss
    entries(panel).first.locator(".jp-TosGuard-dismiss").focus()
    page.keyboard.press("Escape")
    expect(banner(panel)).to_be_hidden()
    assert [r["action"] for r in audit(lab) if r.get("notebook_path") == "warn.ipynb"] == ["warn", "warn"]
    assert not page.errors  # type: ignore[attr-defined]


def test_block_shows_banner_and_error_and_next_cell_runs(page: Page, lab: Lab, screenshots: Path) -> None:
    panel = open_lab(page, lab, "block.ipynb")
    c = run_cell(page, panel, 0)
    error = c.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    expect(error).to_contain_text("TermsOfUseViolation")
    expect(c.locator(".jp-TosGuard-notice")).to_have_count(0)  # block: the error says it all
    expect(c.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[ \]"))  # finished, not [*]
    assert not (lab.root / "block_ran.txt").exists()
    entry = entries(panel).first
    expect(entry).to_have_attribute("data-action", "block")
    expect(entry).to_have_attribute("role", "alert")
    expect(entry.locator(".jp-TosGuard-title")).to_have_text("XMRig cryptocurrency miner")
    expect(entry.locator("mark")).to_have_text("github.com/xmrig/xmrig")
    expect(entry.locator(".jp-TosGuard-message")).to_contain_text(
        "The terms of use of this service prohibit cryptocurrency mining"
    )
    page.mouse.move(0, 0)
    shot(page, screenshots, "block.png")
    # the same in JupyterLab's dark theme: only theme variables are used
    set_theme(page, "JupyterLab Dark")
    try:
        shot(page, screenshots, "block-dark.png")
    finally:
        set_theme(page, "JupyterLab Light")

    # the kernel is not stuck: the next cell runs
    nxt = run_cell(page, panel, 1)
    expect(nxt.locator(".jp-OutputArea-output")).to_contain_text("next cell ran")
    assert (lab.root / "after_block_ran.txt").exists()
    expect(page.locator(".jp-Notebook-ExecutionIndicator:visible[data-status='idle']").first).to_be_attached()
    assert not page.errors  # type: ignore[attr-defined]


def test_confirm_acknowledged_runs_once(page: Page, lab: Lab, screenshots: Path) -> None:
    panel = open_lab(page, lab, "confirm.ipynb")
    c = run_cell(page, panel, 0)
    notice = c.locator(".jp-TosGuard-notice")
    expect(notice).to_have_attribute("data-action", "confirm")
    expect(c.locator(".jp-OutputArea-output")).to_contain_text(["", "TermsOfUseViolation"])
    assert not (lab.root / "confirm_ran.txt").exists()
    entry = entries(panel).first
    expect(entry).to_have_attribute("data-action", "confirm")
    run_anyway = entry.locator("button.jp-TosGuard-runAnyway")
    expect(run_anyway).to_have_text("I understand — run anyway")
    expect(notice.locator("button.jp-TosGuard-runAnyway")).to_be_visible()
    page.mouse.move(0, 0)
    shot(page, screenshots, "confirm.png")

    # from the banner
    run_anyway.click()
    expect(c.locator(".jp-OutputArea-output")).to_contain_text("ran after acknowledgement")
    wait_finished(c)
    expect(c.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]"))
    assert (lab.root / "confirm_ran.txt").read_text() == "acknowledged and ran"
    expect(entry.locator(".jp-TosGuard-confirmStatus")).to_have_text("Acknowledged: the cell ran.")
    actions = [r["action"] for r in audit(lab) if r.get("notebook_path") == "confirm.ipynb"]
    assert actions == ["confirm", "acknowledged"]
    page.mouse.move(0, 0)
    shot(page, screenshots, "confirm-acknowledged.png")

    # once only: running it again asks again; this time acknowledge from the inline notice
    (lab.root / "confirm_ran.txt").unlink()
    run_cell(page, panel, 0)
    expect(notice).to_have_attribute("data-action", "confirm")
    assert not (lab.root / "confirm_ran.txt").exists()
    expect(entries(panel)).to_have_count(1)
    expect(entries(panel).first.locator(".jp-TosGuard-count")).to_have_text("(2 times)")
    notice.locator("button.jp-TosGuard-runAnyway").click()
    expect(c.locator(".jp-OutputArea-output")).to_contain_text("ran after acknowledgement")
    assert (lab.root / "confirm_ran.txt").exists()
    actions = [r["action"] for r in audit(lab) if r.get("notebook_path") == "confirm.ipynb"]
    assert actions == ["confirm", "acknowledged", "confirm", "acknowledged"]
    assert not page.errors  # type: ignore[attr-defined]


def test_banner_survives_a_page_reload(page: Page, lab: Lab) -> None:
    panel = open_lab(page, lab, "reload.ipynb")
    run_cell(page, panel, 0)
    expect(entries(panel)).to_have_count(1)
    page.reload()
    panel = _ready(page, "reload.ipynb")
    expect(entries(panel)).to_have_count(1)  # from GET /tos-guard/verdicts?kernel_id=
    entry = entries(panel).first
    expect(entry).to_have_attribute("data-action", "warn")
    expect(entry.locator(".jp-TosGuard-title")).to_have_text("faceswap (deepfakes/faceswap)")
    # a dismissal also survives the reload
    entry.locator(".jp-TosGuard-dismiss").click()
    expect(banner(panel)).to_be_hidden()
    page.reload()
    panel = _ready(page, "reload.ipynb")
    page.wait_for_timeout(1500)
    expect(banner(panel)).to_be_hidden()


def test_excerpt_with_html_is_shown_as_text(page: Page, lab: Lab) -> None:
    panel = open_lab(page, lab, "xss.ipynb")
    warned = run_cell(page, panel, 0)  # inline notice (our renderer) + banner
    expect(warned.locator(".jp-TosGuard-notice .jp-TosGuard-excerpt")).to_contain_text(
        '<img src=x onerror="window.__pwned=1">'
    )
    expect(warned.locator(".jp-OutputArea-output").nth(1)).to_contain_text("the warned cell ran")
    blocked = run_cell(page, panel, 1)  # error + banner
    expect(blocked.locator(".jp-OutputArea-output")).to_contain_text("TermsOfUseViolation")
    expect(entries(panel)).to_have_count(2)
    excerpts = entries(panel).locator(".jp-TosGuard-excerpt")
    expect(excerpts.nth(0)).to_contain_text('<img src=x onerror="window.__pwned=2">')
    expect(excerpts.nth(1)).to_contain_text('<img src=x onerror="window.__pwned=1">')
    page.wait_for_timeout(500)
    assert page.locator(".jp-NotebookPanel img").count() == 0  # no element was made from the text
    assert page.evaluate("() => window.__pwned") is None  # and nothing ran
    assert not page.errors  # type: ignore[attr-defined]


def test_other_notebooks_stay_clean_and_hidden_verdicts_notify(page: Page, lab: Lab) -> None:
    panel_a = open_lab(page, lab, "other_a.ipynb")
    run_cell(page, panel_a, 0)
    expect(entries(panel_a)).to_have_count(1)
    # open B beside it, from the file browser, as a student would
    page.locator(".jp-DirListing-item[title^='Name: other_b.ipynb']").dblclick()
    panel_b = _ready(page, "other_b.ipynb")
    run_cell(page, panel_b, 0)
    assert (lab.root / "other_b_ran.txt").exists()
    expect(banner(panel_b)).to_be_hidden()

    # a verdict on A's kernel while B is in view: a notification, and A's banner counts it
    answers = execute_from_outside(
        lab, kernel_of(lab, "other_a.ipynb"), "!wget https://github.com/xmrig/xmrig/archive/master.zip"
    )
    assert [m["header"]["msg_type"] for m in answers] == ["status", "error", "execute_reply"]
    toast = page.locator(".Toastify__toast", has_text="other_a.ipynb")
    expect(toast).to_contain_text("Blocked")
    expect(toast).to_contain_text("XMRig cryptocurrency miner")
    expect(banner(panel_b)).to_be_hidden()
    toast.get_by_role("button", name="Show notebook").click()
    panel_a = page.locator(".jp-NotebookPanel:visible")
    expect(panel_a.locator(".jp-TosGuard-count")).to_have_text("(2 times)")
    assert not page.errors  # type: ignore[attr-defined]


def test_terms_of_use_panel_from_help_menu(page: Page, lab: Lab, screenshots: Path) -> None:
    open_lab(page, lab, "benign.ipynb")
    page.locator(".lm-MenuBar-itemLabel", has_text="Help").click()
    page.locator(".lm-Menu-itemLabel", has_text="Terms of use").click()
    policy = page.locator(".jp-TosGuard-policy")
    expect(policy.locator("h1")).to_have_text("Terms of use")
    expect(policy).to_contain_text("End-to-end test terms of use")
    expect(policy.locator("h2", has_text="Cryptocurrency mining")).to_be_visible()
    ngrok = policy.locator(".jp-TosGuard-policyRule[data-rule='remote-access.ngrok-tcp']")
    expect(ngrok.locator(".jp-TosGuard-badge")).to_have_text("Needs acknowledgement")
    # and from the command palette
    page.keyboard.press("Control+Shift+C")
    page.keyboard.type("Terms of use")
    expect(page.locator(".lm-CommandPalette-item", has_text="Terms of use").first).to_be_visible()
    page.keyboard.press("Escape")
    page.mouse.move(0, 0)
    shot(page, screenshots, "terms-panel.png")


def test_notebook7(page: Page, lab: Lab, screenshots: Path) -> None:
    page.goto(lab.url("/tree"))
    expect(page.locator(".jp-DirListing-item[title^='Name: nb7.ipynb']")).to_be_visible(timeout=90_000)
    panel = open_nb7(page, lab, "nb7.ipynb")
    c = run_cell(page, panel, 0)
    expect(c.locator(".jp-OutputArea-output")).to_contain_text("TermsOfUseViolation")
    expect(c.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[ \]"))
    entry = entries(panel).first
    expect(entry).to_have_attribute("data-action", "block")
    expect(entry.locator(".jp-TosGuard-title")).to_have_text("XMRig cryptocurrency miner")
    assert not (lab.root / "nb7_ran.txt").exists()
    nxt = run_cell(page, panel, 1)
    expect(nxt.locator(".jp-OutputArea-output")).to_contain_text("next cell ran")
    assert (lab.root / "nb7_after_ran.txt").exists()
    page.mouse.move(0, 0)
    shot(page, screenshots, "notebook7-block.png")
    # the Terms of use command is in Notebook 7's Help menu too
    page.locator(".lm-MenuBar-itemLabel", has_text="Help").click()
    page.locator(".lm-Menu-itemLabel", has_text="Terms of use").click()
    expect(page.locator(".jp-TosGuard-policy h2", has_text="Cryptocurrency mining")).to_be_visible()
    # Notebook 7's own settings code logs an error on this page; none may come from us
    assert not [e for e in page.errors if "tos-guard" in e.lower() or "tosguard" in e.lower()]  # type: ignore[attr-defined]
