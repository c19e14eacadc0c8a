"""The operators' dashboard in real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright), on a real JupyterHub with its proxy and the service, logged in through the hub's
own login form and OAuth.

The verdicts on the charts are the test's own: one cell blocked on alice's real server, and
two weeks of reports that three users' guards send (their own hub tokens, records dated in
the past as a guard replaying its queue). The charts must show exactly those; a non-admin is
refused and sees none of them. JUPYTER_TOS_GUARD_SCREENSHOTS=docs saves the screenshot to
docs/screenshots/hub-dashboard.png (else to a temporary folder).
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from hubharness import PASSWORD, SERVICE, Hub, _required, wait_for
from test_hub_integration import run_cells, status_of

pytestmark = pytest.mark.timeout(300)

CHROMIUM = os.environ.get("TOS_GUARD_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DAY = 86400

# (category, rule, action) by user; each user reports on the days listed, `n` times a day
KINDS = {
    "mining": ("mining.xmrig", "block"),
    "deepfake": ("deepfake.faceswap", "warn"),
    "cracking": ("cracking.hashcat", "block"),
    "tunnels": ("tunnel.ngrok", "confirm"),
}
HISTORY = {
    "grace": [(d, "mining", 1 + d % 3) for d in range(1, 12)] + [(d, "tunnels", 1) for d in (2, 5, 9)],
    "frank": [(d, "deepfake", 2) for d in range(1, 13, 2)] + [(4, "cracking", 3)],
    "erin": [(d, "deepfake", 1) for d in (3, 6, 7)] + [(d, "mining", 1) for d in (6, 10)],
}


# pytest-jupyter's autouse fixtures would drive an asyncio loop in this thread, where Playwright's
# sync API runs its own; these tests need neither
@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[None]:
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> Iterator[None]:
    yield None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed"
    else:
        reason = "" if Path(CHROMIUM).exists() else f"{CHROMIUM} is missing (apt-get install chromium)"
    if reason:
        if _required():
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def ensure_user(hub: Hub, name: str) -> None:
    r = requests.post(f"{hub.hub_api}/users/{name}", headers={"Authorization": f"token {hub.driver_token}"}, timeout=30)
    assert r.status_code in (201, 409), r.text  # 409: made by an earlier run of this module


def report_history(hub: Hub, now: float) -> list[dict[str, Any]]:
    """Send HISTORY as each user's guard would; returns the records sent, plus their user."""
    sent: list[dict[str, Any]] = []
    for user, days in HISTORY.items():
        ensure_user(hub, user)
        records = []
        for day, category, n in days:
            rule, action = KINDS[category]
            for k in range(n):
                # mid-morning n days ago, minutes apart: far from the window's edges
                t = now - day * DAY + 600 * k
                records.append(
                    {"event": "decision", "time": t, "action": action, "rules": [rule], "categories": [category]}
                )
        seqs = list(range(1, len(records) + 1))
        if user == "frank":
            seqs = [s + 2 if s > 3 else s for s in seqs]  # two records "lost": a report-gap flag
        answer = hub.service(
            "POST",
            "api/guard/reports",
            token=hub.token_for(user),
            direct=True,
            json={
                "client_id": uuid.uuid4().hex,
                "records": [{"seq": s, "record": r} for s, r in zip(seqs, records, strict=True)],
            },
        )
        assert answer["inserted"] == len(records)
        sent += [dict(r, user=user) for r in records]
    return sent


