"""``gmmfast diffuse``: the picture of a model dissolving into noise (a strip of the densities
of the forward process), and optionally an animated GIF of the reverse process bringing it
back, with the exact score of every noised mixture."""

from __future__ import annotations

import os
import time

import numpy as np

from .arguments import MAX_PIXELS, MAX_SIDE, bounded_int, parse_size, seed_type, too_large
from .files import check_output, image_format, load_model, write_image
from .messages import HELP_FORMAT, CommandError, UsageError, ms
from .models import model_mode, render_grid

# Panels of the strip: the model and at least one noised density, at most as many as fit a
# picture of reasonable width.
MAX_PANELS = 64
# Steps of the diffusion: DDPM's T = 1000 is the usual largest.
MAX_TIMESTEPS = 10_000
# Points of the GIF unless --samples says otherwise: a stippled picture at 640 × 427.
DEFAULT_GIF_SAMPLES = 20_000
MAX_GIF_SAMPLES = 10_000_000
DEFAULT_FRAMES = 30
MAX_FRAMES = 1000
# Signal-to-noise ratio ᾱ / (1 − ᾱ) below which a noised picture is indistinguishable from
# the noise: the strip's panels stop there (and end with the schedule's last step).
NOISE_SNR = 0.01


def schedule_of(name: str, timesteps: int) -> np.ndarray:
    """ᾱ_1, …, ᾱ_T of the named schedule of :mod:`gmmfast.diffusion`."""
    from ..diffusion import cosine_schedule, linear_schedule

    return cosine_schedule(timesteps) if name == "cosine" else linear_schedule(timesteps)


def panel_steps(alpha_bars: np.ndarray, panels: int) -> np.ndarray:
    """The steps t (0 = the model, ᾱ_0 = 1) of a strip of ``panels`` pictures: t = 0, then
    steps whose signal-to-noise ratios ᾱ / (1 − ᾱ) are evenly spaced in log from the
    schedule's first step down to :data:`NOISE_SNR` (or the last step, if its ratio is
    higher), and the last step T in place of the lowest. Evenly spaced t would spend most
    panels on noise: the picture is gone within the first few per cent of a schedule, and
    below a ratio of 1/100 every density looks the same. Steps that coincide are drawn once."""
    log_snr = np.log(alpha_bars) - np.log1p(-alpha_bars)
    lowest = max(float(log_snr[-1]), np.log(NOISE_SNR))
    targets = np.linspace(log_snr[0], lowest, panels - 1)[:-1]
    # log SNR falls with t: the step whose value is nearest each target.
    nearest = np.abs(log_snr[np.newaxis, :] - targets[:, np.newaxis]).argmin(axis=1) + 1
    return np.unique(np.concatenate([[0], nearest, [alpha_bars.size]]))


def run(args) -> None:
    from .._diffusion_pictures import diffusion_strip, reverse_gif, unit_square
    from .._files import same_file

    for flag, value in (
        ("--samples", args.samples),
        ("--method", args.method),
        ("--frames", args.frames),
        ("--random-state", args.random_state),
    ):
        if value is not None and args.gif is None:
            raise UsageError(f"{flag} applies to --gif only")
    if args.steps < 2:
        raise UsageError(
            f"--steps must be at least 2 (the model and one noised density), got {args.steps}"
        )
    image_format(args.output)
    check_output(args.output, inputs=(args.model,))
    if args.gif is not None:
        if image_format(args.gif) != "GIF":
            raise UsageError(f"--gif writes a GIF: give a path ending in .gif, got {args.gif}")
        same = os.path.abspath(args.gif) == os.path.abspath(args.output)
        if same or same_file(args.gif, args.output):
            raise UsageError(f"-o and --gif name the same file {args.gif}: give two files")
        check_output(args.gif, inputs=(args.model,))
        # By default 30 frames, or every state of a shorter process.
        frames = min(DEFAULT_FRAMES, args.timesteps + 1) if args.frames is None else args.frames
        if frames < 2:
            raise UsageError(
                f"--frames must be at least 2 (the noise and the samples), got {frames}"
            )
        if frames > args.timesteps + 1:
            raise UsageError(
                f"--frames {frames} is more than the {args.timesteps + 1} states of a process "
                f"of {args.timesteps} steps (--timesteps)"
            )
    model = load_model(args.model)
    mode = model_mode(model, args.model)
    grid = render_grid(model, args.size, args.model, dims=(0, 1), mode=mode)
    schedule = schedule_of(args.schedule, args.timesteps)
    steps = panel_steps(schedule, args.steps)
    alpha_bars = np.concatenate([[1.0], schedule])[steps]
    width = len(steps) * (grid.width + 2) - 2
    if too_large(width, grid.height):
        raise UsageError(
            f"a strip of {len(steps)} panels of {grid.width}x{grid.height} is too large for a "
            f"picture (at most {MAX_SIDE} pixels a side and {MAX_PIXELS} in all): use fewer "
            f"--steps or a smaller --size"
        )
    # Diffusion adds unit noise: the picture is mapped to [-1, 1] (its longer side) first, as
    # DDPM scales images; the panels are still the picture's pixels.
    unit_model, unit_grid = unit_square(model, grid)
    start = time.perf_counter()
    try:
        strip = diffusion_strip(unit_model, unit_grid, alpha_bars)
    except ValueError as exc:  # a density that is zero at every pixel: nothing to tone
        raise CommandError(f"cannot draw the densities of {args.model}: {exc}") from None
    elapsed = time.perf_counter() - start
    write_image(strip, args.output)
    shown = ", ".join(f"{a:.3g}" for a in alpha_bars)
    print(
        f"wrote {args.output}: {len(steps)} densities of the forward process, t = "
        f"{', '.join(map(str, steps))} of a {args.schedule} schedule of {args.timesteps} "
        f"steps (ᾱ = {shown}), K={model.n_components}, {grid.width}x{grid.height} pixels "
        f"each, in {ms(elapsed)}"
    )
    if args.gif is not None:
        n = DEFAULT_GIF_SAMPLES if args.samples is None else args.samples
        method = args.method or "ddpm"
        seed = 0 if args.random_state is None else args.random_state
        start = time.perf_counter()
        try:
            reverse_gif(
                unit_model,
                unit_grid,
                args.gif,
                schedule=schedule,
                n_samples=n,
                method=method,
                random_state=seed,
                frames=frames,
            )
        except OSError as exc:
            raise CommandError(f"cannot write {args.gif}: {exc.strerror or exc}") from None
        except KeyboardInterrupt:
            raise KeyboardInterrupt(f"nothing was written to {args.gif}") from None
        elapsed = time.perf_counter() - start
        print(
            f"wrote {args.gif}: {n:,} samples of the reverse process ({method}, exact score, "
            f"{args.timesteps} steps), {frames} frames, in {ms(elapsed)}"
        )


