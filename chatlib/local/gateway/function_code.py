"""A function's code, as Lambda runs it: its own zip, unpacked, first on the import path.

Lambda unpacks a function's deployment package into ``/var/task`` (``LAMBDA_TASK_ROOT``) and
imports the handler from there; besides the zip, a Python function finds only the standard
library and what the runtime bundles, the AWS SDK (boto3 and the packages it needs)
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html). So the local runtime:

1. reads the function's ``CodeSha256`` from its configuration (``GetFunctionConfiguration``,
   :mod:`.deployment`);
2. unless that exact code is unpacked already, downloads the zip and unpacks it into a
   directory named by the hash (:class:`FunctionCode`). On AWS the download URL is
   ``GetFunction``'s ``Code.Location``; moto has none to give, so the zip comes from the
   embedded AWS's emulator-only route :data:`chatlib.local.moto_server.FUNCTION_CODE_PATH`;
3. starts each instance with that directory as its working directory and first on
   ``sys.path``, and lets it import only the standard library and :data:`RUNTIME_PACKAGES`
   besides (:mod:`.lambda_worker`): a module missing from the zip fails to import here as
   it would on Lambda, even when it is installed in this virtual environment.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.machinery
import io
import shutil
import tempfile
import threading
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from chatlib.local.moto_server import FUNCTION_CODE_PATH

__all__ = ["RUNTIME_PACKAGES", "FunctionCode", "runtime_package_paths"]

#: What Lambda's Python runtime bundles besides the standard library: boto3 and its
#: dependencies. Anything else a handler imports must be in its zip.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


def runtime_package_paths() -> dict[str, str]:
    """``{import name: the directory to find it in}`` for each of :data:`RUNTIME_PACKAGES`
    installed here (the worker imports them from there, and nothing else from site-packages)."""
    found = {}
    for name in RUNTIME_PACKAGES:
        # on sys.path, whatever sys.modules holds (a library may have put a stand-in there)
        spec = importlib.machinery.PathFinder.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        # a package's origin is its __init__.py: search the folder that holds the package
        package = spec.submodule_search_locations is not None
        found[name] = str(origin.parent.parent if package else origin.parent)
    return found


def _hex(code_sha256: str) -> str:
    """Lambda's ``CodeSha256`` (base64) as a file-name-safe hex string."""
    try:
        return base64.b64decode(code_sha256, validate=True).hex()
    except ValueError:
        return hashlib.sha256(code_sha256.encode()).hexdigest()


class FunctionCode:
    """Unpacked deployment packages, one directory per ``CodeSha256``, under ``root`` (a new
    temporary directory unless given; :meth:`close` removes a directory it created)."""

    def __init__(self, endpoint_url: str, root: str | None = None) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self._owns_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="chatlib-lambda-code-"))
        self._lock = threading.Lock()
        self.unpacked = 0  # zips downloaded and unpacked (once per distinct code)

    def task_root(self, function_arn: str, code_sha256: str) -> str:
        """The directory holding the function's code, unpacked on first use. Blocking; an
        ``OSError`` says why the code could not be read or unpacked (no instance can start)."""
        target = self.root / _hex(code_sha256)
        with self._lock:
            if not target.is_dir():
                data = self._download(function_arn)
                actual = base64.b64encode(hashlib.sha256(data).digest()).decode()
                if actual != code_sha256:
                    raise OSError(
                        f"{function_arn}: its code changed while it was read "
                        f"(CodeSha256 {code_sha256}, got {actual}); invoke it again"
                    )
                self._unpack(data, target)
                self.unpacked += 1
        return str(target)

    def _download(self, function_arn: str) -> bytes:
        query = urllib.parse.urlencode({"FunctionName": function_arn})
        url = f"{self.endpoint_url}{FUNCTION_CODE_PATH}?{query}"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.read()
        except OSError as error:
            raise OSError(f"{function_arn}: could not read its code: {error}") from error

    def _unpack(self, data: bytes, target: Path) -> None:
        partial = Path(tempfile.mkdtemp(prefix=target.name[:16] + "-", dir=self.root))
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for member in archive.infolist():
                    name = Path(member.filename)
                    if name.is_absolute() or ".." in name.parts:
                        raise OSError(f"the zip holds an unsafe path: {member.filename}")
                archive.extractall(partial)
        except zipfile.BadZipFile as error:
            shutil.rmtree(partial, ignore_errors=True)
            raise OSError(f"the function's code is not a zip file: {error}") from error
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        partial.rename(target)

    def close(self) -> None:
        """Remove the unpacked code, if this object made its directory."""
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)
