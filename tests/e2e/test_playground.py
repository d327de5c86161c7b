"""The Playground in a real headless Chromium (Debian's), driven by Playwright, against `runplane
local`: a bad key, a good key, a run that needs approval appearing as paused without a reload,
approving it with edited input until done, denying another with a reason, and the Functions pane.
Screenshots go to tests/e2e/artifacts/ (git-ignored)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runplane import Runplane
from tests.support.local_process import local_mode

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = os.environ.get("RUNPLANE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
FUNCTION = "current_time"
SCRIPT = {"modelScript": [{"toolCalls": [{"name": FUNCTION, "input": {"timezone": "UTC"}}]}]}

if not CHROMIUM:
    pytest.skip(
        "no Chromium: `./dev test` installs Debian's chromium when run as root; else `sudo apt-get install chromium`",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def local() -> Iterator[dict[str, Any]]:
    with local_mode() as info:
        with Runplane(info["api"], info["key"]) as client:
            client.functions.put(
                FUNCTION,
                {
                    "description": "The time, once someone agrees",
                    "requiresApproval": True,
                    "target": {"type": "builtin"},
                },
            )
        yield info


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.on(
        "console",
        lambda msg: (
            errors.append(msg.text) if msg.type == "error" and "Failed to load resource" not in msg.text else None
        ),
    )
    yield p
    context.close()
    assert not errors, errors  # no script errors, no CSP refusals


def test_the_page_is_public_self_contained_and_holds_no_data(local: dict[str, Any]) -> None:
    response = httpx.get(local["api"] + "/playground")  # no key
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "<script>" in response.text and "http://" not in response.text.split("<script>")[1].split("</script>")[0]
    assert "script-src 'sha256-" in response.headers["content-security-policy"]
    assert httpx.get(local["api"] + "/clusters/default/runs").status_code == 401  # the data is not


def _login(page: Any, local: dict[str, Any], key: str) -> None:
    page.goto(local["api"] + "/playground")
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_label("Cluster", exact=True).fill("default")
    page.get_by_role("button", name="Use this key").click()


def _start_run(page: Any, prompt: str) -> None:
    page.get_by_role("link", name="New run").click()
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.locator(f"#new-functions input[value='{FUNCTION}']").check()
    page.get_by_label("Metadata (key=value, one a line)", exact=True).fill("team=playground")
    page.get_by_label("More fields", exact=False).fill(json.dumps({"test": SCRIPT}))
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url("**/playground#/runs/*")


def test_a_bad_key_shows_a_clear_message(local: dict[str, Any], page: Any) -> None:
    _login(page, local, "sk_not_a_real_key_000000000000000000000")
    alert = page.get_by_role("alert")
    sync_api.expect(alert).to_contain_text("refused this key (401 Unauthorized)")
    sync_api.expect(page.get_by_label("API key", exact=True)).to_be_visible()  # still on the key form
    page.screenshot(path=str(ARTIFACTS / "playground-bad-key.png"))


def test_approve_with_edited_input_and_deny_with_a_reason(local: dict[str, Any], page: Any) -> None:
    _login(page, local, local["key"])
    sync_api.expect(page.locator("#runs-title")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('runplane.key')") == local["key"]
    assert page.evaluate("localStorage.length") == 0  # the key is kept in the tab's session only

    # Start a run of a function that needs approval; the Runs pane shows it paused without a reload.
    _start_run(page, "What time is it in Paris?")
    run_id = page.url.rsplit("/", 1)[1]
    page.get_by_role("link", name="Runs", exact=True).click()
    page.evaluate("window.__sameDocument = true")
    row = page.locator(f"#run-{run_id}")
    sync_api.expect(row).to_have_attribute("data-status", "paused", timeout=30_000)
    assert page.evaluate("window.__sameDocument") is True  # updated in place, never reloaded
    sync_api.expect(row).to_contain_text("team=playground")
    page.screenshot(path=str(ARTIFACTS / "playground-runs-pane.png"), full_page=True)

    # Open it, edit the input, approve; the timeline grows until done.
    row.get_by_role("link").click()
    card = page.locator(".approval")
    sync_api.expect(card).to_contain_text(f"Approval needed: {FUNCTION}")
    page.screenshot(path=str(ARTIFACTS / "playground-run-paused.png"), full_page=True)
    card.locator("textarea").fill(json.dumps({"timezone": "Europe/Paris"}))
    card.get_by_role("button", name="Approve").click()
    sync_api.expect(page.locator("#run-status")).to_have_attribute("data-status", "done", timeout=30_000)
    timeline = page.locator("#run-timeline")
    sync_api.expect(timeline.locator("[data-type=approval-decided][data-approved=true]")).to_contain_text("Approved")
    sync_api.expect(timeline.locator("[data-type=approval-decided]")).to_contain_text("Europe/Paris")
    sync_api.expect(timeline.locator("[data-type=call][data-status=succeeded]")).to_contain_text("Europe/Paris")
    sync_api.expect(timeline.locator("[data-kind=human]")).to_contain_text("What time is it in Paris?")
    sync_api.expect(page.locator("#run-usage")).to_contain_text("input tokens")
    sync_api.expect(page.locator(".approval")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "playground-run-view.png"), full_page=True)

    # Another run: deny it with a reason; the reason is in its timeline.
    _start_run(page, "What time is it in Tokyo?")
    card = page.locator(".approval")
    sync_api.expect(card).to_be_visible(timeout=30_000)
    card.get_by_label(f"Reason to deny {FUNCTION}").fill("not during the freeze")
    card.get_by_role("button", name="Deny").click()
    decided = page.locator("#run-timeline [data-type=approval-decided][data-approved=false]")
    sync_api.expect(decided).to_contain_text("Reason: not during the freeze", timeout=30_000)
    sync_api.expect(page.locator("#run-status")).to_have_attribute("data-status", "done", timeout=30_000)

    # A follow-up message continues it.
    page.get_by_label("Follow-up message", exact=True).fill("Then tell me tomorrow.")
    page.get_by_role("button", name="Send").click()
    sync_api.expect(page.locator("#run-timeline [data-kind=human]")).to_have_count(2, timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "playground-run-denied.png"), full_page=True)

    # The API's errors, in words: cancelling a finished run is a 409.
    sync_api.expect(page.locator("#run-status")).to_have_attribute("data-status", "done", timeout=30_000)
    page.get_by_role("button", name="Cancel run").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("Not possible now (409 Conflict)")

    # Filters: paused runs only (none left), then by metadata.
    page.get_by_role("link", name="Runs", exact=True).click()
    page.get_by_label("Status", exact=True).select_option("paused")
    page.get_by_role("button", name="Filter").click()
    sync_api.expect(page.locator("#runs-table tbody")).to_contain_text("No runs match")
    page.get_by_label("Status", exact=True).select_option("")
    page.get_by_label("Metadata", exact=True).fill("team=playground")
    page.get_by_role("button", name="Filter").click()
    sync_api.expect(page.locator("#runs-table tbody tr")).to_have_count(2)

    # Functions: the cluster's, with their schemas and approval.
    page.get_by_role("link", name="Functions").click()
    fn = page.locator(f"#functions-table tr[data-function={FUNCTION}]")
    sync_api.expect(fn).to_contain_text("builtin")
    sync_api.expect(fn.locator("[data-status=awaiting_approval]")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "playground-functions.png"), full_page=True)


def test_readable_on_a_phone(local: dict[str, Any], browser: Any) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        _login(page, local, local["key"])
        sync_api.expect(page.locator("#runs-title")).to_be_visible()
        sync_api.expect(page.locator("#runs-table tbody tr").first).to_be_visible(timeout=15_000)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, width  # no sideways scrolling
        page.reload()  # the key survives a reload of the tab (session storage)
        sync_api.expect(page.locator("#runs-title")).to_be_visible()
        page.keyboard.press("Tab")  # the skip link comes first for keyboard users
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        page.screenshot(path=str(ARTIFACTS / "playground-phone.png"), full_page=True)
    finally:
        context.close()
