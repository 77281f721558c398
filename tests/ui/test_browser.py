"""Notebook 07, the one a practitioner opens, in a real JupyterLab driven by headless Chromium: Run All, keys
without a click, undo and relabel, a note then a skip, another process opening and closing the run while
labeling, keys pressed while the kernel is busy, an undo across the round change, reviews, a kernel restart,
a 420 px panel, the export that runs at the budget with unreviewed rows marked, an undo after it that makes
it stale; then the store and the export, row by row.

The generator is the loopback fault server (an OpenAI-compatible endpoint answering rewrites of each seed),
so the test runs offline in about a minute. Saves ``figures/labeling_widget.png`` and
``figures/labeling_widget_narrow.png`` (for the README). Needs Debian's chromium (``.ci/run`` installs it).
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
from contextlib import contextmanager
from pathlib import Path

import html
import re

import nbformat
import pandas as pd
import pytest

from alsafe.store import RunStore
from alsafe.ui.keys import BUSY_NOTE
from tests.servers.fault_server import FaultServer

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
NOTEBOOK = REPO / "notebooks" / "07_your_own_data.ipynb"


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


# (text, class, the rewrite the loopback generator answers for it)
POOL = [
    ("Smoke is pouring out of the flat below mine", "urgent", "There is thick smoke coming from the apartment under me"),
    ("My neighbour collapsed on the stairs and is not breathing", "urgent", "The man next door fell down and stopped breathing"),
    ("A car just hit a cyclist outside the shop", "urgent", "Someone on a bike was struck by a car right by the store"),
    ("There is a gas smell all through the kitchen", "urgent", "The whole kitchen reeks of gas right now"),
    ("Water is flooding the basement fast", "urgent", "Our cellar is filling up with water quickly"),
    ("Someone with a knife is shouting in the hallway", "urgent", "A man waving a blade is yelling outside my door"),
    ("My child swallowed some cleaning liquid", "urgent", "My kid drank a bit of the bleach by accident"),
    ("The electric heater caught fire in the office", "urgent", "Flames came out of the space heater at work"),
    ("I was charged twice for the same order", "billing", "The same purchase shows up two times on my card"),
    ("How do I get a refund for last month", "billing", "Can I have my money back for the previous month"),
    ("The invoice shows the wrong amount", "billing", "My bill has an incorrect total on it"),
    ("Please update the card on my account", "billing", "I need to change the payment card you have on file"),
    ("Why did my subscription price go up", "billing", "My monthly plan suddenly costs more, why"),
    ("I need a receipt for my last payment", "billing", "Could you send proof of my most recent payment"),
    ("Cancel the extra fee on my statement", "billing", "Remove the additional charge from my statement please"),
    ("My direct debit failed this week", "billing", "The automatic payment bounced a few days ago"),
    ("What time does the library open on Sunday", "other", "When do the library doors open at the weekend"),
    ("Where can I park near the station", "other", "Is there parking close to the train station"),
    ("How do I reset my password", "other", "I forgot my login, how can I change it"),
    ("Can I book a meeting room for Friday", "other", "Is a conference room free to reserve this Friday"),
    ("Is the cafeteria open during the holidays", "other", "Does the canteen stay open over the break"),
    ("Where is the lost and found desk", "other", "Which counter keeps things people have lost"),
    ("Do you have wifi in the lobby", "other", "Can guests get internet access in the entrance hall"),
    ("Which bus goes to the museum", "other", "What line should I take to reach the gallery"),
]
BOOTSTRAP = [("The building alarm is ringing and people are trapped", "urgent"),
             ("My friend fainted and hit her head", "urgent"),
             ("I see a charge I do not recognise", "billing"),
             ("When will my invoice be sent", "billing"),
             ("Where is the nearest post office", "other"),
             ("Can I bring my dog to the park", "other")]
LABELS = ["urgent", "billing", "other"]
KEY = {label: str(number) for number, label in enumerate(LABELS, start=1)}
CLASS_OF = {text: label for text, label, _ in POOL}
REWRITE = {text: rewrite for text, _, rewrite in POOL}


def _rewrites(prompt: str, asked: int) -> str:
    """The loopback generator: each seed's fixed rewrite (found inside the prompt's fence)."""
    fenced = re.findall(r"<title>\s*(.*?)\s*</title>", prompt, re.S)
    if not fenced:  # the endpoint check's one-token question
        return "OK"
    seed = html.unescape(fenced[-1])
    return json.dumps([REWRITE.get(seed, seed + " again")] * asked)


@pytest.fixture
def own_data(tmp_path):
    """Notebook 07 with its parameters set the way a user would: their files, the widget, a loopback LLM."""
    pd.DataFrame({"post_id": [f"q{i}" for i in range(len(POOL))], "message": [t for t, _, _ in POOL]}).to_csv(
        tmp_path / "pool.csv", index=False)
    pd.DataFrame({"post_id": [f"b{i}" for i in range(len(BOOTSTRAP))], "message": [t for t, _ in BOOTSTRAP],
                  "label": [label for _, label in BOOTSTRAP]}).to_csv(tmp_path / "bootstrap.csv", index=False)
    (tmp_path / "taxonomy.yaml").write_text(
        "labels:\n  - {name: urgent, description: An emergency that needs help now.}\n"
        "  - {name: billing, description: About payments and invoices.}\n"
        "  - {name: other, description: Anything else.}\n", encoding="utf-8")
    with FaultServer(responder=_rewrites) as server:
        import papermill

        book = papermill.iorw.load_notebook_node(str(NOTEBOOK))  # as papermill reads it (tags filled in)
        book = papermill.parameterize.parameterize_notebook(book, {
            "POOL_FILE": str(tmp_path / "pool.csv"), "TAXONOMY_FILE": str(tmp_path / "taxonomy.yaml"),
            "BOOTSTRAP_FILE": str(tmp_path / "bootstrap.csv"), "RUN": str(tmp_path / "run.sqlite"),
            "ANNOTATOR": "browser", "BUDGET": 8, "ROUND_SIZE": 4, "N_CLUSTERS": 4, "N_VARIATIONS": 1,
            "BACKEND": "openai", "MODEL": "fault-model", "BASE_URL": server.base_url, "LEARNER": "embedding-lr",
            "VECTORIZER": "minilm-l2", "EXPORT_DIR": str(tmp_path / "export"), "CLASSIFIER": "minilm-l2",
            "CLASSIFIER_PROTOCOL": "epochs-1", "TEST_FRACTION": 0.3})
        book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(book, tmp_path / "07_your_own_data.ipynb")
        yield "07_your_own_data.ipynb", tmp_path


KERNEL_IDLE = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
        && panel.sessionContext.session.kernel;
    return kernel && kernel.status === 'idle';
}"""
CELL_SOURCES = """() => { const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
    return Array.from({length: cells.length}, (_, i) => cells.get(i).sharedModel.getSource()); }"""
