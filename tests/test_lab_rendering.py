"""Every notebook of both editions, opened in JupyterLab in a real headless Chromium.

nbval executes the code and compares outputs; it never renders markdown, so a mermaid diagram
that Lab's mermaid refuses (Lab then shows the diagram's source under a warning) or a formula
that MathJax cannot typeset passes it unnoticed. This test starts the ``.venv``'s own JupyterLab
on a loopback port (no token, settings, workspaces and runtime files in a temporary folder, no
kernels), opens each notebook in one Lab page, waits until every markdown cell and every
diagram has rendered, and fails on:

* a ``mermaid`` block that did not become an SVG (the message quotes mermaid's parse error);
* a markdown cell that shows an error: a Lab warning, a MathJax error, an image that did not
  load, or prose read as a formula (the course has none: a pair of ``$`` outside code, as in
  an unquoted ``$connect … $default``, turns the words between them into italic math).

A probe notebook, written into Lab's temporary root, holds one of each fault (00's diagram as
it was before its fix among them), and a test checks that each is reported: the detector is
proven against the Lab and mermaid in use, not assumed.

The notebooks are globbed (``notebooks/0*.ipynb`` and ``notebooks/ja/0*.ipynb``), so a notebook
added later is checked too. Needs Debian's Chromium (``apt-get install chromium``); without it,
or without Playwright, the test is skipped and says why.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import chromium
import nbformat
import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
except ImportError:  # the skip below says so
    sync_playwright = None

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb")) + sorted(
    (ROOT / "notebooks" / "ja").glob("0*.ipynb")
)
MERMAID_FENCE = re.compile(r"^```mermaid\s*$", re.M)
#: Seconds to wait for Lab to start, and for one notebook to render completely.
SERVER_START_TIMEOUT = 90
RENDER_TIMEOUT_MS = 60_000

pytestmark = [
    pytest.mark.skipif(chromium.CHROMIUM is None, reason=chromium.SKIP_REASON),
    pytest.mark.skipif(sync_playwright is None, reason="Playwright is not installed"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def lab_settings(folder: Path) -> Path:
    """User settings for this Lab only: every cell attached to the page (Lab's default,
    "defer", attaches cells out of view later, which would leave nothing to look at), and no
    news poll (it would reach the internet)."""
    settings = folder / "settings"
    notebook = settings / "@jupyterlab" / "notebook-extension"
    notebook.mkdir(parents=True)
    (notebook / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    news = settings / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    return settings


#: A notebook with one of each fault the test must see, and a diagram that does render.
PROBE_CELLS = [
    # 00's diagram before its fix: mermaid 11 reads ``CB[@`` as the start of an edge id.
    "```mermaid\nflowchart LR\n    A[client] --> CB[@connections<br/>API]\n```",
    '```mermaid\nflowchart LR\n    A[client] --> CB["@connections<br/>API"]\n```',
    "A formula MathJax cannot typeset: $\\frac{1}$",
    "Routes $connect and $disconnect, unquoted",
    "An image that is not there: ![missing](no-such-image.png)",
]


def lab_root(folder: Path) -> Path:
    """What Lab serves: the repository's notebooks and docs (links), and the probe notebook,
    which must not be written into the working tree."""
    root = folder / "root"
    (root / "probe").mkdir(parents=True)
    for name in ("notebooks", "docs"):
        (root / name).symlink_to(ROOT / name, target_is_directory=True)
    probe = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    )
    probe.cells = [nbformat.v4.new_markdown_cell(source) for source in PROBE_CELLS]
    nbformat.write(probe, root / "probe" / "faults.ipynb")
    return root


@pytest.fixture(scope="module")
def lab_folder(tmp_path_factory) -> Path:
    """Lab's settings, workspaces, runtime files and root (``root/``), all temporary."""
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="module")
def lab(lab_folder):
    """The ``.venv``'s JupyterLab serving the notebooks on a loopback port; its URL."""
    folder = lab_folder
    port = free_port()
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(folder / "config"),
        JUPYTER_DATA_DIR=str(folder / "data"),
        JUPYTER_RUNTIME_DIR=str(folder / "runtime"),
    )
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
        f"--port={port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={lab_root(folder)}",
        "--IdentityProvider.token=", "--ServerApp.password=", "--allow-root",
        f"--LabApp.user_settings_dir={lab_settings(folder)}",
        f"--LabApp.workspaces_dir={folder / 'workspaces'}",
        "--LabApp.expose_app_in_browser=True",
        # No kernel may start: rendering needs none, and each would cost a second of CPU.
        "--KernelSpecManager.allowed_kernelspecs=no-kernel-for-this-test",
    ]  # fmt: skip
    log_path = folder / "lab.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited ({server.returncode}):\n{log_path.read_text()}")
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer:\n{log_path.read_text()}")
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def lab_page(lab):
    """One Lab page; notebooks are opened in it one after another (a page load costs
    seconds, opening a document in a loaded Lab a fraction of one)."""
    with sync_playwright() as playwright:
        browser = chromium.launch(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{lab}/lab?reset")
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.commands.hasCommand('docmanager:open')",
            timeout=RENDER_TIMEOUT_MS,
        )
        yield page
        browser.close()


