"""``python3 workbook.py catch-up NN``: a learner who fell behind gets what notebook NN needs.

What a notebook needs from earlier ones is, today, nothing: each starts its own embedded AWS,
and what it runs (the learner's modules, the reference solutions of its scaffolds) it writes
itself into a temporary folder it makes (``scratch``). Catch-up says so, after checking that
every package the notebook imports is installed. Pinned here:

* catch-up answers for every notebook, and refuses an unknown one before installing anything;
* a package a notebook imports and the environment lacks is named, with the section that
  imports it, and catch-up fails;
* the claim itself: no notebook reads a file it did not make or the repository does not hold
  (were one to, catch-up would have to write that file, and this test says where);
* after catch-up, each notebook's set-up cells run in a fresh kernel whose home and temporary
  folders are empty, as on a laptop that never ran an earlier notebook.

And the other half of a learner's long day, also ``workbook.py``'s: ``lab`` has Jupyter shut
down kernels left idle (each finished notebook's kernel keeps 230-450 MiB), with options Jupyter
really has, and an instructor's own value for one of them wins (Jupyter refuses an option given
twice: Lab would not start).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from notebook_files import NOTEBOOKS, ROOT, core_path, read, script

workbook = script("workbook.py")

#: The names a notebook may read files through, and why each is the notebook's own or the
#: repository's: nothing here is a file another notebook wrote.
OWN_ROOTS = {
    "scratch": "the folder the notebook makes with tempfile.mkdtemp()",
    "TEMPLATE": "infra_cfn/chat.yaml, in the repository (chatlib.CHAT_TEMPLATE)",
    "path": "07's filled(path): a file beside TEMPLATE, in the repository",
    "module_path": "06's install_authorizer(…, module_path): a file in scratch",
    "pyjwt": "the installed PyJWT package (jwt.__file__), zipped into a function",
    "jwt": "the installed PyJWT package",
}
READS = {"read_text", "read_bytes", "open", "rglob", "glob", "iterdir"}
#: What starts a notebook's own AWS: its set-up is every code cell up to the first of these.
STARTS = re.compile(r"start_local_stack\(|start_embedded_aws\(|TARGET == ")


def run_catch_up(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "workbook.py"), "catch-up", *args],
        capture_output=True, text=True, timeout=300, env={**os.environ, **environment},
    )  # fmt: skip


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_catch_up_says_what_the_notebook_needs(path):
    result = run_catch_up(path.name[:2])
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"{path.name[:2]} needs nothing from earlier notebooks: "
        f"open notebooks/{path.name} and run it from the top"
    )
    installed = re.search(r"Installed: the \d+ packages it imports \((.*)\)\.", result.stdout)
    assert installed and "chatlib" in installed.group(1).split(", ")


def test_catch_up_names_the_scaffold_it_replaces_by_the_reference():
    """02 and 03 have a scaffold on the workshop path whose check goes on with the reference
    solution while TODO lines remain; catch-up says where, by the section's heading."""
    for number, section in [("02", "Part 1: write the chat yourself"),
                            ("03", "Part 1: write the rooms chat yourself")]:  # fmt: skip
        output = run_catch_up(number).stdout
        assert f"In '{section}', a scaffold left unfinished" in output, output
    assert "scaffold" not in run_catch_up("04").stdout


def test_catch_up_takes_a_short_number_and_the_japanese_edition():
    lines = run_catch_up("6", "--lang", "ja").stdout.splitlines()
    assert lines[0] == (
        "06 needs nothing from earlier notebooks: "
        "open notebooks/ja/06_jwt_authorizer.ipynb and run it from the top"
    )


def test_an_unknown_notebook_is_refused_before_anything_is_installed(tmp_path):
    result = run_catch_up("99", WORKBOOK_VENV=str(tmp_path / "venv"))
    assert result.returncode != 0
    assert "no notebook '99'; the notebooks are 00, 01, 02, 03, 04, 05, 06, 07" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_a_missing_package_is_named_with_the_section_that_imports_it(tmp_path, monkeypatch,
                                                                     capsys):  # fmt: skip
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 99 · A notebook\n## Part 9: the new library"),
        nbformat.v4.new_code_cell("import boto3\nfrom no_such_package_for_catch_up import x"),
        nbformat.v4.new_code_cell("%%writefile {scratch}/mine.py\nimport json"),
        nbformat.v4.new_code_cell("import mine"),  # the notebook's own module: not a package
    ])  # fmt: skip
    optional = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Part 9: the new library *(optional)*"),
        nbformat.v4.new_code_cell("import no_such_package_for_catch_up"),
    ])  # fmt: skip
    path = tmp_path / "99_a_notebook.ipynb"
    nbformat.write(notebook, path)
    monkeypatch.setattr(workbook, "notebook_path", lambda number, language: path)
    monkeypatch.setattr(workbook, "ROOT", tmp_path)  # where the notebook is shown from
    assert workbook.catch_up("99", sys.executable) == 1
    output = capsys.readouterr().out
    assert "99 imports no_such_package_for_catch_up (in 'Part 9: the new library')" in output
    assert "boto3" not in output and "mine" not in output
    # imported only in a section a workshop skips: said, but the notebook can be caught up
    nbformat.write(optional, path)
    assert workbook.catch_up("99", sys.executable) == 0
    output = capsys.readouterr().out
    assert "only optional sections import it" in output
    assert output.splitlines()[2].startswith("99 needs nothing from earlier notebooks")