def day_label(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%b %d")


def log_in(page: Any, hub: Hub, user: str) -> Any:
    """Open the service; the hub's login form comes first; back through OAuth."""
    page.goto(f"{hub.proxy_url}/services/{SERVICE}/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation(url=f"**/services/{SERVICE}/**") as nav:
        page.click("[type=submit]")
    return nav.value


@pytest.fixture(scope="module")
def made(hub: Hub) -> tuple[float, list[dict[str, Any]]]:
    """The verdicts the test makes (before the browser starts: Playwright's sync API holds this
    thread's event loop, and the kernel client needs one): a real blocked cell, then the history."""
    hub.start_server("alice")
    [msgs] = run_cells(hub, "alice", ["!blockme-tool --for-the-dashboard"])
    assert status_of(msgs) == "error"
    wait_for(lambda: hub.verdicts(user="alice", rule="test.blockme"), timeout=60, what="alice's verdict")
    now = time.time()
    return now, report_history(hub, now)


def test_admin_sees_the_charts_of_the_verdicts_made_and_a_user_is_refused(
    hub: Hub, made: tuple[float, list[dict[str, Any]]], browser: Any
) -> None:
    from playwright.sync_api import expect

    now, sent = made
    # everything in the dashboard's default window (the last 14 days), alice's cell and the
    # history, as the admin API lists it
    in_window = hub.verdicts(since="14d")
    assert Counter(v["user"] for v in in_window if v["user"] in HISTORY) == Counter(v["user"] for v in sent)

    context = browser.new_context(viewport={"width": 1280, "height": 1000}, device_scale_factor=1, locale="en-US")
    context.set_default_timeout(30_000)
    page = context.new_page()
    response = log_in(page, hub, "admin")
    assert response.status == 200
    outside: list[str] = []
    page.on("request", lambda req: None if req.url.startswith(hub.proxy_url) else outside.append(req.url))
    page.reload()
    expect(page.locator("#chart-action svg")).to_be_visible()

    # the page is the server's: no script, no request for anything elsewhere
    assert page.locator("script").count() == 0 and outside == []

    # a record without an action (a policy loaded, an engine error) is counted by its event
    by_action = Counter((day_label(v["time"]), v["action"] or v["event"]) for v in in_window)
    by_category = Counter((day_label(v["time"]), c) for v in in_window for c in v["categories"] or ["(none)"])
    # one rectangle per day and series, titled with its count; exactly the verdicts made
    for chart, expected in (("#chart-action", by_action), ("#chart-category", by_category)):
        titles = page.locator(f"{chart} svg rect title").all_text_contents()
        assert sorted(titles) == sorted(f"{day}: {n:,} {series}" for (day, series), n in expected.items())
        caption = page.locator(f"{chart} figcaption").inner_text()
        assert f"({len(in_window):,})" in caption
    # the same numbers as a table, for screen readers and for reading off
    table = page.locator("#chart-action table.numbers")
    header = table.locator("thead th").all_text_contents()
    today = table.locator("tbody tr").last.locator("td").all_text_contents()
    assert today[0] == day_label(now) and today[header.index("block")] == str(by_action[(day_label(now), "block")])
    assert (page.locator("#chart-action svg title").first.text_content() or "").startswith(
        "Verdicts by action over time"
    )

    users = Counter(v["user"] for v in in_window)
    rows = page.locator("#top-users tbody tr")
    top = [(r.locator("td").nth(0).inner_text(), int(r.locator("td").nth(1).inner_text())) for r in rows.all()]
    assert top == sorted(users.items(), key=lambda kv: (-kv[1], kv[0]))
    rules = page.locator("#top-rules tbody tr").all_inner_texts()
    assert rules[0].split() == ["mining.xmrig", str(sum(1 for v in sent if v["rules"] == ["mining.xmrig"]))]
    blocked_cells = sum(1 for v in in_window if "test.blockme" in v["rules"])
    assert ["test.blockme", str(blocked_cells)] in [r.split() for r in rules]
    expect(page.locator("#flagged")).to_contain_text("frank")
    expect(page.locator("#flagged")).to_contain_text("report-gap")

    shots = os.environ.get("JUPYTER_TOS_GUARD_SCREENSHOTS")
    folder = SCREENSHOTS if shots == "docs" else Path(shots) if shots else hub.root
    page.wait_for_timeout(300)
    page.screenshot(path=str(folder / "hub-dashboard.png"))

    # a legend entry filters: erin's mining only, charts and tops alike
    page.goto(f"{hub.proxy_url}/services/{SERVICE}/?user=erin")
    with page.expect_navigation():
        page.locator("#chart-category .legend a", has_text="mining").click()
    assert "category=mining" in page.url and "user=erin" in page.url
    erin_mining = sum(1 for v in sent if v["user"] == "erin" and v["categories"] == ["mining"])
    expect(page.locator("#chart-action figcaption")).to_contain_text(f"({erin_mining})")
    assert page.locator("#top-users tbody tr").all_inner_texts()[0].split()[:2] == ["erin", str(erin_mining)]
    assert page.locator("#top-users tbody tr").count() == 1
    context.close()

    # bob is a user, not an operator: refused, and nothing of the verdicts on the page
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{hub.proxy_url}/services/{SERVICE}/")
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_response(lambda r: r.status == 403) as refused:
        page.click("[type=submit]")
    assert refused.value.status == 403
    page.wait_for_load_state()
    html = page.content()
    assert "403" in html
    for secret in ("blockme", "erin", "grace", "mining", "<svg"):
        assert secret not in html
    # nor through the service's own URL with bob's hub token
    r = requests.get(
        f"{hub.proxy_url}/services/{SERVICE}/", headers={"Authorization": f"token {hub.token_for('bob')}"}, timeout=30
    )
    assert r.status_code == 403 and "grace" not in r.text
    context.close()
