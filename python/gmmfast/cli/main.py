"""The ``gmmfast`` parser, assembled from the commands, and :func:`main`."""

from __future__ import annotations

import argparse
import sys

from .compare import add_parser as add_compare
from .demo import add_parser as add_demo
from .diffuse import add_parser as add_diffuse
from .fit import add_parser as add_fit
from .info import add_parser as add_info
from .messages import HELP_FORMAT, CommandError, Parser, one_line
from .render import add_parser as add_render


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="gmmfast",
        formatter_class=HELP_FORMAT,
        description=(
            "Fit Gaussian mixtures on pictures and render them back, fast and exactly.\n\n"
            "Exit status: 0 success, 1 failure (bad or missing file, K too large, ...),\n"
            "2 usage error. Errors are one line 'gmmfast: error: ...' on stderr."
        ),
        epilog=(
            "examples:\n"
            "  gmmfast demo            # renders of the shipped models, no files needed\n"
            "  gmmfast fit photo.jpg --mode color -k 200 -o photo.npz\n"
            "  gmmfast render photo.npz --method mean -o mean.png\n"
            "  gmmfast diffuse photo.npz --steps 8 -o strip.png --gif reverse.gif\n"
            "  gmmfast info photo.npz\n"
            "  gmmfast compare photo_k500.npz photo_k1000.npz\n\n"
            "'gmmfast COMMAND --help' describes each command."
        ),
    )
    from .._core import __version__

    parser.add_argument("--version", action="version", version=f"gmmfast {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for add_command in (add_demo, add_fit, add_render, add_diffuse, add_info, add_compare):
        add_command(commands)
    return parser


def main(argv=None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error already printed
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
    try:
        args.func(args)
    except CommandError as exc:
        print(f"gmmfast: error: {one_line(exc)}", file=sys.stderr)
        return exc.status
    except MemoryError as exc:
        detail = f": {one_line(exc)}" if str(exc) else ""
        print(f"gmmfast: error: not enough memory{detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        detail = f": {one_line(exc)}" if str(exc) else ""
        print(f"gmmfast: interrupted{detail}", file=sys.stderr)
        return 130
    return 0
