"""Running a Python snippet in a fresh interpreter with a given number of kernel threads."""

import os
import subprocess
import sys


def run_with_threads(script: str, n: int) -> list:
    """The whitespace-separated words ``script`` prints when run with RAYON_NUM_THREADS=n
    (the pool reads it once, at first use, hence a new process)."""
    env = {**os.environ, "RAYON_NUM_THREADS": str(n)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.split()
