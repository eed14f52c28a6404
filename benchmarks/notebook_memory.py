"""Memory left behind after running notebooks 00 -> 06 as a learner does in one Lab session.

python benchmarks/notebook_memory.py [--last-cell CODE] [--wait SECONDS]

Each notebook runs top to bottom in its own kernel, and every kernel is kept alive afterwards,
as JupyterLab keeps them until someone shuts them down. Then it prints the kernels, the Lambda
worker processes still running under them, and the resident memory (RSS) of both, summed.
``--last-cell`` appends a cell to every notebook in memory (the notebooks are not changed), to
measure what a final "stop the stack" cell leaves; ``--wait`` measures again after that many
seconds (idle function instances retire meanwhile).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
import psutil
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


def measure(kernels: list[KernelManager]) -> tuple[int, int, float]:
    """(kernels alive, worker processes, MiB of RSS of kernels and all their descendants)."""
    alive = workers = rss = 0
    for manager in kernels:
        if not manager.is_alive():
            continue
        alive += 1
        kernel = psutil.Process(manager.provisioner.process.pid)
        for process in [kernel, *kernel.children(recursive=True)]:
            try:
                rss += process.memory_info().rss
                if "lambda_worker" in " ".join(process.cmdline()):
                    workers += 1
            except psutil.NoSuchProcess:
                pass
    return alive, workers, rss / MIB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--last-cell", default=None, help="code appended to every notebook")
    parser.add_argument("--wait", type=float, default=0.0, help="measure again after S seconds")
    args = parser.parse_args()
    kernels: list[KernelManager] = []
    print(f"{'after notebook':<32} {'kernels':>7} {'workers':>7} {'MiB':>8}")
    try:
        for path in sorted((ROOT / "notebooks").glob("0[0-6]_*.ipynb")):
            notebook = nbformat.read(path, as_version=4)
            if args.last_cell:
                notebook.cells.append(nbformat.v4.new_code_cell(args.last_cell))
            manager = KernelManager(kernel_name="python3")
            kernels.append(manager)
            client = NotebookClient(
                notebook, km=manager, timeout=600, resources={"metadata": {"path": ROOT}}
            )
            client.execute(cleanup_kc=False)
            alive, workers, mib = measure(kernels)
            print(f"{path.name:<32} {alive:>7} {workers:>7} {mib:>8.0f}", flush=True)
        if args.wait:
            time.sleep(args.wait)
            alive, workers, mib = measure(kernels)
            print(f"{f'{args.wait:.0f} s later':<32} {alive:>7} {workers:>7} {mib:>8.0f}")
    finally:
        for manager in kernels:
            manager.shutdown_kernel(now=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
