"""The lab in a real browser: headless Chromium (Debian's `chromium`), driven by Playwright.

Student lab: the login page without the token; with it, JupyterLab loads and the workspace
lists the labs; lab 00 (the student's copy) runs up to its exercise, which raises
NotImplementedError. Instructor lab (SOLUTIONS=1): lab 03 runs without an error, its tqdm bars
render as widgets and its plots as images. Screenshots go to build/browser/ (paths printed).

Needs `pip install playwright` (the `browser` extra) and a Chromium binary ($CHROMIUM, else
chromium on PATH); Playwright's own browser download is not used. .ci/docker.sh installs both
and sets REQUIRE_BROWSER=1, which turns a missing piece into a failure instead of a skip.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.container

SHOTS = REPO / "build" / "browser"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
RUN_TIMEOUT_MS = 10 * 60 * 1000        # idle: seconds; a loaded 2-core machine can be 30x slower


try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:     # the browser fixture skips (or fails under REQUIRE_BROWSER=1)
    PlaywrightTimeout = TimeoutError


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[browser]')"
    if not CHROMIUM:
        return "no Chromium binary (apt-get install chromium, or CHROMIUM=/path)"
    return None


@pytest.fixture(scope="module")
def browser():
    problem = _missing()
    if problem:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {problem}")
        pytest.skip(f"browser test: {problem}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield b
        finally:
            b.close()


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def open_lab(browser, lab):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(120_000)
    # JupyterLab renders only the cells in view by default (windowing); render them all, so
    # that every cell's prompt and output can be read.
    setting = page.request.put(
        lab.url(f"/lab/api/settings/@jupyterlab/notebook-extension:tracker?token={lab.token}"),
        data=json.dumps({"raw": json.dumps({"windowingMode": "none"})}),
        headers={"Content-Type": "application/json"})
    assert setting.status in (200, 204), setting.status
    # ?reset: a fresh layout, not the one an earlier test left on this server (open tabs, the
    # file browser inside labs/), which JupyterLab would otherwise restore.
    page.goto(lab.url(f"/lab?reset&token={lab.token}"))
    page.wait_for_selector(".jp-DirListing-item")
    return page


def accept_kernel_dialog(page) -> bool:
    """JupyterLab asks "Select Kernel" when the kernel specs were not loaded yet as the
    notebook opened (seen on a loaded machine); its default is the notebook's own kernel
    (Python 3), which is what a student accepts."""
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    if dialog.count() and dialog.first.is_visible():
        dialog.first.locator(".jp-mod-accept").first.click()
        print("accepted JupyterLab's 'Select Kernel' dialog (its default kernel)")
        return True
    return False


def open_notebook(page, *path: str):
    for part in path:
        page.locator(".jp-DirListing-item", has_text=part).first.dblclick()
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        accept_kernel_dialog(page)
        if page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count():
            return
        page.wait_for_timeout(500)
    shot(page, "kernel-not-idle")
    pytest.fail("the notebook's kernel was not idle 120 s after opening it")


def _prompts(page) -> list[str]:
    return page.evaluate("""() => [...document.querySelectorAll(
        '.jp-NotebookPanel .jp-InputPrompt')].map(p => p.textContent.trim())""")


def run_all(page) -> float:
    """Run > Run All Cells, as a student does; returns the seconds until the kernel is idle
    again with no cell queued. The menu's command is disabled until the notebook is the
    current widget, and a click on it then does nothing: so focus the notebook first, and
    open the menu again if no cell has started within a minute."""
    t0 = time.monotonic()
    for attempt in range(3):
        accept_kernel_dialog(page)
        page.locator(".jp-NotebookPanel .jp-Cell").first.click()
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel",
                     has_text="Run All Cells").first.click()
        try:
            page.wait_for_function(
                """() => [...document.querySelectorAll('.jp-NotebookPanel .jp-InputPrompt')]
                        .some(p => /[*0-9]/.test(p.textContent))""", timeout=60_000, polling=250)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            shot(page, f"run-all-not-started-{attempt}")
    else:
        pytest.fail(f"Run All Cells started no cell in 3 tries; prompts: {_prompts(page)}")
    try:
        page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-InputPrompt')];
                const busy = prompts.some(p => p.textContent.includes('*'));
                const ind = document.querySelector('.jp-Notebook-ExecutionIndicator');
                return !busy && ind && ind.getAttribute('data-status') === 'idle'
                    && prompts.some(p => /[0-9]/.test(p.textContent));
            }""", timeout=RUN_TIMEOUT_MS, polling=500)
    except PlaywrightTimeout:
        shot(page, "run-all-not-finished")
        status = page.locator(".jp-Notebook-ExecutionIndicator").first.get_attribute("data-status")
        pytest.fail(f"Run All Cells did not finish in {RUN_TIMEOUT_MS // 60000} min: "
                    f"kernel status {status!r}, prompts {_prompts(page)}")
    return time.monotonic() - t0


