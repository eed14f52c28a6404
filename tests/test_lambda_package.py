"""The Lambda zip: reproducible, small, and enough on its own next to boto3.

The clean-environment test builds what Lambda's Python runtime offers: a virtual environment
with no site packages but boto3 and what boto3 itself needs, and the zip extracted as the
function's code directory. Every handler a template names must import there.
"""

from __future__ import annotations

import importlib.metadata
import io
import itertools
import re
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from chatlib.deploy.package import build_package
from chatlib.deploy.template import Resolver, load_template

INFRA = Path(__file__).resolve().parents[1] / "infra_cfn"


def template_handlers() -> set[str]:
    handlers = set()
    for path in sorted(INFRA.glob("*.yaml")):
        template = load_template(path)
        choices = {
            name: template["Parameters"][name]["AllowedValues"]
            for name in ("Step", "FanOut")
            if name in template["Parameters"]
        }
        for values in itertools.product(*choices.values()):
            chosen = dict(zip(choices, values, strict=True))
            parameters = {"CodeBucket": "b", "CodeKey": "k", **chosen}
            for resource in Resolver(template, parameters).resources().values():
                if resource["Type"] == "AWS::Lambda::Function":
                    handlers.add(resource["Properties"]["Handler"])
    return handlers


def distribution_closure(name: str) -> set[str]:
    """``name`` and every distribution it requires (without extras), transitively."""
    seen: set[str] = set()
    pending = [name]
    while pending:
        current = pending.pop()
        if current.lower() in seen:
            continue
        seen.add(current.lower())
        for requirement in importlib.metadata.requires(current) or []:
            if "extra ==" in requirement:
                continue
            pending.append(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0])
    return seen


def top_level_paths(distribution: str) -> set[Path]:
    dist = importlib.metadata.distribution(distribution)
    paths = set()
    for file in dist.files or []:
        first = file.parts[0]
        if first.endswith((".dist-info", ".egg-info")) or first == "..":
            continue
        top = Path(dist.locate_file(first))
        if top.suffix in {".py", ""} or top.is_dir():
            paths.add(top)
    return paths


@pytest.fixture(scope="module")
def lambda_like_python(tmp_path_factory) -> Path:
    """A Python with only boto3 (and its own dependencies) importable, like Lambda's."""
    root = tmp_path_factory.mktemp("lambda-runtime")
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(root / "venv")
    packages = root / "boto3-only"
    packages.mkdir()
    for distribution in distribution_closure("boto3"):
        for path in top_level_paths(distribution):
            (packages / path.name).symlink_to(path)
    site = next((root / "venv" / "lib").glob("python3*/site-packages"))
    (site / "boto3-only.pth").write_text(str(packages) + "\n")
    return root / "venv" / "bin" / "python"


def test_the_package_is_reproducible_and_small():
    first, second = build_package(), build_package()
    assert first.data == second.data and first.sha256 == second.sha256
    assert first.key == f"chatlib/lambda-{first.sha256[:16]}.zip"
    assert first.size < 200 * 1024
    with zipfile.ZipFile(io.BytesIO(first.data)) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == sorted(info.filename for info in infos)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert not any("__pycache__" in info.filename for info in infos)


def test_the_package_holds_the_handlers_and_pyjwt_but_no_laptop_only_code():
    files = set(build_package().files)
    assert "chatlib/handlers/connect.py" in files
    assert "jwt/api_jwt.py" in files
    for folder in ("deploy", "local", "tools"):
        assert not any(f.startswith(f"chatlib/{folder}/") for f in files), folder


