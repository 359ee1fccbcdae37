"""Timing and memory measurement shared by the benchmark scripts.

Each peer runs ``repeat`` times in this process; we report the median wall time and the
largest peak of resident memory above the level just before the call. The peak is read from
the kernel (``VmHWM`` in ``/proc/self/status``, reset through ``/proc/self/clear_refs``), so it
counts every allocation — NumPy's, Rust's, numba's — not only those Python's tracemalloc sees.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def _release_free_memory() -> None:
    """Give memory that glibc keeps after frees back to the system, so that the next peak
    counts everything a run allocates rather than only what it could not reuse."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


@dataclass
class Result:
    name: str
    times: list = field(default_factory=list)
    peak_bytes: int | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def measure(name: str, function, repeat: int = 5, warmup: int = 1, note: str = "") -> Result:
    """Run ``function()`` ``warmup`` times unmeasured, then ``repeat`` times measured."""
    for _ in range(warmup):
        function()
    result = Result(name, note=note)
    for _ in range(repeat):
        gc.collect()
        _release_free_memory()
        can_reset = _reset_peak()
        before = _status_kib("VmRSS")
        start = time.perf_counter()
        output = function()
        result.times.append(time.perf_counter() - start)
        if can_reset:
            peak = (_status_kib("VmHWM") - before) * 1024
            result.peak_bytes = max(result.peak_bytes or 0, peak)
        del output
    return result


def machine() -> str:
    cores = os.cpu_count()
    threads = os.environ.get("RAYON_NUM_THREADS", "all")
    return (
        f"{platform.processor() or platform.machine()}, {cores} cores "
        f"(gmmfast threads: {threads}), Python {sys.version.split()[0]}"
    )


def table(results: list, baseline: str, output_bytes: int | None = None) -> str:
    """A Markdown table: median, runs, peak extra memory and speed relative to ``baseline``
    (how many times slower each peer is than it)."""
    base = next(r for r in results if r.name == baseline).median
    lines = [
        "| implementation | median time | runs | peak extra memory | time / gmmfast |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        peak = "n/a" if r.peak_bytes is None else f"{r.peak_bytes / 2**20:,.1f} MiB"
        name = r.name + (f" ({r.note})" if r.note else "")
        lines.append(
            f"| {name} | {r.median * 1e3:,.1f} ms | {len(r.times)} | {peak} | "
            f"{r.median / base:,.1f}× |"
        )
    if output_bytes is not None:
        lines.append(f"\noutput array: {output_bytes / 2**20:,.1f} MiB")
    return "\n".join(lines)
