"""``gmmfast compare``: how far apart two model files are, every measure with its error."""

from __future__ import annotations

import time
from typing import Any

from .arguments import MAX_SAMPLES, bounded_int, seed_type
from .files import load_model
from .messages import HELP_FORMAT, CommandError, ms, printable

DEFAULT_SAMPLES = 100_000


def _measures(a, b, n: int, seed: int) -> list:
    """[(label, Estimate)] of every measure of :mod:`gmmfast.metrics` between ``a`` and ``b``.
    Each Monte Carlo measure uses the same seed (reproducible, and the symmetric ones sample
    the same points of (A + B)/2)."""
    from .. import metrics

    mc: dict[str, Any] = {"n_samples": n, "random_state": seed}
    return [
        ("KL(A || B)", metrics.kl_divergence(a, b, **mc)),
        ("KL(B || A)", metrics.kl_divergence(b, a, **mc)),
        ("KL(A || B), variational approx.", metrics.kl_divergence(a, b, method="variational")),
        ("Jensen-Shannon (nats)", metrics.js_divergence(a, b, **mc)),
        ("Hellinger", metrics.hellinger_distance(a, b, **mc)),
        ("total variation", metrics.total_variation_distance(a, b, **mc)),
        ("cross-entropy H(A, B)", metrics.cross_entropy(a, b, **mc)),
        ("cross-entropy H(B, A)", metrics.cross_entropy(b, a, **mc)),
        ("entropy H(A)", metrics.entropy(a, **mc)),
        ("entropy H(B)", metrics.entropy(b, **mc)),
        ("L2 distance, integral of (a - b)^2", metrics.l2_distance(a, b)),
        ("Cauchy-Schwarz divergence", metrics.cauchy_schwarz_divergence(a, b)),
    ]


def _number(value: float) -> str:
    return f"{value:.6g}"


def run(args) -> None:
    a, b = load_model(args.a), load_model(args.b)
    if a.n_features != b.n_features:
        raise CommandError(
            f"{printable(args.a)} has {a.n_features} features but {printable(args.b)} has "
            f"{b.n_features}: only "
            "models of the same features can be compared"
        )
    start = time.perf_counter()
    rows = [
        (label, _number(e.value), _number(e.std_error), e.method)
        for label, e in _measures(a, b, args.samples, args.seed)
    ]
    header = ("measure", "value", "std. error", "method")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}")
    print(
        f"\nA = {printable(args.a)} (K={a.n_components}), B = {printable(args.b)} "
        f"(K={b.n_components}), "
        f"{a.n_features} features; {args.samples:,} samples per Monte Carlo measure, seed "
        f"{args.seed}; logarithms natural (nats); {ms(time.perf_counter() - start)}"
    )


def add_parser(commands) -> None:
    """Add ``gmmfast compare`` to the sub-parsers ``commands``."""
    compare = commands.add_parser(
        "compare",
        formatter_class=HELP_FORMAT,
        help="how far apart two models are (KL, JS, Hellinger, TV, entropies, ...)",
        description=(
            "Every measure of gmmfast.metrics between two model files of the same features,\n"
            "with its standard error: Monte Carlo estimates (stratified by component) and\n"
            "closed forms (standard error 0). Logarithms are natural (nats)."
        ),
        epilog="example:\n  gmmfast compare photo_k500.npz photo_k1000.npz --samples 1000000",
    )
    compare.add_argument("a", metavar="A.npz", help="a model file")
    compare.add_argument("b", metavar="B.npz", help="another model file, of the same features")
    compare.add_argument(
        "--samples",
        type=bounded_int(MAX_SAMPLES),
        default=DEFAULT_SAMPLES,
        metavar="N",
        help=f"samples per Monte Carlo measure (default {DEFAULT_SAMPLES:,})",
    )
    compare.add_argument(
        "--seed",
        type=seed_type,
        default=0,
        metavar="S",
        help="seed of the samples, in [0, 2**32) (default 0: the same table on every run)",
    )
    compare.set_defaults(func=run)