STRIP_HAS_FOCUS = "() => !!(document.activeElement && document.activeElement.classList.contains('alsafe-keystrip'))"
# A long computation in the notebook's kernel, as a heavy cell after Run All is: a regular expression that
# backtracks for seconds inside C, holding the GIL (with ipykernel 7 a cell that only sleeps still lets
# widget messages through on another thread). Started, not awaited; BUSY_STATE says whether it has ended.
KERNEL_BUSY = """() => { const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    window.alsafeBusy = [];
    const future = kernel.requestExecute({code: "import re; re.match(r'(x+x+)+y', 'x' * 28)"});
    future.onIOPub = (message) => window.alsafeBusy.push(message.header.msg_type === "status"
        ? message.content.execution_state : message.header.msg_type);
    return true; }"""
BUSY_STATE = """(state) => (window.alsafeBusy || []).includes(state)"""
SHOWN_ROWS = """() => Array.from(document.querySelectorAll('.alsafe-variation')).map(row =>
    Number([...row.classList].find(c => /^alsafe-variation-[0-9]+$/.test(c)).split('-').pop()))"""
NOTE = "check the address with the team"
OUTSIDE = """
import sqlite3, sys
from alsafe.store import RunStore
with RunStore.open(sys.argv[1]) as store:   # a terminal, a dashboard in another notebook, alsafe on the CLI
    print(len(store.labels()))
connection = sqlite3.connect(sys.argv[1])   # the sqlite3 shell, Datasette
connection.execute("SELECT COUNT(*) FROM labels").fetchone()
connection.close()
"""


