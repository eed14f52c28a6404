"""Package the Lambda code: chatlib's server-side modules and PyJWT, in a reproducible zip.

Lambda's Python runtime brings the standard library and boto3; everything else a handler
imports must be in the zip. The laptop-only parts of chatlib (the local gateway, the chat
clients, the notebook helpers, the embedded AWS) stay out: they need packages Lambda does
not have, and nothing deployed imports them.

The same sources give the same bytes: entries are sorted, dated 1980-01-01 and stored with
fixed permissions, so the content hash names the code and an unchanged package is an
unchanged deploy.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LAPTOP_ONLY", "CodePackage", "build_package"]

#: chatlib modules and packages that never run in Lambda.
LAPTOP_ONLY = frozenset(
    {
        "gateway",
        "static",
        "deploy",
        "client.py",
        "terminal_chat.py",
        "room_view.py",
        "cli.py",
        "__main__.py",
        "embedded.py",
        "api_definition.py",
        "connections_standin.py",
        "event_factory.py",
    }
)
#: Third-party packages the handlers need that Lambda's runtime lacks.
RUNTIME_DEPENDENCIES = ("jwt",)

_FIXED_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class CodePackage:
    data: bytes
    sha256: str
    files: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def key(self) -> str:
        """An S3 key naming the content: new code, new key, so CloudFormation sees a change."""
        return f"chatlib/lambda-{self.sha256[:16]}.zip"


def build_package(extra_packages: Iterable[str] = RUNTIME_DEPENDENCIES) -> CodePackage:
    """Zip chatlib's server-side code and ``extra_packages`` (import names) for Lambda."""
    entries: dict[str, bytes] = {}
    for root_name in ("chatlib", *extra_packages):
        root = _package_directory(root_name)
        skip = LAPTOP_ONLY if root_name == "chatlib" else frozenset()
        for path in _python_files(root, skip):
            entries[f"{root_name}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name], compresslevel=9)
    data = buffer.getvalue()
    return CodePackage(data, hashlib.sha256(data).hexdigest(), tuple(sorted(entries)))


def _package_directory(import_name: str) -> Path:
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{import_name} is not installed: cannot package it for Lambda")
    return Path(next(iter(spec.submodule_search_locations)))


def _python_files(root: Path, skip: frozenset[str]) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] in skip or "__pycache__" in relative.parts:
            continue
        if path.is_file() and path.suffix in {".py", ".typed"}:
            yield path
