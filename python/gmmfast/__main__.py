"""``python -m gmmfast``: the ``gmmfast`` command line."""

from .cli import main

raise SystemExit(main())
