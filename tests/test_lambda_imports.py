"""Handlers import with only what Lambda's Python runtime has: the standard library and boto3."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HANDLERS = ["connect", "disconnect", "default", "broadcast", "room"]


def test_handlers_import_without_the_workbooks_other_dependencies():
    script = textwrap.dedent(
        f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {{"moto", "websocket", "websockets", "jwt",
                                           "matplotlib", "werkzeug", "flask", "IPython", "h11"}}:
                    raise ImportError("not on Lambda: " + name)
        sys.meta_path.insert(0, Block())
        import importlib
        for name in {HANDLERS!r}:
            module = importlib.import_module("chatlib.handlers." + name)
            assert callable(module.handler)
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
