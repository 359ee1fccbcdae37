"""``gmmfast info``: what a model file holds."""

from __future__ import annotations

import json
import os

from .files import load_model
from .messages import HELP_FORMAT, printable
from .models import FEATURE_NAMES, MODE_TEXT, model_mode, source_size


def run(args) -> None:
    from .._io import FORMAT, FORMAT_VERSION

    model = load_model(args.model)
    mode = model_mode(model, args.model)
    names = FEATURE_NAMES.get(mode or "") or tuple(f"feature {i}" for i in range(model.n_features))
    size = source_size(model)
    lines = [
        ("file", f"{args.model} ({os.path.getsize(args.model):,} bytes)"),
        ("format", f"{FORMAT}, version {FORMAT_VERSION}"),
        (
            "mixture",
            f"K={model.n_components} components of {model.n_features} features, "
            f"'{model.covariance_type}' covariances",
        ),
        ("mode", MODE_TEXT.get(mode or "", "unknown (no 'mode' in the metadata)")),
        ("source image", _source_text(model, size)),
        ("weights", f"{model.weights.min():.4g} to {model.weights.max():.4g}"),
    ]
    for name, lo, hi in zip(names, model.means.min(axis=0), model.means.max(axis=0)):
        lines.append((f"means of {name}", f"{lo:.4g} to {hi:.4g}"))
    for key in sorted(model.metadata):
        lines.append((f"metadata {key}", json.dumps(model.metadata[key])))
    # Everything here may come from the file (metadata keys and values, the source name):
    # escaped, so that the file cannot write terminal escapes or forge lines.
    lines = [(printable(label), printable(text)) for label, text in lines]
    width = max(len(label) for label, _ in lines) + 2
    for label, text in lines:
        print(f"{label + ':':<{width}}{text}")


def _source_text(model, size) -> str:
    source = model.metadata.get("source", "unknown")
    return f"{source}, {size[0]}x{size[1]} pixels" if size else f"{source}, size unknown"


def add_parser(commands) -> None:
    """Add ``gmmfast info`` to the sub-parsers ``commands``."""
    info = commands.add_parser(
        "info",
        formatter_class=HELP_FORMAT,
        help="describe a model file",
        description="What a model file holds: the mixture, its mode, source image and metadata.",
        epilog="example:\n  gmmfast info drawing.npz",
    )
    info.add_argument("model", metavar="MODEL.npz", help="a model file")
    info.set_defaults(func=run)