def _outside_process_opens_and_closes(run) -> int:
    """Another process opens the run, reads and closes it while the notebook holds it; its label count."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *sys.path]))
    done = subprocess.run([sys.executable, "-c", OUTSIDE, str(run)], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[0])


@contextmanager
def _notebook_page(lab, notebook: str, folder: Path):
    """A Chromium page showing ``notebook`` with its kernel idle; on a failure, what the page showed is kept
    (``failure.png`` in ``folder``, and the notebook's text printed) for the person reading it."""
    from playwright.sync_api import sync_playwright

    url, token = lab
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1300})
        try:
            page.goto(f"{url}/lab/tree/{notebook}?token={token}")
            page.wait_for_function(KERNEL_IDLE, timeout=60_000)
            yield page
        except Exception:
            page.screenshot(path=str(folder / "failure.png"), full_page=True)
            print(page.locator(".jp-Notebook").inner_text()[-4000:])
            raise
        finally:
            browser.close()


def test_notebook_07_in_jupyterlab_labels_reviews_and_exports_right(lab, own_data):
    notebook, folder = own_data
    with _notebook_page(lab, notebook, folder) as page:
        sources = page.evaluate(CELL_SOURCES)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        item, status = page.locator(".alsafe-item"), page.locator(".alsafe-status")
        header, rows = page.locator(".alsafe-labeling").first, page.locator(".alsafe-reviews .alsafe-variation")

        def shown() -> str:
            """The pool text on screen (waiting until one is)."""
            page.wait_for_function("texts => { const e = document.querySelector('.alsafe-item');"
                                   " return e && texts.some(t => e.innerText.includes(t)); }",
                                   arg=list(CLASS_OF), timeout=60_000)
            return next(t for t in CLASS_OF if t in item.inner_text())

        def press(key, then_status=None):
            page.keyboard.press(key)  # no click first: the keys must reach the widget by themselves
            if then_status:
                status.filter(has_text=then_status).wait_for(timeout=15_000)

        def label_current(label):
            text = shown()
            press(KEY[label], "picked")
            press("Enter", "Saved")
            page.wait_for_function("t => !document.querySelector('.alsafe-item').innerText.includes(t)", arg=text,
                                   timeout=15_000)
            return text

        # -- round 1: keys after Run All, a wrong label undone and relabeled, a skip ---------------
        header.filter(has_text="Round 1").wait_for(timeout=120_000)
        page.locator(".alsafe-export").filter(has_text="Waiting for labeling to finish").wait_for(timeout=60_000)
        page.wait_for_function(STRIP_HAS_FOCUS, timeout=15_000)
        first = label_current(CLASS_OF[shown()])
        assert _outside_process_opens_and_closes(folder / "run.sqlite") == len(BOOTSTRAP) + 1
        second = shown()
        wrong = next(label for label in LABELS if label != CLASS_OF[second])
        label_current(wrong)
        rows.filter(has_text=REWRITE[second]).wait_for(timeout=30_000)  # its variation, under the wrong label
        press("Backspace", "Undid")
        rows.filter(has_text=REWRITE[second]).wait_for(state="detached", timeout=15_000)
        assert shown() == second
        label_current(CLASS_OF[second])
        skipped = shown()
        note = page.locator(".alsafe-note input")
        note.fill(NOTE)  # a note typed for this item, then a skip: the note goes with its item
        page.locator("button", has_text="Skip").click()
        status.filter(has_text="Skipped").wait_for(timeout=15_000)
        assert note.input_value() == ""
        fourth = label_current(CLASS_OF[shown()])
        assert shown() == skipped  # the skipped item comes back last, with its note
        assert note.input_value() == NOTE
        rows.filter(has_text=REWRITE[first]).wait_for(timeout=30_000)
        row = rows.filter(has_text=REWRITE[first])
        row.locator("input").fill("too far from the original")
        row.locator("button", has_text="Reject").click()
        row.wait_for(state="detached", timeout=15_000)
        page.wait_for_function(STRIP_HAS_FOCUS, timeout=15_000)
        saved = len(_labels_of(folder, "browser"))
        page.evaluate(KERNEL_BUSY)
        # not waited for by its messages: the kernel cannot send them while the computation holds the GIL
        page.wait_for_timeout(1000)
        press(KEY[CLASS_OF[skipped]])  # sent; the kernel reads it when the computation is done
        page.wait_for_timeout(2500)  # well past the strip's 1 s, however late the page ran the first keydown
        press("Enter")  # the first key waits unanswered: this one is dropped, with a note on the strip
        dropped = page.evaluate("() => !!document.querySelector('.alsafe-keystrip-busy')")
        assert not page.evaluate(BUSY_STATE, "idle"), "the computation ended before the keys were tested"
        assert dropped and BUSY_NOTE in page.locator(".alsafe-keystrip .alsafe-keys-on").inner_text()
        page.wait_for_function(BUSY_STATE, arg="idle", timeout=60_000)
        status.filter(has_text="picked").wait_for(timeout=15_000)  # the pick landed on the item it was made on
        page.locator(".alsafe-keystrip-busy").wait_for(state="detached", timeout=15_000)
        assert len(_labels_of(folder, "browser")) == saved  # the dropped Enter saved nothing
        press("Enter", "Saved")

        # -- round 2: reviews still pending, keys label without a click ------------------------------
        header.filter(has_text="Round 2").wait_for(timeout=120_000)
        page.wait_for_function(STRIP_HAS_FOCUS, timeout=15_000)
        press("Backspace", "Undid")  # the last label of round 1, undone from round 2
        assert shown() == skipped
        item.filter(has_text="from round 1").wait_for(timeout=15_000)
        rows.filter(has_text=REWRITE[skipped]).wait_for(state="detached", timeout=15_000)
        label_current(CLASS_OF[skipped])
        for text in (second, fourth, skipped):
            rows.filter(has_text=REWRITE[text]).wait_for(timeout=30_000)
        label_current(CLASS_OF[shown()])
        (REPO / "figures").mkdir(exist_ok=True)
        press(KEY[CLASS_OF[shown()]], "picked")  # picked, not saved: the screenshot shows the highlight
        page.locator(".alsafe-labeling").screenshot(path=str(REPO / "figures" / "labeling_widget.png"))

        # -- a kernel restart, then Run All again: the same place, the same reviews, keys still work --
        page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()")
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
        page.locator(".alsafe-labeling").first.wait_for(state="detached", timeout=15_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        header.filter(has_text="Round 2").filter(has_text="1 / 4 labeled").wait_for(timeout=120_000)
        page.wait_for_function(STRIP_HAS_FOCUS, timeout=15_000)
        rows.nth(2).wait_for(timeout=30_000)
        facts = [rows.nth(i).inner_text() for i in range(rows.count())]
        assert facts and not [f for f in facts if "nan" in f.split()] and all("filters" in f for f in facts)
        # round 1's four current labels and round 2's first, as the screen says
        assert _outside_process_opens_and_closes(folder / "run.sqlite") == len(BOOTSTRAP) + 4 + 1
        label_current(CLASS_OF[shown()])
        mine = _labels_of(folder, "browser")
        chips = {label: int(re.search(rf"{label} (\d+)", header.inner_text()).group(1)) for label in LABELS}
        assert chips == mine[mine["round"] == 2]["label"].value_counts().reindex(LABELS, fill_value=0).to_dict()

        # -- a 420 px panel: whole rows, buttons that can be hit, nothing scrolling sideways ----------
        # a 420 px notebook panel: the side bars folded, the window as wide as the panel plus its margins
        page.evaluate("window.jupyterapp.shell.collapseLeft(); window.jupyterapp.shell.collapseRight()")
        page.wait_for_timeout(300)
        viewport, width = 700, 0.0
        for _ in range(3):  # the widget's width follows the window's less a fixed margin
            page.set_viewport_size({"width": viewport, "height": 1300})
            page.wait_for_timeout(400)
            width = page.evaluate("() => document.querySelector('.alsafe-labeling').getBoundingClientRect().width")
            viewport = int(viewport - (width - 420))
        assert 410 <= width <= 430, width
        layout = page.evaluate("""() => Array.from(document.querySelectorAll('.alsafe-variation')).map(row => {
            const text = row.querySelector('.alsafe-variation-text .widget-html-content');
            const buttons = Array.from(row.querySelectorAll('button')).map(b => b.getBoundingClientRect().width);
            return {sideways: row.scrollWidth - row.clientWidth, cut: text.scrollHeight - text.clientHeight,
                    narrowest: Math.min(...buttons)}; })""")
        assert layout and all(r["sideways"] <= 1 and r["cut"] <= 1 and r["narrowest"] >= 80 for r in layout), layout
        page.locator(".alsafe-labeling").screenshot(path=str(REPO / "figures" / "labeling_widget_narrow.png"))
        on_screen = page.evaluate(SHOWN_ROWS)
        page.locator("button.alsafe-accept-rest").click()
        status.filter(has_text="Accepted").wait_for(timeout=15_000)
        for variation in on_screen:  # every row on screen accepted; any that arrived since stays
            page.locator(f".alsafe-variation-{variation}").wait_for(state="detached", timeout=15_000)
        page.set_viewport_size({"width": 1280, "height": 1300})

        # -- the last two labels spend the budget: the export runs by itself ------------------------
        label_current(CLASS_OF[shown()])
        label_current(CLASS_OF[shown()])
        page.locator(".alsafe-export").filter(has_text="Exported to").wait_for(timeout=180_000)
        exported_text = page.locator(".alsafe-export").inner_text()
        listed = page.evaluate(SHOWN_ROWS)
        # -- an undo after the export: the panel says at once that the export is stale; relabeled as it was
        press("Backspace", "Undid")
        page.locator(".alsafe-export").filter(has_text="The export is stale").wait_for(timeout=15_000)
        label_current(CLASS_OF[shown()])
        assert page.evaluate(CELL_SOURCES) == sources  # no key ever typed into a cell

    with RunStore.open(folder / "run.sqlite") as store:
        events = store.labels(include_retracted=True)
        variations = store.variations()
        current = store.labeled().set_index("id")["label"]
    texts = dict(zip(*_items(folder)))
    events = events[events["annotator"] == "browser"]  # not the bootstrap file's labels
    assert len(events) == 11 and events["retracted_at"].notna().sum() == 3  # 8 labels + the three undone
    undone, across, after_export = events[events["retracted_at"].notna()].itertuples()
    assert (texts[undone.item_id], undone.label) == (second, wrong)
    assert texts[across.item_id] == skipped and across.round == 1  # undone from round 2's widget
    assert after_export.round == 2 and after_export.id == events.loc[events["round"] == 2, "id"].iloc[3]
    assert events["round"].tolist() == [1] * 6 + [2] * 5  # a relabel keeps its item's round
    noted = events[events["note"].notna()]  # the note typed before the skip landed on its own item only
    assert len(noted) and noted[["item_id", "note"]].values.tolist() == [[across.item_id, NOTE]] * len(noted)
    human = events[events["retracted_at"].isna()]
    assert all(row.label == CLASS_OF[texts[row.item_id]] for row in human.itertuples())  # every key hit its item
    withdrawn = variations[(variations["seed_id"] == undone.item_id) & (variations["label"] == wrong)]
    assert len(withdrawn) == 1 and not withdrawn["current"].any()
    assert (variations.loc[variations["current"], "label"]
            == variations.loc[variations["current"], "seed_id"].map(current)).all()
    rejected = variations[variations["reviewed_by"].notna() & (variations["status"] == "rejected")]
    assert rejected[["text", "reason"]].values.tolist() == [[REWRITE[first], "too far from the original"]]
    waiting = variations[variations["current"] & variations["reviewed_by"].isna()]
    assert len(waiting) and sorted(waiting["id"]) == sorted(listed)  # every review still owed is on screen
    dataset = pd.read_csv(folder / "export" / "dataset.csv")
    unreviewed = dataset[(dataset["origin"] == "llm") & ~dataset["reviewed"].astype(bool)]
    assert len(unreviewed) == int((waiting["status"] == "accepted").sum()) > 0  # exported, marked unreviewed
    assert f"{len(unreviewed)} of its {int((dataset['origin'] == 'llm').sum())} generated rows were never reviewed" \
        in exported_text
    llm = dataset[dataset["origin"] == "llm"]
    by_id = dataset[dataset["origin"] == "human"].set_index("seed_id")["label"]
    assert len(llm) and (llm["label"] == llm["seed_id"].map(by_id)).all()  # no variation under a retracted label
    assert REWRITE[first] not in set(llm["text"])
    assert (folder / "export" / "classifier" / "README.md").exists()


def _labels_of(folder, annotator):
    with RunStore.open(folder / "run.sqlite") as store:
        labels = store.labels()
    return labels[labels["annotator"] == annotator]


def _items(folder):
    with RunStore.open(folder / "run.sqlite") as store:
        items = store.items()
    return items["id"].tolist(), items["text"].tolist()


NOTEBOOK_03 = REPO / "notebooks" / "03_active_learning_loop.ipynb"


@pytest.fixture
def paper_widget_mode(tmp_path):
    """Notebook 03 with ORACLE = "widget" on a small pool of the paper's titles, no generation."""
    if not os.environ.get("ALSAFE_DATA_DIR"):
        pytest.skip("ALSAFE_DATA_DIR is unset: notebook 03 labels the paper's released titles.")
    import papermill

    book = papermill.iorw.load_notebook_node(str(NOTEBOOK_03))
    book = papermill.parameterize.parameterize_notebook(book, {
        "ORACLE": "widget", "POOL_SIZE": 60, "BUDGET": 6, "ROUND_SIZE": 3, "N_CLUSTERS": 3, "N_VARIATIONS": 0,
        "GENERATION": [False], "LEARNER": "tfidf-lr", "VECTORIZER": "minilm-l2", "SEEDS": [0],
        "RUNS_DIR": str(tmp_path / "simulation"), "WIDGET_RUN": str(tmp_path / "labeling.sqlite"),
        "ANNOTATOR": "browser"})
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, tmp_path / "03_active_learning_loop.ipynb")
    return "03_active_learning_loop.ipynb", tmp_path


