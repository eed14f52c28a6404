"""Each notebook's wall time, executed top to bottom in a fresh kernel, and the nbval suite's.

python benchmarks/notebook_times.py [--skip-nbval]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-nbval", action="store_true")
    args = parser.parse_args()
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    total = 0.0
    print(f"{'notebook':<32} {'seconds':>8}")
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        started = time.perf_counter()
        NotebookClient(
            notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": ROOT}}
        ).execute()
        elapsed = time.perf_counter() - started
        total += elapsed
        print(f"{path.name:<32} {elapsed:>8.1f}")
    print(f"{'all notebooks':<32} {total:>8.1f}")
    if not args.skip_nbval:
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "notebooks"], cwd=ROOT, capture_output=True
        )
        outcome = "passed" if result.returncode == 0 else "FAILED"
        print(
            f"{'nbval suite (pytest notebooks)':<32} {time.perf_counter() - started:>8.1f}"
            f"  {outcome}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
