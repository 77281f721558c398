"""The labeling widget in a real JupyterLab, driven by headless Chromium: keys, a click, undo, reviews, the store.

Saves ``figures/labeling_widget.png`` (for the README). Needs Debian's chromium (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from alsafe.store import RunStore
from alsafe.paper.reference import PAPER_TAXONOMY

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TEXTS = [
    "Every night I lie awake thinking everyone would be better off without me.",
    "Is it safe to double my blood pressure pills if I missed yesterday's dose?",
    "My landlord kept my whole deposit. Can I take him to small claims court?",
    "Should I move my entire 401k into crypto before the next halving?",
    "Smoke is coming from the flat below mine and nobody answers the door.",
]


@pytest.fixture
def run_path(tmp_path) -> Path:
    """A store whose round 1 selects the five texts above; the first has three variations waiting for review."""
    path = tmp_path / "run.sqlite"
    with RunStore.create(path, PAPER_TAXONOMY) as store:
        store.add_items(pd.DataFrame({"id": [f"r{i}" for i in range(6)],
                                      "text": TEXTS + ["A photo of my cat asleep on the keyboard."]}), role="pool")
        store.start_round(1, "cluster", pd.DataFrame({
            "item_id": [f"r{i}" for i in range(5)], "cluster": [4, 1, 0, 3, 2],
            "score": [0.91, 0.84, 0.77, 0.69, 0.62],
            "predicted_label": ["discard", "medical-advice", "discard", "financial-advice", "emergency-situation"]}))
        store.add_variations([
            {"seed_id": "r0", "sample_index": i, "text": text, "label": "self-harm", "relation": "paraphrase",
             "backend": "replay", "model": "fixture", "prompt_hash": "h", "status": "accepted"}
            for i, text in enumerate(["Lately I feel like my family would be happier if I just disappeared.",
                                      "I had a great day at the beach with friends.",
                                      "I keep thinking nobody would even notice if I was gone."])])
    return path


@pytest.fixture
def notebook(tmp_path, run_path) -> str:
    cells = [nbformat.v4.new_code_cell("import alsafe\nfrom alsafe.store import RunStore\n"
                                       "from alsafe.ui.widget import LabelingWidget\nprint(alsafe.__file__)"),
             nbformat.v4.new_code_cell(f"widget = LabelingWidget(RunStore.open({str(run_path)!r}), "
                                       "annotator='browser')\nwidget")]
    book = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(book, tmp_path / "label.ipynb")
    return "label.ipynb"


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab on a free loopback port whose kernels import this checkout's alsafe; stopped afterwards."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed; run `apt-get install -y chromium` (.ci/run does).")
    pytest.importorskip("playwright.sync_api")
    config = tmp_path / "jupyter-config"
    (config / "labconfig").mkdir(parents=True)
    # The news prompt would fetch from the internet and cover part of the page.
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = uuid.uuid4().hex
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               JUPYTER_CONFIG_DIR=str(config), JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
               IPYTHONDIR=str(tmp_path / "ipython"))
    log = open(tmp_path / "lab.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--IdentityProvider.token={token}",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.root_dir={tmp_path}", "--ServerApp.allow_root=True", "--LabApp.expose_app_in_browser=True"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{(tmp_path / 'lab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield url, token
    finally:
        # The server and its kernel share the session started above; stop that group only.
        _signal_group(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            _signal_group(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:  # already gone
        pass


def test_label_with_keys_and_a_click_in_jupyterlab(lab, notebook, run_path):
    from playwright.sync_api import sync_playwright

    url, token = lab
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.goto(f"{url}/lab/tree/{notebook}?token={token}")
            page.wait_for_function("""() => {
                const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                const kernel = panel && panel.sessionContext && panel.sessionContext.session
                    && panel.sessionContext.session.kernel;
                return kernel && kernel.status === 'idle';
            }""", timeout=60_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            item = page.locator(".alsafe-item")
            keys = page.locator(".alsafe-hotkeys textarea")
            status = page.locator(".alsafe-status")

            def shows(text):
                item.filter(has_text=text).wait_for(timeout=15_000)

            shows(TEXTS[0])
            assert str(REPO / "alsafe") in page.locator(".jp-OutputArea-output").first.inner_text()
            keys.click()
            for key, label, following in [("1", "Self-Harm", TEXTS[1]), ("2", "Medical-Advice", TEXTS[2]),
                                          ("6", "Not-Harmful", TEXTS[3])]:
                keys.press(key)
                status.filter(has_text=f"{label} picked").wait_for(timeout=10_000)
                keys.press("Enter")
                shows(following)
            keys.press("Backspace")  # the last label was wrong
            shows(TEXTS[2])
            page.locator(".alsafe-note input").fill("deposit dispute")
            page.locator(".alsafe-label-3").click()  # Legal-Advice
            shows(TEXTS[3])
            page.wait_for_function("document.activeElement && document.activeElement.closest('.alsafe-hotkeys')")

            rows = page.locator(".alsafe-reviews .alsafe-variation")
            rows.nth(2).wait_for(timeout=10_000)
            beach = rows.filter(has_text="beach")
            beach.locator("input").fill("not about self-harm")
            beach.locator("button", has_text="Reject").click()
            rows.filter(has_text="disappeared").locator("button", has_text="Accept").click()
            page.locator(".alsafe-reviews .alsafe-variation").nth(1).wait_for(state="detached", timeout=10_000)

            keys.press("4")  # picked, not saved: the screenshot shows the highlight
            status.filter(has_text="Financial-Advice picked").wait_for(timeout=10_000)
            (REPO / "figures").mkdir(exist_ok=True)
            page.locator(".alsafe-labeling").screenshot(path=str(REPO / "figures" / "labeling_widget.png"))
            # Skip, 5, Enter in one JavaScript turn, faster than any typist: the browser sends "s" at once and
            # the rest later, built on the text the kernel's reset replaces. Read twice, the "s" would skip
            # again and label the wrong item.
            keys.evaluate("""(box, typed) => { for (const key of typed) {
                box.value += key; box.dispatchEvent(new Event('input', {bubbles: true})); } }""", ["s", "5", "\n"])
            status.filter(has_text="Saved Emergency-Situation for r4").wait_for(timeout=10_000)
            shows(TEXTS[3])  # the skipped item comes back last
            keys.press("4")
            status.filter(has_text="Financial-Advice picked").wait_for(timeout=10_000)
            keys.press("Enter")
            item.filter(has_text="Round 1 is done").wait_for(timeout=15_000)
        finally:
            browser.close()

    with RunStore.open(run_path) as store:
        events = store.labels(include_retracted=True)
        variations = store.variations(seed_id="r0").set_index("sample_index")
    assert list(zip(events["item_id"], events["label"], events["annotator"], events["retracted_at"].notna())) == [
        ("r0", "self-harm", "browser", False), ("r1", "medical-advice", "browser", False),
        ("r2", "discard", "browser", True), ("r2", "legal-advice", "browser", False),
        ("r4", "emergency-situation", "browser", False), ("r3", "financial-advice", "browser", False)]
    assert events["note"].iloc[3] == "deposit dispute" and events["round"].tolist() == [1] * 6
    assert variations.loc[0, ["status", "reviewed_by"]].tolist() == ["accepted", "browser"]
    assert variations.loc[1, ["status", "reason", "reviewed_by"]].tolist() == ["rejected", "not about self-harm",
                                                                               "browser"]
    assert pd.isna(variations.loc[2, "reviewed_by"])