def test_notebook_03_in_widget_mode_under_run_all_labels_only_what_was_on_screen(lab, paper_widget_mode):
    notebook, folder = paper_widget_mode
    seen: list[str] = []  # the title on screen each time a label was saved
    with _notebook_page(lab, notebook, folder) as page:
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        item, status = page.locator(".alsafe-item"), page.locator(".alsafe-status")
        page.locator(".alsafe-labeling").filter(has_text="Round 1").wait_for(timeout=180_000)
        page.wait_for_function(STRIP_HAS_FOCUS, timeout=15_000)
        # keys at once, while Run All may still be going through the cells below the widget
        for _ in range(3):
            text = item.locator("div").last.inner_text()
            page.keyboard.press("1")
            status.filter(has_text="picked").wait_for(timeout=30_000)
            page.keyboard.press("Enter")
            status.filter(has_text="Saved").wait_for(timeout=30_000)
            seen.append(text)
            if len(seen) < 3:
                page.wait_for_function("t => !document.querySelector('.alsafe-item').innerText.includes(t)",
                                       arg=text, timeout=15_000)
        page.wait_for_function(KERNEL_IDLE, timeout=120_000)
        notebook_text = page.locator(".jp-Notebook").inner_text()

    with RunStore.open(folder / "labeling.sqlite") as store:
        labels = store.labels()
        texts = store.items().set_index("id")["text"]
    mine = labels[labels["annotator"] == "browser"]
    assert [" ".join(texts[item].split()) for item in mine["item_id"]] == [" ".join(t.split()) for t in seen]
    assert "Widget mode" in notebook_text and "skips the simulation" in notebook_text
    assert not (folder / "simulation").exists()  # Run All in widget mode simulated nothing
