"""Fuzzing the public API: any input gives a result or a documented exception.

Every public function and constructor is fed arrays of every dtype (floats of three widths,
integers, bools, complex, strings, bytes, objects), shape, layout (C, Fortran, strided,
read-only, lists) and special value (NaN, ±inf, ±1e308, 1e154, subnormals, empty), and plain
garbage. The outcome must be a result or ``ValueError`` / ``TypeError`` / ``NotFittedError`` /
``MemoryError``: never a ``RuntimeError`` from a Rust panic (nor pyo3's ``PanicException``,
which is not even an ``Exception``), an ``IndexError``, a ``ZeroDivisionError``...; and never
a silently truncated complex number (``ComplexWarning``).
"""

import contextlib
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

import gmmfast
from gmmfast import image

DOCUMENTED = (ValueError, TypeError, MemoryError)  # NotFittedError is a ValueError

DTYPES = [
    np.float64,
    np.float32,
    np.float16,
    np.int64,
    np.int8,
    np.uint64,
    np.bool_,
    np.complex128,
    np.complex64,
    "U12",
    "S12",
    object,
]
SPECIAL = np.array(
    [np.nan, np.inf, -np.inf, 1e308, -1e308, 1e154, -1e154, 5e-324, 1e-300, 0.0, -0.0, 1.0, -2.5]
)
SEEDS = st.integers(0, 2**32 - 1)


REAL_DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int8, np.bool_]
FINITE = SPECIAL[np.isfinite(SPECIAL)]


@st.composite
def arrays(draw, shape=None, real=False):
    """An array (or list) of any dtype, layout and values; of ``shape`` about half the time.

    ``real``: of ``shape``, a real dtype and finite values (huge and tiny ones included), so
    that the call gets past validation to the kernels."""
    if not real and (shape is None or draw(st.booleans())):
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    dtype = draw(st.sampled_from(REAL_DTYPES if real else DTYPES))
    rng = np.random.default_rng(draw(SEEDS))
    values = draw(st.sampled_from(["normal", "special", "mixed"]))
    base = np.asarray(rng.normal(size=shape) * 10.0)
    if values != "normal":
        special = rng.choice(FINITE if real else SPECIAL, size=shape)
        base = (
            special
            if values == "special"
            else np.where(rng.uniform(size=shape) < 0.3, special, base)
        )
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if np.dtype(dtype).kind == "c":
            imaginary = rng.normal(size=shape) * draw(st.sampled_from([0.0, 1.0]))
            array = (base + 1j * imaginary).astype(dtype)
        elif dtype is object:
            array = base.astype(object)
            if array.size and draw(st.booleans()):
                flat = array.reshape(-1)
                flat[0] = draw(st.sampled_from(["1.5", b"2", None, 1 + 2j, [1.0], "x"]))
        else:
            array = base.astype(dtype)
    array = np.asarray(array)
    layout = draw(st.sampled_from(["C", "F", "strided", "read-only", "list"]))
    if layout == "F":
        array = np.asfortranarray(array)
    elif layout == "strided" and array.ndim:
        wide = np.repeat(array, 2, axis=-1)
        array = wide[..., ::2]
    elif layout == "read-only":
        array = array.copy()
        array.flags.writeable = False
    elif layout == "list":
        return array.tolist()
    return array


GARBAGE = st.sampled_from([None, "abc", "1.0", b"1", 3, 2.5, 1e308, [], [[]], [[1.0, 2.0], [3.0]]])


def anything(shape=None):
    return st.one_of(arrays(shape), GARBAGE)


def _fitted(cls, **kwargs):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(60, 3)), rng.normal(size=(60, 3)) + 4.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(n_components=2, random_state=0, max_iter=20, **kwargs).fit(X)


