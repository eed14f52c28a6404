"""The layout's rule, enforced: the folders say where code runs.

    chatlib/ (its root modules) and chatlib/handlers/   run in Lambda; exactly these ship
    chatlib/deploy/                                     deploys, to AWS or to the embedded one
    chatlib/local/                                      exists only because there is no AWS here
    chatlib/tools/                                      for people: CLI, clients, views
    chatlib/course/                                     the notebooks' exercise checks

Checked here: the zip holds exactly the Lambda folders (and PyJWT); no shipped module imports
deploy, local or tools; deploy reaches the moto bridge only through its one seam; every
exception is in ``chatlib.errors`` under ``ChatlibError`` and drawn in its tree; modules and
classes stay small unless their docstring says why; the template's path is spelled once.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import re
from pathlib import Path

import pytest
from notebook_files import NOTEBOOKS, ROOT

import chatlib
import chatlib.errors
from chatlib.deploy.package import LAMBDA_SUBPACKAGES, build_package

CHATLIB = ROOT / "chatlib"
LAPTOP_FOLDERS = ("deploy", "local", "tools", "course")
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250


def shipped_sources() -> list[Path]:
    """The rule, read from the tree: root modules plus the Lambda subpackages."""
    files = sorted(CHATLIB.glob("*.py"))
    for name in LAMBDA_SUBPACKAGES:
        files += sorted((CHATLIB / name).rglob("*.py"))
    return sorted(f for f in files if "__pycache__" not in f.parts)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str) -> set[str]:
    """Every module an import statement in ``source`` names, anywhere in it (functions too),
    relative imports made absolute against ``module``."""
    package = module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def forbidden_imports(source: str, module: str) -> list[str]:
    return sorted(
        name
        for name in imported_modules(source, module)
        if name.split(".")[:2] in (["chatlib", folder] for folder in LAPTOP_FOLDERS)
    )


def test_the_zip_holds_exactly_the_lambda_folders_and_pyjwt():
    expected = {f"chatlib/{p.relative_to(CHATLIB).as_posix()}" for p in shipped_sources()}
    files = set(build_package().files)
    chatlib_files = {f for f in files if f.startswith("chatlib/")}
    assert chatlib_files == expected
    assert {f.split("/", 1)[0] for f in files} == {"chatlib", "jwt"}
    assert {"chatlib/handlers/connect.py", "chatlib/store.py", "jwt/api_jwt.py"} <= files


def test_every_folder_of_chatlib_is_placed_by_the_rule():
    folders = {
        p.name for p in CHATLIB.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))
    }
    assert folders == {*LAMBDA_SUBPACKAGES, *LAPTOP_FOLDERS}


@pytest.mark.parametrize("path", shipped_sources(), ids=lambda p: p.name)
def test_no_shipped_module_imports_deploy_local_or_tools(path):
    assert forbidden_imports(path.read_text(), module_name(path)) == []


def test_the_import_check_catches_direct_relative_and_late_imports():
    source = (
        "from chatlib.local.embedded import start_embedded_aws\n"
        "def f():\n    import chatlib.tools.cli\n"
        "from ..deploy import deploy_stack\n"
        "from chatlib import store\n"
    )
    assert forbidden_imports(source, "chatlib.handlers.x") == [
        "chatlib.deploy",
        "chatlib.deploy.deploy_stack",
        "chatlib.local.embedded",
        "chatlib.local.embedded.start_embedded_aws",
        "chatlib.tools.cli",
    ]


def test_deploy_reaches_the_moto_bridge_only_through_its_seam():
    for path in sorted((CHATLIB / "deploy").glob("*.py")):
        names = imported_modules(path.read_text(), module_name(path))
        local = sorted(n for n in names if n.startswith(("chatlib.local", "moto")))
        if path.name == "emulator.py":
            assert local == ["chatlib.local", "chatlib.local.moto_bridge"]
        else:
            assert local == [], path.name


def all_modules() -> list[str]:
    names = ["chatlib"]
    for info in pkgutil.walk_packages(chatlib.__path__, "chatlib."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return names


def test_every_chatlib_exception_is_a_chatliberror_defined_and_drawn_in_errors():
    tree = chatlib.errors.__doc__
    defined = set()
    for name in all_modules():
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("chatlib"):
                defined.add(value)
    assert defined, "no exception classes found"
    for error in defined:
        assert error.__module__ == "chatlib.errors", f"{error.__name__} is in {error.__module__}"
        assert issubclass(error, chatlib.errors.ChatlibError), error.__name__
        assert re.search(rf"[├└]── {error.__name__}\b", tree) or error.__name__ == "ChatlibError"
    drawn = set(re.findall(r"[├└]── (\w+)", tree))
    assert drawn == {e.__name__ for e in defined} - {"ChatlibError"}


def test_modules_and_classes_are_small_unless_they_say_why():
    too_big = []
    for path in sorted(CHATLIB.rglob("*.py")):
        source = path.read_text()
        explained = "Why this size:" in (ast.get_docstring(ast.parse(source)) or "")
        if len(source.splitlines()) > MAX_MODULE_LINES and not explained:
            too_big.append(f"{path.relative_to(ROOT)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_CLASS_LINES and not explained:
                    too_big.append(f"{path.relative_to(ROOT)}: class {node.name} {length} lines")
    assert too_big == []


def test_the_template_path_is_spelled_once():
    spelled = []
    code = [
        p for folder in ("chatlib", "tests", "benchmarks") for p in (ROOT / folder).rglob("*.py")
    ]
    for path in code:
        if re.search(r"""["']infra_cfn["']\s*[,)/]""", path.read_text()):
            spelled.append(path.relative_to(ROOT).as_posix())
    for notebook in NOTEBOOKS:
        cells = json.loads(notebook.read_text())["cells"]
        source = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        if re.search(r"""["']infra_cfn["']""", source):
            spelled.append(notebook.name)
    assert spelled == ["chatlib/deploy/template.py"]
    assert chatlib.CHAT_TEMPLATE.is_file()


def test_the_public_names_resolve_and_earlier_names_still_work():
    for name in chatlib.__all__:
        assert getattr(chatlib, name) is not None, name
    assert chatlib.FakeLambdaContext is chatlib.LambdaContext
    assert chatlib.deploy_chat is chatlib.define_chat_shortcut
    assert chatlib.define_websocket_api is chatlib.define_api_shortcut
    with pytest.raises(AttributeError):
        chatlib.no_such_name  # noqa: B018