#: In the page: how far the open notebook has rendered, and what in its markdown is wrong.
INSPECT = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  const cells = [...panel.querySelectorAll('.jp-MarkdownCell')];
  const diagrams = [...panel.querySelectorAll('.jp-MarkdownCell .jp-RenderedMermaid')];
  const images = [...panel.querySelectorAll('.jp-MarkdownCell img')];
  // Lab draws an untrusted notebook's diagram as an <img> of the SVG, a trusted one inline.
  const drawn = d => d.querySelector('svg, img[src^="data:image/svg+xml"]');
  const problems = [];
  diagrams.forEach((diagram, index) => {
    if (diagram.classList.contains('jp-mod-warning') || !drawn(diagram)) {
      const text = (diagram.querySelector('details') || diagram).textContent.trim();
      const error = text.lastIndexOf('Error:');
      problems.push(`mermaid diagram ${index + 1} (${text.split('\\n')[0]}) did not render: ` +
        (error >= 0 ? text.slice(error) : text).slice(0, 400));
    }
  });
  cells.forEach((cell, index) => {
    const where = `markdown cell ${index + 1}`;
    for (const warning of cell.querySelectorAll('.jp-mod-warning:not(.jp-RenderedMermaid)'))
      problems.push(`${where} shows a warning: ${warning.textContent.trim().slice(0, 300)}`);
    for (const error of cell.querySelectorAll('mjx-merror, .MathJax_Error'))
      problems.push(`${where}: MathJax could not typeset: ${error.textContent.slice(0, 200)}`);
    // The course has no formulas: one here is a pair of '$' outside code (`$connect` unquoted).
    for (const formula of cell.querySelectorAll('mjx-container:not(:has(mjx-merror))'))
      problems.push(`${where}: text read as a formula: ${formula.textContent.slice(0, 200)}`);
    for (const image of cell.querySelectorAll('img'))
      if (image.complete && image.naturalWidth === 0)
        problems.push(`${where}: an image did not load: ${image.src.slice(0, 120)}`);
  });
  const settled = diagrams.every(d => drawn(d) || d.classList.contains('jp-mod-warning'))
    && images.every(image => image.complete);
  const unrendered = cells.filter(c => !c.querySelector('.jp-RenderedMarkdown')).length;
  return {cells: cells.length, diagrams: diagrams.length, settled, unrendered, problems};
}"""


def expected_shape(path: Path) -> tuple[int, int]:
    """How many markdown cells and mermaid blocks the notebook holds."""
    markdown = [
        c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"
    ]
    return len(markdown), sum(len(MERMAID_FENCE.findall(source)) for source in markdown)


def open_without_kernel(page, relative: str) -> None:
    """Open a notebook in Lab. No kernel is allowed here, so Lab asks which one to start;
    answer "No Kernel" as a user would (rendering markdown needs none)."""
    page.evaluate(
        "path => { window.jupyterapp.commands.execute('docmanager:open', {path}); }", relative
    )
    page.locator(".jp-Dialog .jp-mod-reject").click(timeout=RENDER_TIMEOUT_MS)


def close_everything(page) -> None:
    """Close every tab. Lab asks before closing a notebook it counts as changed (choosing "No
    Kernel" can change one's metadata); nothing here is to be saved, so discard."""
    page.evaluate("() => { window.jupyterapp.commands.execute('application:close-all'); }")
    page.wait_for_function(
        "() => !document.querySelector('.jp-NotebookPanel')"
        " || !!document.querySelector('.jp-Dialog')",
        timeout=RENDER_TIMEOUT_MS,
    )
    discard = page.locator(".jp-Dialog .jp-mod-warn")
    if discard.count():
        discard.click()
    page.wait_for_function(
        "() => !document.querySelector('.jp-NotebookPanel')", timeout=RENDER_TIMEOUT_MS
    )


def wait_until_rendered(page, relative: str, cells: int, diagrams: int) -> dict:
    """Wait until Lab shows every markdown cell rendered and every diagram settled (an SVG
    or mermaid's warning); return what INSPECT then finds."""
    try:
        page.wait_for_function(
            """([inspect, cells, diagrams]) => {
                 const state = eval(inspect)();
                 return state && state.cells === cells && state.unrendered === 0
                   && state.diagrams === diagrams && state.settled;
               }""",
            arg=[INSPECT, cells, diagrams],
            timeout=RENDER_TIMEOUT_MS,
        )
    except PlaywrightTimeout:
        pytest.fail(
            f"{relative} did not finish rendering in Lab within {RENDER_TIMEOUT_MS} ms: "
            f"expected {cells} markdown cells and {diagrams} diagrams, "
            f"saw {page.evaluate(INSPECT)}"
        )
    return page.evaluate(INSPECT)


def rendered(page, path: Path, relative: str) -> dict:
    """Open the notebook at ``path`` (``relative`` to Lab's root), wait for it, close it;
    what INSPECT found."""
    cells, diagrams = expected_shape(path)
    open_without_kernel(page, relative)
    try:
        return wait_until_rendered(page, relative, cells, diagrams)
    finally:
        close_everything(page)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT / "notebooks")))
def test_every_diagram_renders_and_no_markdown_cell_shows_an_error(lab_page, path):
    relative = path.relative_to(ROOT).as_posix()
    state = rendered(lab_page, path, relative)
    assert state["problems"] == [], f"{relative} in JupyterLab:\n" + "\n".join(state["problems"])


def test_the_faults_it_looks_for_are_found(lab_page, lab_folder):
    """The probe notebook: the unfixed diagram, a bad formula, prose read as a formula and a
    missing image are each reported; the fixed diagram is not."""
    probe = lab_folder / "root" / "probe" / "faults.ipynb"
    problems = rendered(lab_page, probe, "probe/faults.ipynb")["problems"]
    assert len(problems) == 4, problems
    assert problems[0].startswith("mermaid diagram 1 (flowchart LR) did not render: Error: Parse")
    assert "got 'LINK_ID'" in problems[0]
    assert problems[1] == "markdown cell 3: MathJax could not typeset: \\frac{1}"
    assert problems[2].startswith("markdown cell 4: text read as a formula: ")
    assert problems[3].startswith("markdown cell 5: an image did not load: ")