MODELS = [
    gmmfast.Mixture([0.4, 0.6], [[0.0, 0.0], [3.0, 1.0]], [1.0, 2.0], "spherical"),
    gmmfast.Mixture(
        [0.2, 0.3, 0.5], [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [-1.0, 0.0, 5.0]], np.eye(3), "tied"
    ),
    gmmfast.Mixture([1.0], [[0.0] * 7], [np.eye(7)]),
    _fitted(GaussianMixture),
    _fitted(BayesianGaussianMixture),
    GaussianMixture(n_components=2),  # not fitted
    None,
    "model",
    np.zeros((2, 2)),
]
# Each test draws a valid call and then, usually, replaces one argument (or two) by anything:
# valid calls reach the kernels (with huge, tiny and far-away values), corrupted ones exercise
# the validation of each argument in turn.
DIMS = st.one_of(
    st.sampled_from([(0,), (0, 0), (-1, 0), (0, 9), (0, 1, 2, 3, 4, 5, 6, 7), "01", None, 1]),
    st.tuples(st.integers(-2, 8), st.integers(-2, 8)),
    st.just((np.int64(0), np.int64(1))),
    st.just((0.0, 1.0)),
)
RTOL = st.sampled_from([-0.1, 1.0, np.nan, np.inf, "0.1", None, 0.1 + 0j, True])
FLOAT_DTYPES = st.sampled_from([np.float16, np.int64, "float64", "x", None])
SIZES = st.sampled_from([0, 1, 3, 40, -1, 2.5, "3", None, True, np.int64(5), 2**40, 2**64])
RANGES = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(list(SPECIAL)), st.sampled_from(list(SPECIAL))),
    anything((2,)),
)
MODELS_ANY = st.sampled_from(MODELS[5:])


def n_features(model) -> int:
    return getattr(model, "n_features", getattr(model, "n_features_in_", 2))


class Call:
    """Draws the arguments of one call: each valid, except those chosen to be corrupted."""

    def __init__(self, data, names):
        self.data = data
        k = data.draw(st.sampled_from([0, 1, 1, 1, 2]), label="corrupted")
        self.corrupt = set(data.draw(st.permutations(names), label="order")[:k])

    def __call__(self, name, valid, bad):
        strategy = st.one_of(bad, valid) if name in self.corrupt else valid
        return self.data.draw(strategy, label=name)


def valid_dims(model, count):
    return st.permutations(range(n_features(model))).map(lambda p: tuple(p[:count]))


@st.composite
def grids(draw):
    """Valid small grids, near the models or far away (up to 1e300)."""
    span = draw(st.sampled_from([1.0, 10.0, 1e5, 1e154, 1e300]))
    ends = st.floats(-span, span, allow_nan=False, allow_infinity=False)
    return gmmfast.Grid(
        draw(st.integers(1, 40)),
        draw(st.integers(1, 40)),
        (draw(ends), draw(ends)),
        (draw(ends), draw(ends)),
    )


