"""``gmmfast demo``: the shipped models rendered by the render methods, as a table."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._grid import Grid
from .files import write_image
from .messages import HELP_FORMAT, CommandError, ms
from .models import model_mode, source_size
from .render import DEFAULT_SAMPLES, METHOD_OPTIONS, METHODS, matplotlib_available


class Tile(NamedTuple):
    """One picture of the demo: ``method`` is a render method of :data:`.render.METHODS`
    (with ``options`` as its command-line options) applied to demo model ``model``, or
    ``"picture"`` for the training picture of that model."""

    filename: str
    label: str  # under the tile in the contact sheet
    model: str
    method: str
    options: dict = {}  # noqa: RUF012 (a NamedTuple default, never mutated)


def tiles(have_matplotlib: bool) -> list:
    """The demo's pictures, in the contact sheet's order: two rows of five, the
    black-and-white workload, then the colour one (with the colour density image of the
    drawing, which fills the row)."""
    n_bw, n_color = DEFAULT_SAMPLES["bw"], DEFAULT_SAMPLES["color"]
    china, flower = "china-bw", "flower-color"
    if have_matplotlib:
        coloured = Tile(
            "china_density_magma.png",
            "china density, log, magma",
            china,
            "density",
            {"mapping": "log", "colormap": "magma"},
        )
    else:
        coloured = Tile(
            "china_density_log.png",
            "china density, log mapping",
            china,
            "density",
            {"mapping": "log"},
        )
    return [
        Tile("china_edges.png", "china.jpg as a line drawing", china, "picture"),
        Tile(
            "china_density_linear.png",
            "density, linear mapping",
            china,
            "density",
            {"mapping": "linear"},
        ),
        Tile(
            "china_density_piecewise.png",
            "density, piecewise mapping",
            china,
            "density",
            {"mapping": "piecewise"},
        ),
        Tile("china_contour.png", "log-density contours", china, "contour"),
        Tile("china_samples.png", f"{n_bw:,} samples", china, "samples"),
        Tile("flower.png", "flower.jpg", flower, "picture"),
        Tile("flower_mean.png", "E[r, g, b | x, y]", flower, "mean"),
        # Filled: about 6 % of the pixels get no sample, and white speckles over the dark
        # leaves do not look like the picture (render --background white shows them).
        Tile(
            "flower_samples.png",
            f"{n_color:,} samples, mean colour",
            flower,
            "samples",
            {"background": "fill"},
        ),
        Tile("flower_labels.png", "labels: most responsible component", flower, "labels"),
        coloured,
    ]


def _render_options(method: str, options: dict, random_state: int) -> argparse.Namespace:
    """The namespace a render method reads, as ``gmmfast render`` would parse it."""
    values: dict[str, object] = dict.fromkeys(METHOD_OPTIONS)
    values.update(model="the demo model", dims=(0, 1), rtol=0.0, method=method)
    if method == "samples":
        values["random_state"] = random_state
    values.update(options)
    return argparse.Namespace(**values)


def _load_models(refit: bool) -> dict:
    from .. import datasets

    models = {}
    for name in ("china-bw", "flower-color"):
        spec = datasets.DEMO_MODELS[name]
        if refit:
            print(
                f"refitting {name}: K={spec['n_components']} on {spec['image']} "
                f"(seconds; progress on stderr)",
                flush=True,
            )
            start = time.perf_counter()
            models[name] = datasets.fit_demo_model(name, progress=True)
            print(f"  refitted {name} in {time.perf_counter() - start:.1f} s", flush=True)
        else:
            models[name] = datasets.demo_model(name)
    return models


INTRODUCTIONS = {
    "china-bw": "full covariances over (x, y) of the dark pixels of the line drawing of china.jpg",
    "flower-color": "full covariances over (x, y, r, g, b) of flower.jpg",
}


DIFFUSION_FILE = "china_diffusion.png"
# The strip's panels: as many as the contact sheet's columns, and gaps twice the sheet's
# margin, so that at half size (320-pixel panels) they line up with the tiles above.
DIFFUSION_PANELS, DIFFUSION_GAP = 5, 16


def diffusion_strip(model) -> tuple:
    """(the demo's strip of the forward process of ``model`` on its picture, what it shows,
    the steps t of its panels):
    :data:`DIFFUSION_PANELS` densities from the model to noise, as ``gmmfast diffuse``
    chooses them on a cosine schedule of 100 steps."""
    from ..image import diffusion_strip, unit_square
    from .diffuse import panel_steps, schedule_of

    size = source_size(model)
    if size is None:  # pragma: no cover - the shipped models record their picture's size
        raise CommandError("the demo model china-bw does not record its picture's size")
    grid = Grid(*size)
    schedule = schedule_of("cosine", 100)
    steps = panel_steps(schedule, DIFFUSION_PANELS)
    alpha_bars = np.concatenate([[1.0], schedule])[steps]
    unit_model, unit_grid = unit_square(model, grid)
    strip = diffusion_strip(unit_model, unit_grid, alpha_bars, gap=DIFFUSION_GAP)
    shown = ", ".join(f"{a:.3g}" for a in alpha_bars)
    return strip, f"densities of the forward process at ᾱ = {shown} (exact)", steps


def below(sheet: np.ndarray, picture: np.ndarray, label: str) -> np.ndarray:
    """``sheet`` (a :func:`contact_sheet`) with ``picture`` resized to its full width (inside
    the margins) and a label under it added at the bottom, in the sheet's layout."""
    from PIL import Image, ImageDraw, ImageFont

    margin, text_height = 8, 18  # contact_sheet's
    width = sheet.shape[1] - 2 * margin
    image = Image.fromarray(picture).convert("RGB")
    height = max(1, round(image.height * width / image.width))
    lanczos = getattr(Image, "Resampling", Image).LANCZOS
    image = image.resize((width, height), lanczos)
    out = Image.new(
        "RGB", (sheet.shape[1], sheet.shape[0] + height + text_height + margin), "white"
    )
    out.paste(Image.fromarray(sheet), (0, 0))
    top = sheet.shape[0]
    out.paste(image, (margin, top))
    ImageDraw.Draw(out).text(
        (margin, top + height + 3), label, fill=(0, 0, 0), font=ImageFont.load_default()
    )
    return np.asarray(out)


