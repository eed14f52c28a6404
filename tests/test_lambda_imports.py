"""Handlers import with only what Lambda's Python runtime has, plus the zip's PyJWT.

Every handler ``infra_cfn/chat.yaml`` names, at every step, is imported in a fresh Python in
which the workbook's other dependencies (moto, websockets, …) cannot be found.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from test_lambda_package import template_handlers


def test_every_template_handler_imports_without_the_workbooks_other_dependencies():
    handlers = sorted(template_handlers())
    assert {h.rsplit(".", 2)[-2] for h in handlers} >= {
        "connect",
        "connect_verified",
        "authorizer",
        "disconnect",
        "default",
        "broadcast",
        "room",
    }
    script = textwrap.dedent(
        f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {{"moto", "websocket", "websockets", "yaml", "matplotlib",
                                           "werkzeug", "flask", "IPython", "httptools"}}:
                    raise ImportError("not on Lambda: " + name)
        sys.meta_path.insert(0, Block())
        import importlib
        for path in {handlers!r}:
            module, _, function = path.rpartition(".")
            assert callable(getattr(importlib.import_module(module), function)), path
        loaded = sorted(name for name in sys.modules if name.startswith("chatlib."))
        print(" ".join(loaded))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split()
    assert "chatlib.handlers.authorizer" in loaded
    assert not [
        m for m in loaded if m.startswith(("chatlib.local", "chatlib.tools", "chatlib.deploy"))
    ]