def code_cells(page) -> list:
    """[(source, error text or '')] for every code cell of the open notebook, in order."""
    return page.evaluate("""() => [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell')].map(c => {
        const src = c.querySelector('.jp-InputArea-editor')?.innerText || '';
        const errs = [...c.querySelectorAll(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
            .map(e => e.innerText).filter(t => t.includes('Traceback') || t.includes('Error'));
        return [src, errs.join('\\n')];
    })""")


def test_without_the_token_is_the_login_page(browser, lab):
    page = browser.new_page()
    page.goto(lab.url("/lab"))
    page.wait_for_selector("input[type='password'], input[name='password']")
    assert "/login" in page.url
    shot(page, "01-login")


def test_workspace_lists_the_labs_and_lab00_stops_at_its_exercise(browser, lab):
    page = open_lab(browser, lab)
    names = page.locator(".jp-DirListing-itemName").all_inner_texts()
    for stem in ("00_environment", "04_mlp", "08_gpu"):
        assert any(stem in n for n in names), names
    shot(page, "02-workspace")
    open_notebook(page, "00_environment.ipynb")
    seconds = run_all(page)
    print(f"lab 00 (student copy): Run All took {seconds:.1f} s")
    cells = code_cells(page)
    shot(page, "03-lab00-student")
    exercise = next(i for i, (src, _) in enumerate(cells) if "raise NotImplementedError" in src)
    before = [(i, err) for i, (src, err) in enumerate(cells[:exercise]) if err]
    assert not before, f"cells before the exercise failed: {before}"
    assert any("NotImplementedError" in err for _, err in cells[exercise:]), cells[exercise:]


def run_solved_lab(browser, solutions_lab, notebook, screenshot):
    """Open a solved lab in the instructor's lab, Run All; every cell must run without error."""
    page = open_lab(browser, solutions_lab)
    open_notebook(page, "labs", notebook)
    seconds = run_all(page)
    print(f"{notebook} (solved, instructor lab): Run All took {seconds:.1f} s")
    shot(page, screenshot)
    errors = [(i, err) for i, (_, err) in enumerate(code_cells(page)) if err]
    assert not errors, errors
    return page


def test_instructor_lab03_runs_with_widgets_and_plots(browser, solutions_lab):
    page = run_solved_lab(browser, solutions_lab, "03_linear_regression.ipynb", "04-lab03-instructor")
    assert page.locator(".jp-NotebookPanel .widget-hprogress, .jp-NotebookPanel .jupyter-widgets").count() > 0
    assert page.locator(".jp-NotebookPanel .jp-RenderedImage img").count() >= 2
    text = page.locator(".jp-NotebookPanel").inner_text()
    assert "IProgress not found" not in text and "HBox(children" not in text


def test_instructor_new_lab11_runs_top_to_bottom(browser, solutions_lab):
    """One of the newer labs (sequence models: RNN/LSTM by hand, BPE, sampling), solved, in
    the instructor's lab: every cell runs in the browser with no error, its plots render."""
    page = run_solved_lab(browser, solutions_lab, "11_sequence_models.ipynb", "05-lab11-instructor")
    assert page.locator(".jp-NotebookPanel .jp-RenderedImage img").count() >= 1
