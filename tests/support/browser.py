"""The browser the UI tests drive (Playwright over Debian's chromium, headless) and what they wait
with: a page on the session stack's Mage UI, its screenshot kept in .artifacts/ui/; waits that
find what they wait for by identity (a run's id in its row's link) and reload as a person would;
and the check that the UI tests leave the files git tracks as they found them.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / '.artifacts' / 'ui'
BROWSER_ARGS = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
]
RUN_DEADLINE = 900  # s: one month's run, with both cores busy elsewhere
UI_DEADLINE_MS = 120_000  # a page's element or a field's value, on a busy machine


def tracked_files(root) -> dict[str, str]:
    """sha256 of every file git tracks, as it is in `root` (the checkout, or the stack's copy)."""
    names = subprocess.run(['git', 'ls-files', '-z'], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return {
        n: hashlib.sha256((root / n).read_bytes()).hexdigest() if (root / n).exists() else ''
        for n in filter(None, names.split('\0'))
    }


def git_status() -> str:
    return subprocess.run(['git', 'status', '--porcelain'], cwd=REPO, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope='module', autouse=True)
def tracked_files_left_as_found(stack):
    """The UI tests leave the files git tracks as they found them: in the checkout (git status)
    and in the project the server serves (the stack's copy)."""
    status, served = git_status(), tracked_files(stack.checkout)
    yield
    assert git_status() == status
    changed = sorted(n for n, digest in tracked_files(stack.checkout).items() if served[n] != digest)
    assert changed == [], f'the UI tests changed tracked files of the served project: {changed}'


@pytest.fixture(scope='module')
def browser():
    from playwright.sync_api import sync_playwright

    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if not chromium:
        pytest.fail('chromium is not installed: `make test` installs it (scripts/stack/setup.sh --test)')
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=BROWSER_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, stack, request):
    """A fresh tab on the stack's UI; its screenshot goes to .artifacts/ui/<test>.png."""
    page = browser.new_page(viewport={'width': 1600, 'height': 1000})
    page.set_default_timeout(UI_DEADLINE_MS)
    page.set_default_navigation_timeout(UI_DEADLINE_MS)
    page.ui = lambda path: page.goto(f'http://127.0.0.1:{stack.ports["MAGE_PORT"]}{path}', wait_until='networkidle')
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f'{request.node.name}.png'))
    page.close()


def innermost(scope, *parts, tag: str = 'div'):
    """The innermost `tag` element of `scope` that holds all of `parts` (locators made from the
    page, matched inside each candidate): a row with its label and its box, a block's header."""
    found = scope.locator(tag)
    for part in parts:
        found = found.filter(has=part)
    return found.last


def wait_for_text(page, text: str, timeout: float = RUN_DEADLINE, reload_every: float = 3) -> None:
    """Wait until `text` is on the page, reloading it as a person presses F5."""
    deadline = time.monotonic() + timeout
    while text not in page.inner_text('body'):
        assert time.monotonic() < deadline, f'{text!r} never appeared on {page.url}'
        page.wait_for_timeout(reload_every * 1000)
        page.reload(wait_until='networkidle')


def wait_for_done(page, run_id: int, timeout: float = RUN_DEADLINE) -> None:
    """Wait until the run-list row of run `run_id` (the row whose link opens that run) shows the
    badge Done, reloading the page; fail at once if it shows Failed."""
    deadline = time.monotonic() + timeout
    while True:
        row = page.locator(f'tr:has(a[href$="/runs/{run_id}"])')
        status = row.first.inner_text() if row.count() else ''
        if 'Done' in status:
            return
        assert 'Failed' not in status, f'run {run_id} failed: {status}'
        assert time.monotonic() < deadline, f'run {run_id} is not done on {page.url}: {status!r}'
        page.wait_for_timeout(2000)
        page.reload(wait_until='networkidle')


def wait_for(what: str, get, timeout: float = RUN_DEADLINE):
    """Poll the API (`get`) until it returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while not (found := get()):
        assert time.monotonic() < deadline, f'{what} after {timeout:.0f} s'
        time.sleep(1)
    return found


def fill(field, value: str) -> None:
    """Type into a field and wait until it holds the value (a form that re-renders can drop it)."""
    from playwright.sync_api import expect

    field.fill(value)
    expect(field).to_have_value(value, timeout=UI_DEADLINE_MS)
