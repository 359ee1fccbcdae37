"""The ``gmmfast`` command line (also ``python -m gmmfast``).

    gmmfast demo [--out DIR] [--refit]
    gmmfast fit IMAGE --mode bw|color -k N [...] -o MODEL.npz
    gmmfast render MODEL.npz --method density|contour|samples|mean|labels [...] -o OUT.png
    gmmfast render MODEL.npz --method density|labels|mean --zarr PATH [--chunks N]
    gmmfast diffuse MODEL.npz [--steps N] -o STRIP.png [--gif REVERSE.gif] [...]
    gmmfast info MODEL.npz
    gmmfast compare A.npz B.npz [--samples N] [--seed S]

Exit status: 0 on success; 1 when a command fails on its inputs (a missing or unreadable file,
an image where a model file is expected or the reverse, a model file that is truncated, foreign
or tampered with, K larger than the number of points, a file that cannot be written, not
enough memory); 2 for a usage error (unknown option, a bad value such as ``--size 0x5``, an
option that does not apply to the chosen method); 130 when interrupted. Every such error is one
line ``gmmfast: error: ...`` on stderr, without a traceback; anything else is a bug and keeps
its traceback.

Files: inputs are read only if they are regular files (a FIFO or a device is refused, never
waited on); every output is written to a temporary file beside it and renamed into place
(``gmmfast._files``), so a failed or interrupted command leaves the user's files as they were;
an output that names an input is refused. Text printed from a file has its control characters
escaped.

Layout: :mod:`.main` assembles the sub-commands; each command is a module with
``add_parser(commands)`` and ``run(args)`` (:mod:`.demo`, :mod:`.fit`, :mod:`.render`,
:mod:`.diffuse`, :mod:`.info`, :mod:`.compare`); :mod:`.arguments` holds the argument types,
:mod:`.files` the files in and out with their one-line errors, :mod:`.models` what a model file
says about its picture, and :mod:`.messages` the errors and how they are printed.
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
