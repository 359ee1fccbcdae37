"""``gmmfast compare``: a table of every measure between two model files."""

import subprocess
import sys

import pytest

import gmmfast
from gmmfast import cli, metrics


def call(argv, capsys) -> tuple:
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    path = tmp_path_factory.mktemp("compare")
    a = gmmfast.Mixture([0.4, 0.6], [[0.0, 0.0], [4.0, 1.0]], [1.0, 2.0], "spherical")
    b = gmmfast.Mixture([0.5, 0.5], [[0.5, 0.0], [3.0, 2.0]], [[1.0, 0.5], [1.5, 1.0]], "diag")
    one = gmmfast.Mixture([1.0], [[0.0]], [[[1.0]]])
    gmmfast.save(a, path / "a.npz")
    gmmfast.save(b, path / "b.npz")
    gmmfast.save(one, path / "one.npz")
    return path, a, b


def rows(out: str) -> dict:
    """{measure: (value, std. error, method)} from the printed table."""
    table = {}
    for line in out.splitlines()[1:]:
        if not line.strip():
            break
        *label, value, error, method = line.split()
        table[" ".join(label)] = (float(value), float(error), method)
    return table


def test_compare_prints_every_measure_with_its_error(models):
    path, a, b = models
    result = subprocess.run(
        [sys.executable, "-m", "gmmfast", "compare", "a.npz", "b.npz", "--samples", "5000"],
        cwd=path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.split()[:4] == ["measure", "value", "std.", "error"]
    table = rows(result.stdout)
    assert len(table) == 12
    kl = metrics.kl_divergence(a, b, n_samples=5000, random_state=0)
    assert table["KL(A || B)"] == (
        float(f"{kl.value:.6g}"),
        float(f"{kl.std_error:.6g}"),
        kl.method,
    )
    js = metrics.js_divergence(b, a, n_samples=5000, random_state=0)
    assert table["Jensen-Shannon (nats)"][0] == float(f"{js.value:.6g}")
    cs = metrics.cauchy_schwarz_divergence(a, b)
    assert table["Cauchy-Schwarz divergence"] == (float(f"{cs.value:.6g}"), 0.0, "closed-form")
    assert all(error >= 0 for _, error, _ in table.values())
    assert "5,000 samples per Monte Carlo measure, seed 0" in result.stdout


def test_compare_is_reproducible_and_seeded(models, capsys):
    path, _, _ = models
    argv = ["compare", path / "a.npz", path / "b.npz", "--samples", "2000"]
    first, second = call(argv, capsys), call(argv, capsys)
    assert first[0] == 0 and rows(first[1]) == rows(second[1])
    other = call([*argv, "--seed", "7"], capsys)
    assert rows(other[1])["KL(A || B)"] != rows(first[1])["KL(A || B)"]
    same = rows(call(["compare", path / "a.npz", path / "a.npz"], capsys)[1])
    for label, (value, _, _) in same.items():
        if "entropy" not in label:
            assert value == 0.0, label
    assert same["cross-entropy H(A, B)"] == same["entropy H(A)"]


@pytest.mark.parametrize(
    ("extra", "status", "match"),
    [
        (["one.npz"], 1, "has 2 features but"),
        (["missing.npz"], 1, "no such file"),
        (["b.npz", "--samples", "0"], 2, "--samples"),
        (["b.npz", "--seed", "-1"], 2, "--seed"),
    ],
)
def test_compare_errors_are_one_line(models, capsys, extra, status, match):
    path, _, _ = models
    argv = ["compare", path / "a.npz", *[path / e if e.endswith(".npz") else e for e in extra]]
    code, _, err = call(argv, capsys)
    assert code == status, err
    assert err.count("\n") == 1 and err.startswith("gmmfast: error: ") and match in err, err