def add_parser(commands) -> None:
    """Add ``gmmfast diffuse`` to the sub-parsers ``commands``."""
    diffuse = commands.add_parser(
        "diffuse",
        formatter_class=HELP_FORMAT,
        help="watch a model dissolve into noise, and come back (exact diffusion)",
        description=(
            "The forward process of a diffusion model started from a mixture is a mixture in\n"
            "closed form: this draws its density at --steps moments, from the model itself\n"
            "(left) to noise (right), side by side in one picture. The picture's coordinates\n"
            "are scaled to [-1, 1] (its longer side) first, as diffusion models scale images.\n"
            "With --gif, also an animated GIF of the reverse process: points drawn from the\n"
            "noise and moved back step by step with the exact score of every noised mixture\n"
            "(ancestral sampling, or the probability-flow ODE with --method ode), ending as\n"
            "samples of the model. Colour models are drawn over (x, y)."
        ),
        epilog=(
            "examples:\n"
            "  gmmfast diffuse drawing.npz --steps 8 -o strip.png\n"
            "  gmmfast diffuse drawing.npz -o strip.png --gif reverse.gif --samples 50000\n"
            "  gmmfast diffuse photo.npz --schedule linear --timesteps 1000 -o strip.png"
        ),
    )
    diffuse.add_argument("model", metavar="MODEL.npz", help="a model file from 'gmmfast fit'")
    diffuse.add_argument(
        "-o", "--output", required=True, metavar="OUT.png", help="the strip (PNG, ...)"
    )
    diffuse.add_argument(
        "--steps",
        type=bounded_int(MAX_PANELS),
        default=8,
        metavar="N",
        help="pictures in the strip, the model first (default 8); the others at noise levels "
        "evenly spaced in log signal-to-noise ratio, the last at the end of the schedule",
    )
    diffuse.add_argument(
        "--schedule",
        choices=("cosine", "linear"),
        default="cosine",
        help="noise schedule (default: cosine; linear is DDPM's, made for 1000 steps)",
    )
    diffuse.add_argument(
        "--timesteps",
        type=bounded_int(MAX_TIMESTEPS),
        default=100,
        metavar="T",
        help="steps of the diffusion (default 100). More steps give sharper samples in the "
        "GIF: the reverse process ends with a step from the first noise level, which blurs "
        "what is finer than it (about 1 %% of the picture's width with 100 cosine steps, "
        "0.3 %% with 1000)",
    )
    diffuse.add_argument(
        "--size",
        type=parse_size,
        metavar="WxH",
        help="pixels of each picture (default: the source image's size)",
    )
    diffuse.add_argument("--gif", metavar="OUT.gif", help="also write the reverse process")
    diffuse.add_argument(
        "--samples",
        type=bounded_int(MAX_GIF_SAMPLES),
        metavar="N",
        help=f"--gif: points (default {DEFAULT_GIF_SAMPLES:,})",
    )
    diffuse.add_argument(
        "--method",
        choices=("ddpm", "ode"),
        help="--gif: ancestral sampling (ddpm, default) or the probability-flow ODE",
    )
    diffuse.add_argument(
        "--frames",
        type=bounded_int(MAX_FRAMES),
        metavar="N",
        help=f"--gif: frames, at most T + 1 (default {DEFAULT_FRAMES}, or T + 1 if fewer)",
    )
    diffuse.add_argument("--random-state", type=seed_type, metavar="S", help="--gif: seed (0)")
    diffuse.set_defaults(func=run)
