"""Package the Lambda code: chatlib's Lambda folders and PyJWT, in a reproducible zip.

What ships is decided by an allow-list that is also the layout's rule: the modules at
chatlib's root and the ``chatlib/handlers/`` package run in Lambda, and nothing else does.
``chatlib/deploy/`` (this code), ``chatlib/local/`` (the embedded AWS and the gateway) and
``chatlib/tools/`` (the CLI and the clients) stay out, and a new folder stays out until it
is named here. Lambda's Python runtime brings the standard library and boto3; PyJWT is the
one other package the handlers import.

Your own handlers ship too: ``build_package(extra_modules=["whisper.py"])`` adds a module at
the zip's root, where Lambda's ``Handler: whisper.handler`` finds it, and a folder (a package,
``extra_modules=["mychat/"]``) goes in under its own name. They sit next to ``chatlib``, so
they may import it; a name that is already in the zip is refused, never overwritten.

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

__all__ = ["LAMBDA_SUBPACKAGES", "CodePackage", "build_package", "lambda_files"]

#: chatlib's subpackages that run in Lambda, besides the modules at its root.
LAMBDA_SUBPACKAGES = ("handlers",)
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


def build_package(
    extra_packages: Iterable[str] = RUNTIME_DEPENDENCIES,
    *,
    extra_modules: Iterable[str | Path] = (),
) -> CodePackage:
    """Zip chatlib's Lambda code, ``extra_packages`` (installed, by import name) and
    ``extra_modules`` (your own: ``.py`` files, or package folders) for Lambda."""
    entries: dict[str, bytes] = {}
    for root_name in ("chatlib", *extra_packages):
        root = _package_directory(root_name)
        paths = lambda_files(root) if root_name == "chatlib" else _python_files(root)
        for path in paths:
            entries[f"{root_name}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    for source in extra_modules:
        _add_own_code(entries, Path(source))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name], compresslevel=9)
    data = buffer.getvalue()
    return CodePackage(data, hashlib.sha256(data).hexdigest(), tuple(sorted(entries)))


def lambda_files(chatlib_root: Path) -> list[Path]:
    """The files of chatlib that ship: its root modules and :data:`LAMBDA_SUBPACKAGES`."""
    files = [path for path in sorted(chatlib_root.glob("*.py")) if path.is_file()]
    for name in LAMBDA_SUBPACKAGES:
        files += _python_files(chatlib_root / name)
    return sorted(files)


def _add_own_code(entries: dict[str, bytes], source: Path) -> None:
    """Add a learner's module (at the zip's root) or package folder (under its own name)."""
    if source.is_file() and source.suffix == ".py":
        files = {source.name: source}
    elif source.is_dir():
        files = {
            f"{source.name}/{p.relative_to(source).as_posix()}": p for p in _python_files(source)
        }
    else:
        raise FileNotFoundError(f"{source}: give a .py file or a package folder to ship")
    taken = {name.split("/")[0].removesuffix(".py") for name in entries}
    if source.stem in taken:
        raise ValueError(f"{source}: the zip already has {source.stem!r}; rename your module")
    for name, path in files.items():
        entries[name] = path.read_bytes()


def _package_directory(import_name: str) -> Path:
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{import_name} is not installed: cannot package it for Lambda")
    return Path(next(iter(spec.submodule_search_locations)))


def _python_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.relative_to(root).parts:
            continue
        if path.is_file() and path.suffix in {".py", ".typed"}:
            yield path
