"""Run scikit-learn's own mixture tests with and without gmmfast routed in, and compare.

    python tests/sklearn_suite/run.py [--float32-only | --float64-only]

For float64 and for float32 (``SKLEARN_RUN_FLOAT32_TESTS=1``), runs
``sklearn/mixture/tests`` from the installed scikit-learn, unmodified, once as it is and then
with each plugin:

* ``gmmfast_routing``: ``score_samples``, ``score``, ``predict``, ``predict_proba`` and
  ``sample`` of scikit-learn's estimators routed to gmmfast, ``fit`` untouched;
* ``gmmfast_estimator``: ``sklearn.mixture.GaussianMixture`` replaced by
  ``gmmfast.GaussianMixture`` (EM in gmmfast too);

then prints the counts and every test that passes unpatched but not patched. Exits 1 if there
is any, but for those listed below with the reason.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Tests that pass unpatched and fail patched by chance, not by a difference in what is computed.
# test_sample fits four models from one RandomState and samples from each in between; gmmfast's
# sample() takes one number from that RandomState where scikit-learn's takes thousands, so the
# later fits start elsewhere. The 'diag' model then has a component of weight 0.086 whose
# variance (2.51) the test checks to ±0.15 from 1,717 samples: a 1.8-sigma margin. Sampling that
# same model with 300 seeds fails the test's assertion 32 times with scikit-learn's own sampler
# and 23 times with gmmfast's (measured 2026-12-03).
BY_CHANCE = {
    "test_gaussian_mixture::test_sample": (
        "statistical check at 1.8 sigma on a model fitted after a different RandomState use"
    ),
}


# Tests of scikit-learn's implementation rather than of what the estimator computes, which
# pass with scikit-learn's class and cannot with gmmfast's (with the estimator plugin only).
IMPLEMENTATION = {
    "test_gaussian_mixture::test_gaussian_mixture_all_init_does_not_estimate_gaussian_parameters": (
        "counts calls of scikit-learn's private _estimate_gaussian_parameters, which gmmfast's "
        "M-step replaces (what the test guards, no estimate at initialisation, holds)"
    ),
}


# Each plugin, with the tests allowed to pass unpatched only (and why).
PLUGINS = {
    "gmmfast_routing": BY_CHANCE,
    "gmmfast_estimator": {**BY_CHANCE, **IMPLEMENTATION},
}


def outcomes(xml_path: Path) -> dict:
    """{test id: 'passed' | 'failed' | 'skipped'} from a JUnit XML report."""
    result = {}
    for case in ET.parse(xml_path).iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            result[name] = "failed"
        elif case.find("skipped") is not None:
            result[name] = "skipped"
        else:
            result[name] = "passed"
    return result


def run_suite(plugin: str | None, float32: bool, workdir: Path) -> dict:
    tag = f"{plugin or 'plain'}-{'float32' if float32 else 'float64'}"
    xml_path = workdir / f"{tag}.xml"
    env = dict(os.environ)
    env["SKLEARN_RUN_FLOAT32_TESTS"] = "1" if float32 else "0"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["-p", plugin] if plugin else []
    command += ["--pyargs", "sklearn.mixture.tests", f"--junitxml={xml_path}"]
    # From a scratch directory: gmmfast's own pytest settings (warnings as errors) stay out.
    completed = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    if not xml_path.exists():
        sys.exit(f"{tag}: pytest produced no report:\n{completed.stdout}\n{completed.stderr}")
    return outcomes(xml_path)


def count(result: dict) -> str:
    values = list(result.values())
    return ", ".join(f"{values.count(k)} {k}" for k in ("passed", "failed", "skipped"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--float32-only", action="store_true")
    only.add_argument("--float64-only", action="store_true")
    args = parser.parse_args(argv)
    modes = [False, True]
    if args.float32_only:
        modes = [True]
    elif args.float64_only:
        modes = [False]
    regressions = []
    with tempfile.TemporaryDirectory() as tmp:
        for float32 in modes:
            label = "float32 (SKLEARN_RUN_FLOAT32_TESTS=1)" if float32 else "float64"
            plain = run_suite(None, float32, Path(tmp))
            print(f"{label}: unpatched {count(plain)}")
            for test in sorted(t for t, o in plain.items() if o == "failed"):
                print(f"  fails unpatched too: {test}")
            for plugin, allowed in PLUGINS.items():
                patched = run_suite(plugin, float32, Path(tmp))
                print(f"{label}, {plugin}: {count(patched)}")
                lost = sorted(
                    t for t, o in plain.items() if o == "passed" and patched.get(t) != "passed"
                )
                for test in lost:
                    reason = allowed.get(test.split("[")[0])
                    if reason:
                        print(f"  passes unpatched, not patched: {test} ({reason})")
                    else:
                        print(f"  passes unpatched, not patched: {test}")
                        regressions.append(f"{plugin}: {test}")
                if sum(o == "passed" for o in patched.values()) == 0:
                    regressions.append(f"{label}, {plugin}: no test passed")
    print("scikit-learn mixture suite:", "REGRESSIONS" if regressions else "no regressions")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
