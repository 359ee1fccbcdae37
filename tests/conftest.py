"""Test configuration: Hypothesis profiles, selected by GMMFAST_HYPOTHESIS_PROFILE.

* ``ci`` (default): random exploration, no deadline (shared CI machines are noisy).
* ``deterministic``: the same examples on every run (``derandomize=True``), for bisecting.
* ``thorough``: ten times more examples, for a long local run before a release.
"""

import os
import sys

import pytest
from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
}
settings.register_profile("ci", max_examples=60, **_COMMON)
settings.register_profile(
    "deterministic", max_examples=60, derandomize=True, database=None, **_COMMON
)
settings.register_profile("thorough", max_examples=600, **_COMMON)
settings.load_profile(os.environ.get("GMMFAST_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def no_matplotlib(monkeypatch):
    """Make every ``import matplotlib...`` fail, as without the optional extra ``plot``."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
