"""The exact score and the reverse diffusion process, gmmfast against its peers.

Workload: ``china-bw`` (shipped with gmmfast, see ``gmmfast.datasets``), K = 500 full
covariances over the (x, y) of the dark pixels of china.jpg's line drawing.

1. ``gmmfast.score_grid`` on the model's 640 × 427 pixel grid, against
   ``gmmfast.log_density_grid`` on the same grid (the target: the score within 2× the time of
   the density), the NumPy peer vectorised over components (``benchmarks/_peers.py``) and the
   chunked reference (``gmmfast.reference.score_grid``); then the same in the unit square at
   ᾱ = 0.5 (a noised mixture: wide components, where culling helps less).
2. ``gmmfast.diffusion.reverse_sample`` of 10⁵ points × 100 steps (cosine schedule) from the
   model mapped to the unit square (``gmmfast.image.unit_square``, as ``gmmfast diffuse``
   does), DDPM and ODE, against the NumPy peer with the same exact scores. The targets: under
   5 s on 2 cores and ≥ 20× the peer. Every step costs the peer the same (all points against
   all K components), so it is timed over ``--peer-steps`` steps (default 5) and scaled to the
   schedule's length; the table says so. Then DDPM from the model as shipped, in its own pixel
   coordinates (the strokes stay apart under unit noise until the last steps).

The random streams differ (gmmfast's own generators): the samples agree in distribution only;
the mean and the per-component counts of both are printed as a sanity check.

    python benchmarks/bench_diffusion.py [--repeat 3] [--peer-steps 5] [--skip-slow]

Runs once gmmfast has the kernels (``gmmfast.score_grid``,
``gmmfast.diffusion.reverse_sample``); each part says so and is skipped if its kernel is
missing.
"""

from __future__ import annotations

import argparse

import numpy as np

import gmmfast
import gmmfast.reference as ref
from _harness import Result, machine, measure, table
from _peers import numpy_reverse_sample, numpy_score
from gmmfast._model import marginal_form
from gmmfast.datasets import demo_model
from gmmfast.diffusion import cosine_schedule
from gmmfast.image import unit_square


def missing(name: str) -> bool:
    """Whether the kernel ``name`` (dotted, under gmmfast) is absent, said once."""
    owner = gmmfast
    *path, last = name.split(".")
    for part in path:
        owner = getattr(owner, part)
    if hasattr(owner, last):
        return False
    print(f"\n(gmmfast.{name} does not exist in this build: its benchmark is skipped)\n")
    return True


def score_grid_part(title: str, model, grid, args) -> None:
    print(f"\n## score_grid: {title}, K={model.n_components}, {grid.width}×{grid.height}\n")
    form = marginal_form(model, (0, 1), length=2)
    points = grid.points()
    ours = gmmfast.score_grid(model, grid)
    results = [
        measure("gmmfast score_grid", lambda: gmmfast.score_grid(model, grid), args.repeat),
        measure(
            "gmmfast log_density_grid",
            lambda: gmmfast.log_density_grid(model, grid),
            args.repeat,
            note="the density, for scale",
        ),
    ]
    checks = {}
    if not args.skip_slow:
        checks["NumPy peer"] = numpy_score(form, points).reshape(ours.shape)
        results.append(
            measure(
                "NumPy peer",
                lambda: numpy_score(form, points),
                args.slow_repeat,
                warmup=0,
                note="vectorised over components, 2048 points a chunk",
            )
        )
        checks["NumPy reference"] = ref.score_grid(model, grid)
        results.append(
            measure(
                "NumPy reference",
                lambda: ref.score_grid(model, grid),
                args.slow_repeat,
                warmup=0,
                note="gmmfast.reference, chunked",
            )
        )
    print(table(results, "gmmfast score_grid", output_bytes=ours.nbytes))
    ratio = results[0].median / results[1].median
    print(f"\nscore_grid / log_density_grid = {ratio:.2f} (target ≤ 2)")
    size = np.linalg.norm(ours, axis=-1)
    for name, other in checks.items():
        error = np.linalg.norm(ours - other, axis=-1)
        finite = np.isfinite(error)
        print(
            f"max |gmmfast − {name}| / |score| = "
            f"{np.max(error[finite] / np.maximum(size[finite], 1e-300)):.3g}"
        )


def reverse_part(model, args, method: str, where: str = "unit square") -> None:
    schedule = cosine_schedule(args.steps)
    n = args.n
    print(f"\n## reverse_sample ({method}): {n:,} points × {args.steps} steps, {where}\n")

    def ours():
        return gmmfast.diffusion.reverse_sample(model, schedule, n, method=method, random_state=0)

    samples = ours()
    results = [measure("gmmfast", ours, args.repeat)]
    peer_steps = min(args.peer_steps, args.steps)
    if not args.skip_slow:
        timed = measure(
            "NumPy peer",
            lambda: numpy_reverse_sample(model, schedule, n, method, steps=peer_steps),
            1,
            warmup=0,
        )
        scaled = Result(
            "NumPy peer",
            [t * args.steps / peer_steps for t in timed.times],
            timed.peak_bytes,
            note=f"timed over {peer_steps} steps, scaled to {args.steps}",
        )
        results.append(scaled)
    print(table(results, "gmmfast", output_bytes=samples.nbytes))
    print(f"\ngmmfast: {results[0].median:.2f} s (target < 5 s on 2 cores)")
    if len(results) > 1:
        print(f"peer / gmmfast = {results[1].median / results[0].median:,.1f}× (target ≥ 20×)")
    exact, _ = gmmfast.sample(model, n, random_state=1)
    print(f"mean: reverse {samples.mean(axis=0)}, exact samples {exact.mean(axis=0)}")
    from scipy.stats import chi2_contingency

    counts = np.stack(
        [np.bincount(gmmfast.predict(model, x), minlength=model.n_components) for x in
         (samples, exact)]
    )  # fmt: skip
    counts = counts[:, counts.sum(axis=0) >= 10]  # χ² wants no tiny cells
    print(
        "per-component counts (most responsible component) against exact samples: χ² p = "
        f"{chi2_contingency(counts).pvalue:.3g} (small: the {args.steps}-step sampler's "
        "discretisation shows)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of gmmfast")
    parser.add_argument("--slow-repeat", type=int, default=1, help="runs of the NumPy peers")
    parser.add_argument("--n", type=int, default=100_000, help="points of reverse_sample")
    parser.add_argument("--steps", type=int, default=100, help="steps of reverse_sample")
    parser.add_argument("--peer-steps", type=int, default=5, help="steps the peer is timed on")
    parser.add_argument("--skip-slow", action="store_true", help="skip the NumPy peers")
    args = parser.parse_args()

    model = demo_model("china-bw")
    grid = gmmfast.Grid(model.metadata["width"], model.metadata["height"])
    unit_model, unit_grid = unit_square(model, grid)
    print(f"# exact scores and reverse diffusion: china-bw, K={model.n_components}")
    print(f"machine: {machine()}")
    if not missing("score_grid"):
        score_grid_part("china-bw in pixels", model, grid, args)
        score_grid_part("the unit square at ᾱ = 0.5", unit_model.diffuse(0.5), unit_grid, args)
    if not missing("diffusion.reverse_sample"):
        for method in ("ddpm", "ode"):
            reverse_part(unit_model, args, method)
        # The model as shipped, in pixel coordinates: the strokes stay apart under unit noise
        # until the last steps, so culling keeps few components per point.
        reverse_part(model, args, "ddpm", "the model's own pixel coordinates")


if __name__ == "__main__":
    main()