def run(args) -> None:
    from .. import datasets
    from ..image import contact_sheet

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create {out}: {exc.strerror or exc}") from None
    begin = time.perf_counter()
    models = _load_models(args.refit)
    source = "refitted now" if args.refit else "shipped with gmmfast"
    print(f"gmmfast demo: writing to {out}/ (models {source})")
    pictures = {"china-bw": datasets.china_edges, "flower-color": datasets.flower}
    introduced = set()
    done: list = []  # (pixels, label) per tile, for the contact sheet
    for tile in tiles(matplotlib_available()):
        model = models[tile.model]
        size = source_size(model)
        if size is None:  # pragma: no cover - the shipped models record their picture's size
            raise CommandError(f"the demo model {tile.model} does not record its picture's size")
        grid = Grid(*size)
        if tile.model not in introduced:
            introduced.add(tile.model)
            print(
                f"{tile.model}: K={model.n_components} {INTRODUCTIONS[tile.model]}, "
                f"{grid.width}x{grid.height} pixels"
            )
        start = time.perf_counter()
        if tile.method == "picture":
            pixels, what = pictures[tile.model](), "training image"
        else:
            options = _render_options(tile.method, tile.options, random_state=0)
            rendered = METHODS[tile.method](model, model_mode(model, tile.model), grid, options)
            pixels, what = rendered.image, rendered.description
        elapsed = time.perf_counter() - start
        write_image(pixels, out / tile.filename)
        done.append((pixels, tile.label))
        print(f"  {ms(elapsed):>8}  {out / tile.filename}  {what}", flush=True)

    start = time.perf_counter()
    strip, what, steps = diffusion_strip(models["china-bw"])
    write_image(strip, out / DIFFUSION_FILE)
    print(f"  {ms(time.perf_counter() - start):>8}  {out / DIFFUSION_FILE}  {what}", flush=True)

    start = time.perf_counter()
    sheet = contact_sheet([p for p, _ in done], [label for _, label in done], columns=5)
    # Pillow's default font has no ᾱ: the label names the steps instead.
    label = (
        "china dissolving into noise: exact densities of a diffusion's forward process at "
        f"t = {', '.join(map(str, steps))} of 100 (cosine schedule)"
    )
    sheet = below(sheet, strip, label)
    write_image(sheet, out / "contact_sheet.png")
    print(f"  {ms(time.perf_counter() - start):>8}  {out / 'contact_sheet.png'}  contact sheet")
    print(f"done in {time.perf_counter() - begin:.1f} s: {len(done) + 2} files in {out}/")


def add_parser(commands) -> None:
    """Add ``gmmfast demo`` to the sub-parsers ``commands``."""
    demo = commands.add_parser(
        "demo",
        formatter_class=HELP_FORMAT,
        help="render the shipped demo models (no files of yours needed)",
        description=(
            "The main job on scikit-learn's bundled sample images: china.jpg as a black-and-\n"
            "white line drawing (K=500) and flower.jpg in colour (K=1000), with the models\n"
            "fitted on them that ship inside gmmfast. Writes the training images, density\n"
            "images (linear and piecewise mappings), a contour plot (matplotlib's if it is\n"
            "installed, else a raster one), sample images, the conditional-mean colour image,\n"
            "the components' labels, the drawing dissolving into noise (the exact densities of\n"
            "a diffusion's forward process) and contact_sheet.png with all of them, and\n"
            "prints how long each render took. A few seconds on two cores."
        ),
        epilog="examples:\n  gmmfast demo\n  gmmfast demo --out /tmp/demo --refit",
    )
    demo.add_argument(
        "--out",
        default="gmmfast-demo",
        metavar="DIR",
        help="output directory, created if needed (default: ./gmmfast-demo)",
    )
    demo.add_argument(
        "--refit",
        action="store_true",
        help="fit both models anew with scikit-learn first, showing EM progress: slow "
        "(seconds on two cores: K=500 on 22k points, K=1000 on 50k; scikit-learn's EM: minutes)",
    )
    demo.set_defaults(func=run)
