"""The local runtime runs the code a function was created with: its zip, as Lambda does.

A function's zip is unpacked once per ``CodeSha256`` and put first on the instance's
``sys.path`` (and made its working directory, ``LAMBDA_TASK_ROOT``); besides it, the instance
finds the standard library and the AWS SDK, and nothing else of this virtual environment.
New code (``update_function_code``) is run by new instances; a module missing from the zip
fails as on Lambda, with ``Runtime.ImportModuleError``.
"""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest
from gateway_helpers import open_socket, receive_json, wait_for
from test_invoke_permission import wire_by_hand

from chatlib.local.api_shortcut import define_api_shortcut

SEES = """
import json, os, sys
import boto3

VERSION = {version!r}

def handler(event, context):
    found = {{}}
    for name in ["chatlib", "jwt", "moto", "websocket"]:
        try:
            module = __import__(name)
            found[name] = module.__file__
        except ImportError:
            found[name] = None
    print("SEES " + json.dumps({{
        "version": VERSION,
        "file": __file__,
        "cwd": os.getcwd(),
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "boto3": boto3.__file__,
        "found": found,
    }}))
    return {{"statusCode": 200}}
"""


def _zip(**files: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _sees(stack, function_name, count):
    """The SEES records the function printed, once there are ``count`` of them."""

    def records():
        lines = [line for line in stack.logs(function_name) if line.startswith("SEES ")]
        return [json.loads(line[5:]) for line in lines] if len(lines) >= count else None

    return wait_for(records)


def test_the_zip_runs_and_nothing_else_of_this_environment(stack):
    unpacked = stack.gateway.runtime.code.unpacked
    code = _zip(**{"sees.py": SEES.format(version=1)})
    api_id, arns = wire_by_hand("zipped", code, {"$default": "sees.handler"}, permit=True)
    ws = open_socket(stack.gateway.websocket_url(api_id, "dev"))
    ws.send("hello")
    seen = _sees(stack, "zipped-default", 1)[0]
    root = seen["task_root"]
    assert seen["file"] == f"{root}/sees.py" and seen["cwd"] == root
    # chatlib, PyJWT, moto and websocket-client are installed here, but not in the zip
    assert seen["found"] == {"chatlib": None, "jwt": None, "moto": None, "websocket": None}
    assert seen["boto3"] is not None and not seen["boto3"].startswith(root)
    assert stack.gateway.runtime.code.unpacked == unpacked + 1

    # new code: the next invocation runs it, from a directory of its own
    boto3.client("lambda").update_function_code(
        FunctionName="zipped-default", ZipFile=_zip(**{"sees.py": SEES.format(version=2)})
    )
    stack.refresh()
    ws.send("again")
    second = _sees(stack, "zipped-default", 2)[1]
    assert second["version"] == 2 and second["task_root"] != root
    ws.close()


def test_a_module_missing_from_the_zip_fails_as_on_lambda(stack):
    code = _zip(**{"other.py": "x = 1\n"})
    api_id, _ = wire_by_hand("missing", code, {"$default": "sees.handler"}, permit=True)
    ws = open_socket(stack.gateway.websocket_url(api_id, "dev"))
    ws.send("hello")
    assert receive_json(ws)["message"] == "Internal server error"
    stack.wait_until_idle()
    errors = [line for line in stack.logs("missing-default") if line.startswith("[ERROR]")]
    assert errors[-1] == (
        "[ERROR] Runtime.ImportModuleError: Unable to import module 'sees': No module named 'sees'"
    )
    ws.close()


def test_the_shortcut_ships_the_folder_and_chatlib_in_the_zip(stack, tmp_path):
    (tmp_path / "sees.py").write_text(SEES.format(version=3))
    api = define_api_shortcut(
        "shipped", {"$default": "sees.handler"}, environment={"PYTHONPATH": str(tmp_path)}
    )
    configuration = boto3.client("lambda").get_function_configuration(
        FunctionName="shipped-default"
    )
    assert "PYTHONPATH" not in (configuration.get("Environment") or {}).get("Variables", {})
    ws = open_socket(stack.gateway.websocket_url(api.api_id, api.stage))
    ws.send("hello")
    seen = _sees(stack, "shipped-default", 1)[0]
    root = seen["task_root"]
    # chatlib and PyJWT come from the zip (as they would on Lambda), not from this machine
    assert seen["found"]["chatlib"] == f"{root}/chatlib/__init__.py"
    assert seen["found"]["jwt"] == f"{root}/jwt/__init__.py"
    assert seen["found"]["moto"] is None
    ws.close()


@pytest.mark.parametrize("name", ["../evil.py", "/abs.py"])
def test_an_unsafe_zip_is_refused(tmp_path, name):
    from chatlib.local.gateway.function_code import FunctionCode

    code = FunctionCode("http://127.0.0.1:1", root=str(tmp_path))
    with pytest.raises(OSError, match="unsafe path"):
        code._unpack(_zip(**{name: "x"}), tmp_path / "target")
    assert not (tmp_path / "target").exists()