def outcome(call):
    """Runs ``call``; a result or a documented exception, and no complex number truncated."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        with contextlib.suppress(*DOCUMENTED):
            call()
    truncated = [w for w in caught if issubclass(w.category, np.exceptions.ComplexWarning)]
    assert not truncated, [str(w.message) for w in truncated]


@given(st.sampled_from(["score_samples", "predict", "proba", "score"]), st.data())
def test_point_functions(which, data):
    arg = Call(data, ["model", "X"])
    model = arg("model", st.sampled_from(MODELS[:5]), MODELS_ANY)
    X = arg("X", arrays((5, n_features(model)), real=True), anything((5, n_features(model))))
    function = {
        "score_samples": gmmfast.score_samples,
        "predict": gmmfast.predict,
        "proba": gmmfast.predict_proba,
        "score": gmmfast.score,
    }[which]
    outcome(lambda: function(model, X))


@given(st.sampled_from(["labels", "log_density", "score"]), st.data())
def test_grid_functions(which, data):
    arg = Call(data, ["model", "grid", "dims", "rtol", "dtype"])
    model = arg("model", st.sampled_from(MODELS[:5]), MODELS_ANY)
    grid = arg("grid", grids(), GARBAGE)
    dims = arg("dims", valid_dims(model, 2), DIMS)
    rtol = arg("rtol", st.sampled_from([0.0, 1e-3, 0.5]), RTOL)
    dtype = arg("dtype", st.sampled_from([np.float64, np.float32]), FLOAT_DTYPES)
    if which == "labels":
        outcome(lambda: gmmfast.label_grid(model, grid, dims, rtol=rtol))
    elif which == "score":
        outcome(lambda: gmmfast.score_grid(model, grid, dims, rtol=rtol))
    else:
        outcome(lambda: gmmfast.log_density_grid(model, grid, dims, rtol=rtol, dtype=dtype))


CONDITIONAL_MODELS = st.sampled_from([MODELS[i] for i in (1, 2, 3, 4)])
RETURN_STD = st.sampled_from([1, "yes", None, np.bool_(True)])


@given(st.data())
def test_conditional_mean(data):
    arg = Call(data, ["model", "X", "given", "return_std", "rtol"])
    model = arg("model", CONDITIONAL_MODELS, st.sampled_from(MODELS))
    n_given = data.draw(st.integers(1, max(1, n_features(model) - 1)))
    given_dims = arg("given", valid_dims(model, n_given), DIMS)
    shape = (4, len(given_dims) if isinstance(given_dims, tuple) else 2)
    X = arg("X", arrays(shape, real=True), anything(shape))
    return_std = arg("return_std", st.booleans(), RETURN_STD)
    rtol = arg("rtol", st.sampled_from([0.0, 1e-3, 0.5]), RTOL)
    outcome(
        lambda: gmmfast.conditional_mean(model, X, given_dims, return_std=return_std, rtol=rtol)
    )


@given(st.data())
def test_conditional_mean_grid(data):
    arg = Call(data, ["model", "grid", "given", "return_std", "rtol", "dtype"])
    model = arg("model", CONDITIONAL_MODELS, st.sampled_from(MODELS))
    grid = arg("grid", grids(), GARBAGE)
    given_dims = arg("given", valid_dims(model, 2), DIMS)
    return_std = arg("return_std", st.booleans(), RETURN_STD)
    rtol = arg("rtol", st.sampled_from([0.0, 1e-3, 0.5]), RTOL)
    dtype = arg("dtype", st.sampled_from([np.float64, np.float32]), FLOAT_DTYPES)
    outcome(
        lambda: gmmfast.conditional_mean_grid(
            model, grid, given_dims, return_std=return_std, rtol=rtol, dtype=dtype
        )
    )


N_SAMPLES = st.sampled_from([0, -3, 1.5, "9", None, True, 2**63, 2**64, 1e3])
RANDOM_STATES = st.sampled_from([-1, 2**70, 1.5, "x", [1, 2], np.zeros(3)])
VALID_STATES = st.sampled_from([None, 0, 7, np.random.default_rng(0), np.random.RandomState(0)])


@given(st.data())
def test_sample(data):
    arg = Call(data, ["model", "n_samples", "random_state"])
    model = arg("model", st.sampled_from(MODELS[:5]), MODELS_ANY)
    n_samples = arg("n_samples", st.sampled_from([1, 7, 1000, np.int64(5)]), N_SAMPLES)
    random_state = arg("random_state", VALID_STATES, RANDOM_STATES)
    outcome(lambda: gmmfast.sample(model, n_samples, random_state=random_state))
    # An absurd count must be refused up front (MemoryError), not attempted.
    outcome(lambda: gmmfast.sample(model, 2**40, random_state=random_state))


SCHEDULES = st.sampled_from([[1.0], [0.9, 0.5, 0.1], np.linspace(0.999, 1e-3, 7)])
BAD_SCHEDULES = st.sampled_from([[], [0.1, 0.5], [0.0], [1.5], [np.nan], "x", [[0.5]], None])


@given(st.data())
def test_reverse_sample(data):
    arg = Call(data, ["model", "schedule", "n_samples", "method", "random_state"])
    model = arg("model", st.sampled_from(MODELS[:5]), MODELS_ANY)
    schedule = arg("schedule", SCHEDULES, BAD_SCHEDULES)
    n_samples = arg("n_samples", st.sampled_from([1, 7, 300]), N_SAMPLES)
    method = arg("method", st.sampled_from(["ddpm", "ode"]), st.sampled_from(["x", None, 1]))
    random_state = arg("random_state", VALID_STATES, RANDOM_STATES)
    outcome(
        lambda: gmmfast.diffusion.reverse_sample(
            model, schedule, n_samples, method=method, random_state=random_state
        )
    )


@given(st.data())
def test_sample_image(data):
    arg = Call(data, ["model", "n_samples", "grid", "dims", "color_dims", "random_state"])
    model = arg("model", st.sampled_from(MODELS[:5]), MODELS_ANY)
    n_samples = arg("n_samples", st.sampled_from([1, 7, 10_000]), N_SAMPLES)
    grid = arg("grid", grids(), GARBAGE)
    dims = arg("dims", valid_dims(model, 2), DIMS)
    colours = st.integers(1, n_features(model)).flatmap(lambda c: valid_dims(model, c))
    color_dims = arg("color_dims", st.one_of(st.none(), colours), DIMS)
    random_state = arg("random_state", VALID_STATES, RANDOM_STATES)
    outcome(
        lambda: gmmfast.sample_image(
            model, n_samples, grid, dims, color_dims, random_state=random_state
        )
    )


COVARIANCE_TYPES = st.sampled_from(["FULL", "", None, 3])
SHAPES = {"full": (2, 3, 3), "tied": (3, 3), "diag": (2, 3), "spherical": (2,)}


@st.composite
def covariances(draw, covariance_type):
    """Valid covariances of the layout: positive definite, of any dtype and layout."""
    rng = np.random.default_rng(draw(SEEDS))
    scale = draw(st.sampled_from([1.0, 1e-300, 1e-150, 1e150, 1e300]))
    shape = SHAPES[covariance_type]
    if covariance_type in ("full", "tied"):
        a = rng.normal(size=shape)
        cov = a @ np.swapaxes(a, -1, -2) + np.eye(3)
    else:
        cov = rng.uniform(0.5, 2.0, size=shape)
    cov = cov * scale
    layout = draw(st.sampled_from(["C", "F", "read-only", "list"]))
    if layout == "F":
        return np.asfortranarray(cov)
    if layout == "read-only":
        cov.flags.writeable = False
    return cov.tolist() if layout == "list" else cov


@given(st.sampled_from(list(SHAPES)), st.data())
def test_mixture_constructor(covariance_type, data):
    arg = Call(data, ["weights", "means", "covariances", "covariance_type"])
    weights = arg(
        "weights", st.sampled_from([[0.5, 0.5], np.array([0.25, 0.75], np.float32)]), anything((2,))
    )
    means = arg("means", arrays((2, 3), real=True), anything((2, 3)))
    covs = arg(
        "covariances",
        covariances(covariance_type),
        st.one_of(*(anything(shape) for shape in SHAPES.values())),
    )
    kind = arg("covariance_type", st.just(covariance_type), COVARIANCE_TYPES)
    outcome(lambda: gmmfast.Mixture(weights, means, covs, kind))


@given(st.data())
def test_grid_constructor(data):
    arg = Call(data, ["width", "height", "x_range", "y_range"])
    width = arg("width", st.integers(1, 50), SIZES)
    height = arg("height", st.integers(1, 50), SIZES)
    finite = st.floats(-1e300, 1e300, allow_nan=False)
    x_range = arg("x_range", st.tuples(finite, finite), RANGES)
    y_range = arg("y_range", st.tuples(finite, finite), RANGES)
    outcome(lambda: gmmfast.Grid(width, height, x_range, y_range))


@given(st.sampled_from(MODELS[:3]), st.data())
def test_mixture_methods(mixture, data):
    arg = Call(data, ["dims", "values"])
    count = data.draw(st.integers(1, mixture.n_features - 1))
    dims = arg("dims", valid_dims(mixture, count), DIMS)
    shape = (len(dims) if isinstance(dims, tuple) else 1,)
    values = arg("values", arrays(shape, real=True), anything(shape))
    outcome(lambda: mixture.condition(dims, values))
    outcome(lambda: mixture.marginal(dims))


METRICS_MODELS = st.sampled_from(MODELS[:5])


@given(st.data())
def test_metrics(data):
    from gmmfast import metrics

    arg = Call(data, ["p", "q", "method", "n_samples", "random_state", "dims", "grid"])
    p = arg("p", METRICS_MODELS, MODELS_ANY)
    q = arg("q", METRICS_MODELS, MODELS_ANY)
    method = arg("method", st.sampled_from(["mc", "grid"]), st.sampled_from(["x", None, 3]))
    n_samples = arg("n_samples", st.sampled_from([1, 7, 500]), N_SAMPLES)
    random_state = arg("random_state", VALID_STATES, RANDOM_STATES)
    dims = arg("dims", st.one_of(st.none(), valid_dims(p, 2)), DIMS)
    grid = arg("grid", grids(), GARBAGE) if method == "grid" else None
    mc = {"n_samples": n_samples, "random_state": random_state, "dims": dims}
    for function in (
        metrics.js_divergence,
        metrics.hellinger_distance,
        metrics.total_variation_distance,
        metrics.kl_divergence,
        metrics.cross_entropy,
    ):
        outcome(lambda f=function: f(p, q, method=method, grid=grid, **mc))
    outcome(lambda: metrics.kl_divergence(p, q, method="variational", dims=dims))
    outcome(lambda: metrics.entropy(p, method=method, grid=grid, **mc))
    outcome(lambda: metrics.l2_distance(p, q, dims=dims))
    outcome(lambda: metrics.cauchy_schwarz_divergence(p, q, dims=dims))
    a_dims = arg("a_dims", st.just((0,)), DIMS)
    outcome(lambda: metrics.mutual_information(p, a_dims, (1,), n_samples=n_samples))


@given(st.data())
def test_psnr(data):
    from gmmfast.image import psnr

    arg = Call(data, ["a", "b", "data_range"])
    a = arg("a", arrays((3, 4), real=True), anything((3, 4)))
    b = arg("b", arrays((3, 4), real=True), anything((3, 4)))
    data_range = arg("data_range", st.sampled_from([None, 1.0, 255]), RTOL)
    outcome(lambda: psnr(a, b, data_range=data_range))


@pytest.mark.parametrize(
    "bad",
    [
        np.array([0.5 + 1e-3j, 0.5]),
        np.array([0.5, 0.5], dtype=np.complex64),
        np.array([0.5 + 0j, 0.5 + 0j], dtype=object),
        np.array(["0.5", "0.5"]),
        np.array([b"0.5", b"0.5"]),
        ["0.5", "0.5"],
        np.array(["0.5", 0.5], dtype=object),
    ],
)
def test_complex_and_text_parameters_are_refused(bad):
    """They were accepted: complex with the imaginary part dropped (only a ComplexWarning),
    text parsed as numbers, where scikit-learn refuses both."""
    means = [[0.0, 0.0], [1.0, 1.0]]
    with pytest.raises(ValueError, match=r"complex|strings"):
        gmmfast.Mixture(bad, means, [1.0, 1.0], "spherical")
    with pytest.raises(ValueError, match=r"complex|strings"):
        gmmfast.Mixture([0.5, 0.5], means, bad, "spherical")
    with pytest.raises(ValueError, match=r"complex|strings"):
        gmmfast.Mixture([0.5, 0.5], np.array(bad)[:, None].repeat(2, axis=1), [1.0, 1.0], "diag")
    m = gmmfast.Mixture([0.5, 0.5], means, [1.0, 1.0], "spherical")
    with pytest.raises(ValueError, match=r"complex|strings"):
        gmmfast.predict(m, np.array(bad)[None, :])
    with pytest.raises(ValueError, match=r"complex|strings"):
        m.condition((0,), np.array(bad)[:1])
    with pytest.raises(ValueError, match=r"complex|strings"):
        gmmfast.Grid(2, 2, tuple(np.array(bad)))


def test_real_inputs_of_every_real_dtype_still_work():
    m = gmmfast.Mixture([0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]], [1.0, 1.0], "spherical")
    expected = gmmfast.score_samples(m, [[0.5, 0.25]])
    for dtype in (np.float64, np.float32, np.float16, np.int64, np.bool_):
        X = np.array([[0.5, 0.25]]).astype(dtype)
        np.testing.assert_allclose(
            gmmfast.score_samples(m, X), gmmfast.score_samples(m, X.astype(np.float64))
        )
    objects = np.array([[0.5, 0.25]], dtype=object)
    np.testing.assert_array_equal(gmmfast.score_samples(m, objects), expected)
    same = gmmfast.Mixture(
        np.array([0.5, 0.5], dtype=object), [[0, 0], [1, 1]], [1, 1], "spherical"
    )
    assert same == m


ALPHA_BARS = st.one_of(
    st.lists(st.sampled_from([1.0, 0.999, 0.5, 1e-3, 1e-300]), min_size=1, max_size=4),
    anything((3,)),
)
SCHEDULES = st.sampled_from(
    [
        gmmfast.diffusion.cosine_schedule(4),
        gmmfast.diffusion.linear_schedule(3, beta_end=0.5),
        [0.9, 1e-300],
    ]
)
METHODS = st.sampled_from(["ddpm", "ode"])


@given(st.data())
def test_diffusion_strip_and_unit_square(data):
    arg = Call(data, ["model", "grid", "alpha_bars", "dims", "mapping", "gap"])
    model = arg("model", st.sampled_from(MODELS[:5]), MODELS_ANY)
    grid = arg("grid", grids(), GARBAGE)
    alpha_bars = arg("alpha_bars", ALPHA_BARS, anything())
    dims = arg("dims", valid_dims(model, 2), DIMS)
    mapping = arg("mapping", st.sampled_from(["linear", "log", "piecewise"]), GARBAGE)
    gap = arg("gap", st.integers(0, 3), SIZES)
    outcome(
        lambda: image.diffusion_strip(model, grid, alpha_bars, dims=dims, mapping=mapping, gap=gap)
    )
    outcome(lambda: image.unit_square(model, grid, dims))


@given(st.data())
def test_score_field(data):
    arg = Call(data, ["model", "grid", "alpha_bar", "dims", "step"])
    model = arg("model", st.sampled_from(MODELS[:5]), MODELS_ANY)
    grid = arg("grid", grids(), GARBAGE)
    alpha_bar = arg("alpha_bar", st.sampled_from([1.0, 0.5, 1e-300]), anything())
    dims = arg("dims", valid_dims(model, 2), DIMS)
    step = arg("step", st.integers(1, 50), SIZES)
    outcome(lambda: image.score_field(model, grid, alpha_bar=alpha_bar, dims=dims, step=step))


@given(st.data())
def test_reverse_gif(data):
    import io

    arg = Call(data, ["model", "grid", "schedule", "n_samples", "method", "frames", "state"])
    model = arg("model", st.sampled_from(MODELS[:5]), MODELS_ANY)
    grid = arg("grid", grids(), GARBAGE)
    schedule = arg("schedule", SCHEDULES, anything())
    n_samples = arg("n_samples", st.sampled_from([1, 7, 50]), N_SAMPLES)
    method = arg("method", METHODS, GARBAGE)
    frames = arg("frames", st.integers(2, 3), SIZES)
    random_state = arg("state", VALID_STATES, RANDOM_STATES)
    outcome(
        lambda: image.reverse_gif(
            model,
            grid,
            io.BytesIO(),
            schedule=schedule,
            n_samples=n_samples,
            method=method,
            frames=frames,
            random_state=random_state,
        )
    )
