"""A poster-sized density render to Zarr with gmmfast.dask: time, and peak memory per worker.

The model is the black-and-white demo model (``demo_model("china-bw")``, K = 500 full
covariances); the grid is SIZE × SIZE pixels over the picture's extent,
``Grid(SIZE, SIZE, (0, 639), (0, 426))``: 20000 × 20000 by default, 3.2 GB of float64. Each
configuration renders it with ``gmmfast.dask.render_to_zarr`` into a fresh Zarr store (deleted
afterwards):

* ``threads``: Dask's threaded scheduler in this process (one thread per core);
* ``cluster, N worker(s)``: a ``dask.distributed.LocalCluster`` of N worker processes with one
  thread each; the kernels in each worker use cores / N threads (``RAYON_NUM_THREADS``), so
  every configuration uses the whole machine and no more.

For reference, the same image is rendered in memory by ``gmmfast.log_density_grid`` (one
process, all cores), and by the threaded scheduler into a store that discards the blocks, which
separates the rendering from compressing and writing.

Peak memory per worker is the kernel's high-water mark of the worker process's resident memory
(``VmHWM`` in ``/proc/self/status``, reset through ``/proc/self/clear_refs`` after a
``malloc_trim`` just before the render, read through ``client.run``), minus its resident
memory at that moment; for the in-process rows, the same for this process. It is reported in
MiB and in blocks (a block is CHUNKS² pixels of float64).

    python benchmarks/bench_dask.py [--size 20000] [--chunks 2048] [--repeat 1] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import dask
import dask.array as da

import gmmfast
import gmmfast.dask
from _harness import _release_free_memory, _reset_peak, _status_kib, machine, measure
from gmmfast.datasets import demo_model

MIB = 2**20


class Discard:
    """A store target that drops what it is given: rendering without compressing/writing."""

    def __setitem__(self, key, value):
        pass


def reset_worker_peak() -> int:
    """In a worker: release free memory, reset the high-water mark; resident KiB now."""
    import gc

    gc.collect()
    _release_free_memory()
    _reset_peak()
    return _status_kib("VmRSS")


def worker_peak() -> int:
    """In a worker: the high-water mark of resident memory (KiB) since the reset."""
    return _status_kib("VmHWM")


def render(model, grid, store: Path, chunks: int, rtol: float) -> None:
    gmmfast.dask.render_to_zarr(model, store, grid, chunks=chunks, rtol=rtol, overwrite=True)


def in_process_rows(model, grid, chunks, rtol, repeat, workdir: Path) -> list:
    rows = []
    in_memory = measure(
        "in memory: gmmfast.log_density_grid",
        lambda: gmmfast.log_density_grid(model, grid, rtol=rtol),
        repeat=repeat,
        warmup=0,
    )
    rows.append((in_memory.name, in_memory.times, [in_memory.peak_bytes], None))

    lazy = gmmfast.dask.log_density_grid(model, grid, chunks=chunks, rtol=rtol)
    discard = measure(
        "threads, blocks discarded (no Zarr)",
        lambda: da.store(lazy, Discard(), lock=False, scheduler="threads"),
        repeat=repeat,
        warmup=0,
    )
    rows.append((discard.name, discard.times, [discard.peak_bytes], None))

    store = workdir / "threads.zarr"
    with dask.config.set(scheduler="threads"):
        threads = measure(
            "threads → Zarr",
            lambda: render(model, grid, store, chunks, rtol),
            repeat=repeat,
            warmup=0,
        )
    size = directory_size(store)
    shutil.rmtree(store)
    rows.append((threads.name, threads.times, [threads.peak_bytes], size))
    return rows


def cluster_row(model, grid, chunks, rtol, repeat, n_workers: int, workdir: Path):
    from distributed import Client, LocalCluster

    cores = os.cpu_count() or 1
    kernel_threads = max(1, cores // n_workers)
    cluster = LocalCluster(
        n_workers=n_workers,
        processes=True,
        threads_per_worker=1,
        dashboard_address=None,
        env={"RAYON_NUM_THREADS": str(kernel_threads)},
    )
    times, peaks, size = [], [], None
    with cluster, Client(cluster) as client:
        # Warm up: imports and the first kernel call in every worker.
        warm = workdir / "warmup.zarr"
        render(model, gmmfast.Grid(512, 512), warm, 128, rtol)
        shutil.rmtree(warm)
        store = workdir / f"cluster{n_workers}.zarr"
        for _ in range(repeat):
            before = client.run(reset_worker_peak)
            start = time.perf_counter()
            render(model, grid, store, chunks, rtol)
            times.append(time.perf_counter() - start)
            after = client.run(worker_peak)
            peaks.extend((after[w] - before[w]) * 1024 for w in before)
            size = directory_size(store)
            shutil.rmtree(store)
    name = (
        f"cluster, {n_workers} worker process{'es' if n_workers > 1 else ''} "
        f"× 1 thread ({kernel_threads} kernel thread{'s' if kernel_threads > 1 else ''} each)"
    )
    return (name, times, peaks, size)


def directory_size(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def report(rows: list, block_bytes: int, output_bytes: int) -> str:
    lines = [
        "| configuration | median time | runs | Mpixel/s | peak extra memory per process "
        "| in blocks | store on disk |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, times, peaks, size in rows:
        median = statistics.median(times)
        peak = max(p for p in peaks if p is not None)
        pixels = output_bytes / 8
        disk = "–" if size is None else f"{size / MIB:,.0f} MiB"
        lines.append(
            f"| {name} | {median:,.1f} s | {len(times)} | {pixels / median / 1e6:,.0f} | "
            f"{peak / MIB:,.0f} MiB | {peak / block_bytes:,.1f} | {disk} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20000, help="image side in pixels")
    parser.add_argument("--chunks", type=int, default=2048, help="block side in pixels")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration")
    parser.add_argument("--rtol", type=float, nargs="+", default=[1e-9, 0.0])
    parser.add_argument("--quick", action="store_true", help="2000 × 2000, blocks of 512")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write the stores (a temp dir)"
    )
    args = parser.parse_args()
    if args.quick:
        args.size, args.chunks = 2000, 512

    model = demo_model("china-bw")
    grid = gmmfast.Grid(args.size, args.size, (0, 639), (0, 426))
    block_bytes = min(args.chunks, args.size) ** 2 * 8
    output_bytes = grid.size * 8
    n_blocks = -(-args.size // args.chunks)
    print(f"# gmmfast.dask: {args.size}×{args.size} log-density of china-bw (K=500) to Zarr\n")
    print(f"machine: {machine()}; dask {dask.__version__}")
    print(
        f"image: {output_bytes / MIB:,.0f} MiB of float64; blocks: {args.chunks}×{args.chunks} "
        f"pixels = {block_bytes / MIB:,.0f} MiB, {n_blocks}×{n_blocks} = {n_blocks**2} blocks"
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench_dask_", dir=args.dir))
    try:
        # Warm up this process: imports, Dask's thread pool, the first kernel call.
        small = gmmfast.Grid(512, 512)
        gmmfast.log_density_grid(model, small)
        with dask.config.set(scheduler="threads"):
            render(model, small, workdir / "warmup.zarr", 128, 0.0)
        shutil.rmtree(workdir / "warmup.zarr")
        for rtol in args.rtol:
            rows = in_process_rows(model, grid, args.chunks, rtol, args.repeat, workdir)
            for n_workers in (1, 2):
                rows.append(
                    cluster_row(model, grid, args.chunks, rtol, args.repeat, n_workers, workdir)
                )
            print(f"\n## rtol = {rtol:g}\n")
            print(report(rows, block_bytes, output_bytes))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