def test_every_template_handler_imports_from_the_zip_with_only_boto3(lambda_like_python, tmp_path):
    code = tmp_path / "task"  # Lambda unpacks the zip into /var/task
    with zipfile.ZipFile(io.BytesIO(build_package().data)) as archive:
        archive.extractall(code)
    handlers = sorted(template_handlers())
    assert len(handlers) >= 5
    assert "chatlib.handlers.fanout_worker.handler" in handlers  # FanOut=sharded only
    script = (
        "import importlib, json, sys\n"
        "missing = []\n"
        "for name in ('moto', 'yaml', 'websockets', 'websocket', 'httptools', 'chatlib.local'):\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError:\n"
        "        missing.append(name)\n"
        f"for handler in {handlers!r}:\n"
        "    module, _, function = handler.rpartition('.')\n"
        "    assert callable(getattr(importlib.import_module(module), function)), handler\n"
        "import boto3, jwt, chatlib\n"
        "found = {'chatlib': chatlib.__file__, 'jwt': jwt.__file__}\n"
        "print(json.dumps({'missing': missing, **found}))\n"
    )
    result = subprocess.run(
        [
            str(lambda_like_python),
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(code)!r})\n" + script,
        ],
        capture_output=True,
        text=True,
        cwd=code,
    )
    assert result.returncode == 0, result.stderr
    report = __import__("json").loads(result.stdout)
    assert report["missing"] == [
        "moto",
        "yaml",
        "websockets",
        "websocket",
        "httptools",
        "chatlib.local",
    ]
    assert report["chatlib"].startswith(str(code)) and report["jwt"].startswith(str(code))


def test_the_clean_environment_really_lacks_the_workbook(lambda_like_python):
    result = subprocess.run(
        [str(lambda_like_python), "-I", "-c", "import chatlib"], capture_output=True, text=True
    )
    assert result.returncode != 0 and "No module named 'chatlib'" in result.stderr
    paths = subprocess.run(
        [str(lambda_like_python), "-I", "-c", "import sys; print('\\n'.join(sys.path))"],
        capture_output=True,
        text=True,
    ).stdout.split()
    workbook_site = next(p for p in sys.path if p.endswith("site-packages"))
    assert workbook_site not in paths


WHISPER = (
    "import json\n"
    "from chatlib.limits import MAX_FRAME_BYTES\n"
    "def handler(event, context):\n"
    "    return {'statusCode': 200, 'body': json.dumps({'max': MAX_FRAME_BYTES})}\n"
)


def test_your_own_module_ships_at_the_zips_root_and_imports_chatlib_there(
    lambda_like_python, tmp_path
):
    module = tmp_path / "own" / "whisper.py"
    module.parent.mkdir()
    module.write_text(WHISPER)
    package = build_package(extra_modules=[module])
    assert "whisper.py" in package.files and "chatlib/handlers/connect.py" in package.files
    assert package.key != build_package().key  # new code, new key: CloudFormation sees it
    assert build_package(extra_modules=[module]).data == package.data
    code = tmp_path / "task"
    with zipfile.ZipFile(io.BytesIO(package.data)) as archive:
        archive.extractall(code)
    script = (
        f"import sys; sys.path.insert(0, {str(code)!r})\n"
        "import whisper, chatlib\n"
        "print(whisper.handler({}, None)['statusCode'], chatlib.__file__)\n"
    )
    result = subprocess.run(
        [str(lambda_like_python), "-I", "-c", script], capture_output=True, text=True, cwd=code
    )
    assert result.returncode == 0, result.stderr
    status, chatlib_file = result.stdout.split()
    assert status == "200" and chatlib_file.startswith(str(code))


def test_a_package_folder_ships_under_its_own_name_without_its_caches(tmp_path):
    folder = tmp_path / "mychat"
    (folder / "__pycache__").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "whisper.py").write_text(WHISPER)
    (folder / "__pycache__" / "whisper.cpython-311.pyc").write_bytes(b"\0")
    (folder / "notes.txt").write_text("not code")
    files = set(build_package(extra_modules=[folder]).files)
    assert {"mychat/__init__.py", "mychat/whisper.py"} <= files
    assert not any(name.startswith("mychat/") and not name.endswith(".py") for name in files)


@pytest.mark.parametrize("name", ["chatlib.py", "jwt", "chatlib"])
def test_a_module_that_would_shadow_what_ships_is_refused(tmp_path, name):
    source = tmp_path / name
    if name.endswith(".py"):
        source.write_text(WHISPER)
    else:
        source.mkdir()
        (source / "__init__.py").write_text("")
    with pytest.raises(ValueError, match="already has .*rename your module"):
        build_package(extra_modules=[source])


def test_something_that_is_not_python_code_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    for source in (tmp_path / "notes.txt", tmp_path / "missing.py"):
        with pytest.raises(FileNotFoundError, match="a .py file or a package folder"):
            build_package(extra_modules=[source])