def file_roots(node: ast.expr) -> set[str]:
    """The variables a path expression is built from (``Path(scratch) / "x"`` -> scratch)."""
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    return names - {"Path", "str"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_the_notebook_reads_no_file_an_earlier_notebook_wrote(path):
    """Every file the notebook's code reads or imports is its own (in its ``scratch``, made
    before first use), the repository's, or an installed package's."""
    made_scratch = False
    for cell in read(path).cells:
        if cell.cell_type != "code":
            continue
        if cell.source.startswith("%%writefile"):
            target = cell.source.split()[1]
            assert target.startswith("{scratch}/"), f"{path.name} writes {target}"
            assert made_scratch, f"{path.name} writes into scratch before making it"
            continue
        source = "\n".join(
            "" if line.lstrip().startswith(("%", "!")) else line
            for line in cell.source.splitlines()
        )
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Assign) and "scratch" in {
                t.id for t in node.targets if isinstance(t, ast.Name)
            }:
                assert "tempfile.mkdtemp()" in ast.unparse(node.value), ast.unparse(node)
                made_scratch = True
            if isinstance(node, ast.Name) and node.id == "scratch" and not made_scratch:
                pytest.fail(f"{path.name} uses scratch before making it")
            if isinstance(node, ast.Call):
                function = node.func
                if isinstance(function, ast.Attribute) and function.attr in READS:
                    roots = file_roots(function.value)
                elif isinstance(function, ast.Name) and function.id == "open":
                    roots = file_roots(node.args[0])
                else:
                    continue
                # a literal path (no variable at all) would be a file someone else put there
                assert roots and roots <= set(OWN_ROOTS), f"{path.name}: {ast.unparse(node)}"
    imports = workbook.notebook_imports(json.loads(path.read_text()))
    assert workbook.missing_modules(sys.executable, set(imports)) == [], (
        f"{path.name} imports a module that is neither installed nor its own"
    )


def set_up(path) -> nbformat.NotebookNode:
    """The notebook's code up to the cell that starts its embedded AWS (on the workshop path,
    or, for a notebook optional as a whole, in full), then its own clean-up call."""
    notebook = core_path(path) if core_path(path).cells else read(path)
    code = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    first_start = next(i for i in code if STARTS.search(notebook.cells[i].source))
    notebook.cells = [notebook.cells[i] for i in code if i <= first_start]
    notebook.cells.append(nbformat.v4.new_code_cell("print(chatlib.stop_local_stack())"))
    return notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_after_catch_up_the_notebook_sets_up_on_a_laptop_that_ran_nothing_before(
    path, tmp_path, monkeypatch
):
    """Home, cache and temporary folders empty: nothing an earlier notebook (or an earlier
    run) left in ``~/.cache/chatlib`` or the temporary folder is there to help."""
    assert run_catch_up(path.name[:2]).returncode == 0
    for name, folder in [("HOME", "home"), ("XDG_CACHE_HOME", "cache"), ("TMPDIR", "tmp")]:
        (tmp_path / folder).mkdir()
        monkeypatch.setenv(name, str(tmp_path / folder))  # the kernel inherits them
    notebook = set_up(path)
    NotebookClient(notebook, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()  # fmt: skip
    last = notebook.cells[-1].outputs[0]["text"]
    assert last.startswith("stopped ") and "the embedded AWS" in last, last


def test_lab_shuts_down_idle_kernels_unless_told_otherwise():
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager

    for name in workbook.KERNEL_CULLING:
        assert MappingKernelManager.class_traits().get(name.rsplit(".", 1)[1]), name
    default = workbook.lab_command(Path("python"), is_root=False)
    assert "--MappingKernelManager.cull_idle_timeout=1800" in default
    assert "--MappingKernelManager.cull_connected=True" in default
    own = workbook.lab_command(
        Path("python"), is_root=False, extra=["--MappingKernelManager.cull_idle_timeout=0"]
    )
    assert not [arg for arg in own if arg.startswith("--MappingKernelManager.cull_idle_timeout")]
    assert "--MappingKernelManager.cull_connected=True" in own
