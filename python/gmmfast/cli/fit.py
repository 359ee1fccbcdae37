"""``gmmfast fit``: a mixture fitted on a picture, saved as a model file."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

from .arguments import positive_int, rtol_type, seed_type, threshold_type
from .files import check_output, read_image
from .messages import HELP_FORMAT, CommandError, UsageError, printable
from .models import FEATURE_NAMES


def run(args) -> None:
    from .._io import save
    from ..image import bw_points, color_points, fit

    if args.threshold is not None and args.mode != "bw":
        raise UsageError("--threshold applies to --mode bw only")
    if args.weights == "ink" and args.mode != "bw":
        raise UsageError("--weights ink applies to --mode bw only")
    if args.weights == "ink" and args.threshold is not None:
        raise UsageError("--weights ink uses every non-white pixel: give no --threshold")
    check_output(args.output, inputs=(args.image,))
    image = read_image(args.image)
    height, width = image.shape[:2]
    threshold = 128.0 if args.threshold is None else args.threshold
    weights = None
    if args.mode == "bw":
        try:
            if args.weights == "ink":
                points, weights = bw_points(image, scale=255, weights=True)
            else:
                points = bw_points(image, threshold, scale=255)
        except ValueError as exc:
            raise CommandError(f"{args.image}: {exc}") from None
    else:
        points = color_points(image, scale=255)
    n_points = len(points)
    if args.subsample is not None and args.subsample < n_points:
        rng = np.random.default_rng(args.random_state)
        chosen = rng.choice(n_points, args.subsample, replace=False)
        points = points[chosen]
        weights = None if weights is None else weights[chosen]
    what = "dark pixels" if args.mode == "bw" else "pixels"
    if len(points) < 2:  # scikit-learn's EM needs two points, whatever K
        raise CommandError(
            f"{args.image} has only {len(points)} {what[:-1]}"
            + (" after --subsample" if len(points) < n_points else "")
            + ": a mixture is fitted on at least 2 training points"
        )
    if args.k > len(points):
        raise CommandError(
            f"-k {args.k} is larger than the number of training points: {args.image} has "
            f"{len(points)} {what}" + (" after --subsample" if len(points) < n_points else "")
        )
    progress = {True: True, False: False, None: "auto"}[args.progress]
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            estimator = fit(
                points,
                args.k,
                args.covariance_type,
                max_iter=args.max_iter,
                random_state=args.random_state,
                progress=progress,
                sample_weight=weights,
                rtol=args.rtol,
            )
        except ValueError as exc:  # scikit-learn on these points, e.g. ill-defined covariances
            raise CommandError(f"cannot fit {args.image}: {exc}") from None
    elapsed = time.perf_counter() - start
    for warning in caught:
        _warn_fit(warning, args)
    metadata = {
        "mode": args.mode,
        "width": width,
        "height": height,
        "source": os.path.basename(args.image),
        "n_training_points": len(points),
        "converged": bool(estimator.converged_),
        "n_iter": int(estimator.n_iter_),
    }
    if args.mode == "bw" and weights is None:
        metadata["threshold"] = threshold
    if weights is not None:
        metadata["weights"] = "ink"
    try:
        save(estimator, args.output, **metadata)
    except OSError as exc:
        raise CommandError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    verdict = "converged" if estimator.converged_ else "did not converge"
    print(
        f"wrote {args.output}: K={args.k} {args.covariance_type}-covariance components fitted "
        f"on {len(points)} points ({', '.join(FEATURE_NAMES[args.mode])}) of {args.image} "
        f"({width}x{height}) in {elapsed:.1f} s; {verdict} after {estimator.n_iter_} EM "
        f"iterations, lower bound {estimator.lower_bound_:.4f}"
    )


def _warn_fit(warning, args) -> None:
    from sklearn.exceptions import ConvergenceWarning

    message = " ".join(str(warning.message).split())
    if issubclass(warning.category, ConvergenceWarning) and "did not converge" in message:
        message = f"EM did not converge in {args.max_iter} iterations (raise --max-iter)"
    print(f"gmmfast: warning: {printable(message)}", file=sys.stderr)


def add_parser(commands) -> None:
    """Add ``gmmfast fit`` to the sub-parsers ``commands``."""
    fit = commands.add_parser(
        "fit",
        formatter_class=HELP_FORMAT,
        help="fit a mixture on a picture and save it as a model file",
        description=(
            "Fit a Gaussian mixture on a picture (scikit-learn's EM, run by gmmfast) and save\n"
            "it (.npz, read without pickle). --mode bw fits (x, y) of the dark pixels (grey\n"
            "level below --threshold), or with --weights ink every non-white pixel weighted\n"
            "by its darkness; --mode color fits (x, y, r, g, b) of every pixel; x is the\n"
            "column, y the row. The file records the mode and the picture's size, so\n"
            "'gmmfast render' knows what to draw and at what size. EM progress (iteration,\n"
            "lower bound, change, time per iteration) is shown on a terminal."
        ),
        epilog=(
            "examples:\n"
            "  gmmfast fit drawing.png --mode bw -k 500 -o drawing.npz\n"
            "  gmmfast fit sketch.png --mode bw --weights ink -k 300 -o sketch.npz\n"
            "  gmmfast fit photo.jpg --mode color -k 1000 --subsample 50000 -o photo.npz"
        ),
    )
    fit.add_argument("image", metavar="IMAGE", help="the picture (PNG, JPEG, ...)")
    fit.add_argument("--mode", required=True, choices=("bw", "color"), help="training points")
    fit.add_argument("-k", required=True, type=positive_int, metavar="N", help="components")
    fit.add_argument("-o", "--output", required=True, metavar="MODEL.npz", help="model file")
    fit.add_argument(
        "--threshold",
        type=threshold_type,
        metavar="T",
        help="bw: pixels with grey level below T are dark (default: 128)",
    )
    fit.add_argument(
        "--covariance-type",
        choices=("full", "tied", "diag", "spherical"),
        default="full",
        help="scikit-learn's covariance_type (default: full)",
    )
    fit.add_argument(
        "--max-iter", type=positive_int, default=100, metavar="N", help="EM iterations (100)"
    )
    fit.add_argument(
        "--random-state",
        type=seed_type,
        default=0,
        metavar="S",
        help="seed of the k-means initialisation and of --subsample (default: 0, so the "
        "same command gives the same model)",
    )
    fit.add_argument(
        "--subsample",
        type=positive_int,
        metavar="N",
        help="fit on N points drawn at random without replacement (large colour pictures)",
    )
    fit.add_argument(
        "--weights",
        choices=("none", "ink"),
        default="none",
        help="bw: 'ink' weighs every non-white pixel by its darkness instead of keeping "
        "those below --threshold (default: none)",
    )
    fit.add_argument(
        "--rtol",
        type=rtol_type,
        default=0.0,
        metavar="R",
        help="certified truncated E-step: each point drops at most R of its responsibility "
        "(default: 0, exact EM)",
    )
    fit.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show EM iterations on stderr (default: only on a terminal)",
    )
    fit.set_defaults(func=run)
