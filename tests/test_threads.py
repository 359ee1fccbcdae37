"""Threading: bitwise determinism across thread counts, the GIL released, fork safety."""

import multiprocessing
import sys
import textwrap
import threading

import _subprocess
import numpy as np
import pytest

import gmmfast
from gmmfast import _core

SCRIPT = textwrap.dedent(
    """
    import hashlib, numpy as np, gmmfast
    from gmmfast import _core
    rng = np.random.default_rng(7)
    k = 200
    means = rng.uniform(0, 300, size=(k, 2))
    a = rng.normal(size=(k, 2, 2)) * 3
    covs = a @ a.transpose(0, 2, 1) + 0.5 * np.eye(2)
    m = gmmfast.Mixture(np.full(k, 1 / k), means, covs)
    grid = gmmfast.Grid(301, 157, (-20, 320), (320, -20))
    X = rng.uniform(-50, 350, size=(5000, 2))
    # 5-D points in several blocks of the point driver's tree, exact and with rtol.
    a5 = rng.normal(size=(k, 5, 5))
    m5 = gmmfast.Mixture(np.full(k, 1 / k), rng.uniform(0, 50, size=(k, 5)),
                         a5 @ a5.transpose(0, 2, 1) + 0.5 * np.eye(5))
    X5 = gmmfast.sample(m5, 20000, random_state=3)[0]
    h = hashlib.sha256()
    for out in (gmmfast.log_density_grid(m, grid), gmmfast.label_grid(m, grid),
                gmmfast.score_samples(m, X), gmmfast.predict_proba(m, X), gmmfast.predict(m, X),
                gmmfast.score_samples(m5, X5), gmmfast.score_samples(m5, X5, rtol=1e-6),
                gmmfast.predict_proba(m5, X5, rtol=1e-3),
                gmmfast.conditional_mean(m5, X5[:, :2], return_std=True, rtol=1e-3)[1]):
        h.update(np.ascontiguousarray(out).tobytes())
    # EM: the E-step's sums are merged in the tree's order, whatever the threads.
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = gmmfast.GaussianMixture(20, random_state=0, max_iter=5, tol=0).fit(X5)
    for out in (fit.means_, fit.covariances_, np.array(fit.lower_bounds_)):
        h.update(np.ascontiguousarray(out).tobytes())
    print(_core.num_threads(), h.hexdigest())
    """
)


def run_with_threads(n: int) -> list:
    return _subprocess.run_with_threads(SCRIPT, n)


def test_results_are_bitwise_identical_for_any_thread_count():
    one, two, three = run_with_threads(1), run_with_threads(2), run_with_threads(3)
    assert [one[0], two[0], three[0]] == ["1", "2", "3"]  # the setting took effect
    assert one[1] == two[1] == three[1]


def test_the_gil_is_released_while_a_kernel_runs():
    """A Python thread keeps running while another thread renders a large grid."""
    rng = np.random.default_rng(0)
    k = 300
    m = gmmfast.Mixture(np.full(k, 1 / k), rng.uniform(0, 100, (k, 2)), np.ones(k), "spherical")
    grid = gmmfast.Grid(1500, 1500, (0, 100), (0, 100))
    done = threading.Event()
    ticks = 0

    def render():
        gmmfast.log_density_grid(m, grid)
        done.set()

    worker = threading.Thread(target=render)
    worker.start()
    while not done.is_set():
        ticks += 1
    worker.join()
    # With the GIL held for the whole render, this loop could only run before and after it.
    assert ticks > 1000


def _child(queue):
    m = gmmfast.Mixture([1.0], [[0.0, 0.0]], [1.0], "spherical")
    queue.put(float(gmmfast.score_samples(m, [[0.0, 0.0]])[0]))


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
# Python >= 3.12 warns that forking a multi-threaded process is risky: that risk is the test.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_kernels_work_in_a_forked_child_after_the_parent_used_them():
    m = gmmfast.Mixture([1.0], [[0.0, 0.0]], [1.0], "spherical")
    gmmfast.score_samples(m, np.zeros((10_000, 2)))  # the parent's pool is up
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive, "the forked child hung in the kernel"
    assert child.exitcode == 0
    assert queue.get(timeout=5) == pytest.approx(-np.log(2 * np.pi))


def test_num_threads_is_positive():
    assert _core.num_threads() >= 1


def test_an_absurd_thread_count_is_capped_and_the_pool_built_once():
    """RAYON_NUM_THREADS=100000 used to spawn threads until the system refused, on every call
    (about 40 s each); now the count is capped and the pool is built at the first call only."""
    script = textwrap.dedent(
        """
        import time, numpy as np, gmmfast
        from gmmfast import _core
        m = gmmfast.Mixture([1.0], [[0.0, 0.0]], [1.0], "spherical")
        start = time.perf_counter()
        for _ in range(3):
            value = gmmfast.score_samples(m, np.zeros((1000, 2)))
        print(_core.num_threads(), time.perf_counter() - start, value[0] == -np.log(2 * np.pi))
        """
    )
    threads, seconds, right = _subprocess.run_with_threads(script, 100_000)
    assert int(threads) == 256
    assert right == "True"
    # Building 256 threads takes milliseconds; generous for a loaded machine.
    assert float(seconds) < 10
