"""Input checks shared by the public functions, in scikit-learn's style.

Every check raises the exception scikit-learn would raise (mostly ``ValueError``) with a message
that names what was expected and what was given.
"""

from __future__ import annotations

import math
import numbers
import secrets
from collections.abc import Sequence

import numpy as np


def check_real(value, name: str) -> None:
    """``ValueError`` if ``value`` is or holds complex numbers, strings or bytes.

    Converting to float64 would drop an imaginary part (with only a ``ComplexWarning``) or
    parse text as numbers; scikit-learn refuses both in ``X``, and so do we, everywhere.
    Anything NumPy cannot make an array of is left to the caller's own conversion.
    """
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return
    kind = array.dtype.kind
    if kind == "O":
        text = (str, bytes)
        if any(isinstance(v, text) for v in array.flat):
            kind = "U"
        elif any(isinstance(v, (complex, np.complexfloating)) for v in array.flat):
            kind = "c"
    if kind == "c":
        raise ValueError(f"{name} must be an array of real numbers, got complex values")
    if kind in "USV":
        raise ValueError(
            f"{name} must be an array of numbers, got {array.dtype} values: could not convert "
            "strings to float (text is not parsed; convert your data to numbers first)"
        )


def check_points(X, n_features: int, name: str = "X", owner: str = "the model") -> np.ndarray:
    """Return ``X`` as a C-contiguous float64 array of shape (n_samples, n_features).

    Accepts lists, integer and float32 arrays, Fortran-ordered and non-contiguous arrays.
    Raises ``ValueError`` for the wrong number of dimensions or features (naming ``owner``,
    as scikit-learn names the estimator), NaN, inf, no rows, complex numbers or strings.
    """
    from sklearn.utils.validation import check_array  # here: ``import gmmfast`` stays quick

    check_real(X, name)
    X = check_array(X, dtype=np.float64, order="C", input_name=name)
    # A C-contiguous array need not be aligned (np.frombuffer at an offset, arrays received by
    # dask.distributed workers); the kernels read whole float64s.
    X = np.require(X, requirements=["C", "A"])
    if X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features, but {owner} is expecting "
            f"{n_features} features as input."
        )
    return X


def check_int(value, name: str, minimum: int | None = None) -> int:
    """Return ``value`` as a Python int; ``TypeError`` if it is not integral (bools neither),
    ``ValueError`` if it is below ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_dims(dims, n_features: int, length: int | None = None, name: str = "dims") -> tuple:
    """Return ``dims`` as a tuple of distinct feature indices in ``[0, n_features)``.

    ``length`` fixes how many are expected (2 for a pixel grid). Negative indices are refused
    rather than wrapped: a feature index is a position, not an offset from the end.
    """
    if isinstance(dims, (str, bytes)) or not isinstance(dims, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a sequence of feature indices, got {dims!r}")
    dims = tuple(check_int(d, f"each entry of {name}") for d in dims)
    if length is not None and len(dims) != length:
        raise ValueError(f"{name} must name exactly {length} features, got {len(dims)}: {dims}")
    if not dims:
        raise ValueError(f"{name} must name at least one feature, got none")
    bad = [d for d in dims if not 0 <= d < n_features]
    if bad:
        raise ValueError(
            f"{name} must be feature indices in [0, {n_features}) for a model of "
            f"{n_features} features, got {dims}"
        )
    if len(set(dims)) != len(dims):
        raise ValueError(f"{name} must not repeat a feature, got {dims}")
    return dims


def check_image_dims(dims, color_dims, n_features: int) -> tuple:
    """``(dims, color_dims)`` of a sample image checked: two distinct features for the pixel's
    (x, y), and None or distinct features to average per pixel (they may include ``dims``)."""
    dims = check_dims(dims, n_features, length=2)
    if color_dims is not None:
        color_dims = check_dims(color_dims, n_features, name="color_dims")
    return dims, color_dims


def empty(shape: tuple, dtype=np.float64) -> np.ndarray:
    """``np.empty`` that reports an impossible size as ``MemoryError`` (NumPy says
    ``ValueError: array is too big`` when the byte count overflows)."""
    try:
        return np.empty(shape, dtype=dtype)
    except ValueError as exc:
        raise MemoryError(
            f"cannot allocate an array of shape {shape} and dtype {np.dtype(dtype)}: {exc}"
        ) from exc


def check_rtol(rtol) -> float:
    """``rtol`` as a float in [0, 1): the relative error allowed (0 = exact)."""
    if isinstance(rtol, (bool, np.bool_)) or not isinstance(rtol, numbers.Real):
        raise TypeError(f"rtol must be a number in [0, 1), got {rtol!r}")
    rtol = float(rtol)
    if not 0.0 <= rtol < 1.0:
        raise ValueError(f"rtol must be in [0, 1), got {rtol!r}")
    return rtol


def check_float_dtype(dtype) -> np.dtype:
    """``dtype`` as numpy.float64 or numpy.float32 (the image dtypes the kernels write)."""
    try:
        dtype = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be numpy.float64 or numpy.float32, got {dtype!r}") from exc
    if dtype not in (np.float64, np.float32):
        raise ValueError(f"dtype must be numpy.float64 or numpy.float32, got {dtype}")
    return dtype


def check_bool(value, name: str) -> bool:
    """``value`` as a bool; ``TypeError`` for anything but True or False (1, "yes" and None
    are refused rather than read as truth values)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_return_std(return_std) -> bool:
    """``return_std`` as a bool; ``TypeError`` for anything but True or False."""
    return check_bool(return_std, "return_std")


def check_positive(value, name: str) -> float:
    """``value`` as a positive finite float; ``TypeError`` for a non-number (bools too),
    ``ValueError`` for zero, a negative number, NaN or infinity."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def check_given(given, n_features: int, length: int | None = None) -> tuple:
    """``given`` as distinct feature indices that leave at least one feature to predict."""
    given = check_dims(given, n_features, length=length, name="given")
    if len(given) == n_features:
        raise ValueError(
            f"given must leave at least one of the {n_features} features to predict, got {given}"
        )
    return given


# Counts are int64 (labels, count images): more samples than this cannot be counted.
MAX_SAMPLES = 2**63 - 1


def check_n_samples(n_samples) -> int:
    """Return ``n_samples`` as an int in [1, 2**63 - 1].

    As scikit-learn's ``sample()``, takes any integral number: ints, NumPy integers, floats of
    integral value (``2.0``, ``1e9``) and bools (``True`` is 1). ``ValueError`` for anything
    else (``1.5`` is refused, not rounded) and for values below 1, with scikit-learn's
    "Invalid value for 'n_samples'".
    """
    value = n_samples
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        as_float = float(value)
        if as_float.is_integer():
            value = int(as_float)
    if not isinstance(value, numbers.Integral):
        hint = " (a float must have an integral value)" if isinstance(value, numbers.Real) else ""
        raise ValueError(
            f"n_samples must be an integer >= 1, got {n_samples!r} "
            f"({type(n_samples).__name__}){hint}"
        )
    n = int(value)
    if n < 1:
        raise ValueError(
            f"Invalid value for 'n_samples': n_samples must be >= 1, got {n_samples!r}. "
            "The sampling requires at least one sample."
        )
    if n > MAX_SAMPLES:
        raise ValueError(f"n_samples must be at most 2**63 - 1, got {n}")
    return n


def seed_from(random_state) -> int:
    """The 64-bit seed of a ``random_state`` argument, as in :func:`sample`.

    ``None``: fresh entropy from the operating system. An int in [0, 2**64): that seed. A
    ``numpy.random.Generator``: one draw ``integers(0, 2**63)``. A ``numpy.random.RandomState``:
    one draw ``randint(0, 2**63 - 1)``. Drawing from a generator advances it, so two calls with
    the same generator give different samples, as two calls of a scikit-learn estimator's
    ``sample()`` do. Anything else is a ``ValueError``, as in
    ``sklearn.utils.check_random_state``.
    """
    if random_state is None:
        return secrets.randbits(64)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**63 - 1, dtype=np.int64))
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, (bool, np.bool_)
    ):
        seed = int(random_state)
        if not 0 <= seed < 2**64:
            raise ValueError(f"an int random_state must be in [0, 2**64), got {seed}")
        return seed
    raise ValueError(
        f"{random_state!r} cannot be used as random_state: expected None, an int in "
        f"[0, 2**64), a numpy.random.Generator or a numpy.random.RandomState"
    )


_ACCEPTED_MODELS = "a fitted GaussianMixture, a fitted BayesianGaussianMixture or a gmmfast.Mixture"


def fitted_estimator(estimator):
    """Return ``estimator`` if it is a fitted scikit-learn Gaussian mixture.

    ``TypeError`` for other objects, ``NotFittedError`` if it has not been fitted. Imports
    scikit-learn, which only estimators need.
    """
    from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
    from sklearn.utils.validation import check_is_fitted

    if not isinstance(estimator, (GaussianMixture, BayesianGaussianMixture)):
        raise TypeError(f"expected {_ACCEPTED_MODELS}, got {type(estimator).__name__}")
    check_is_fitted(estimator)
    return estimator


def check_alpha_bar(alpha_bar, name: str = "alpha_bar") -> np.ndarray:
    """``alpha_bar`` (a number or an array of them) as float64, every value in (0, 1]: the
    fraction ᾱ of the signal's variance kept by a diffusion step. ``TypeError`` for bools and
    non-numbers, ``ValueError`` for complex numbers, text, NaN and values outside (0, 1]."""
    check_real(alpha_bar, name)
    try:
        values = np.asarray(alpha_bar)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number in (0, 1], got {alpha_bar!r}") from exc
    if values.dtype.kind not in "iuf":  # bools, None and other objects (None would be NaN)
        raise TypeError(f"{name} must be a number in (0, 1], got {alpha_bar!r}")
    values = values.astype(np.float64)
    bad = ~((values > 0.0) & (values <= 1.0))  # NaN is bad too
    if np.any(bad):
        first = float(values[bad].flat[0])
        raise ValueError(f"{name} must be in (0, 1], got {first!r}")
    return values


def check_method(method, choices: tuple, name: str = "method") -> str:
    """``method`` if it is one of ``choices``; ``ValueError`` naming them otherwise (what
    scikit-learn's parameter validation says for a bad option)."""
    if not isinstance(method, str) or method not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {method!r}")
    return method


def check_same_features(n_p: int, n_q: int, names: tuple = ("p", "q")) -> None:
    """``ValueError`` unless two models have the same number of features."""
    if n_p != n_q:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of features, got {n_p} and {n_q}"
        )


def check_feature_groups(a_dims, b_dims, n_features: int) -> tuple:
    """``(a_dims, b_dims)`` as two non-empty, disjoint tuples of feature indices."""
    a_dims = check_dims(a_dims, n_features, name="a_dims")
    b_dims = check_dims(b_dims, n_features, name="b_dims")
    shared = sorted(set(a_dims) & set(b_dims))
    if shared:
        raise ValueError(f"a_dims and b_dims must not share a feature, both hold {shared}")
    return a_dims, b_dims


def check_image_pair(a, b) -> tuple:
    """``(a, b)`` as NumPy arrays of real numbers, the same non-empty shape and no NaN:
    ``ValueError`` naming both shapes otherwise."""
    arrays = []
    for value, name in ((a, "a"), (b, "b")):
        check_real(value, name)
        try:
            array = np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be an image array, got {value!r}") from exc
        if array.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be an array of numbers, got dtype {array.dtype}")
        arrays.append(array)
    a, b = arrays
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError(f"a and b must not be empty, got shape {a.shape}")
    for array, name in ((a, "a"), (b, "b")):
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise ValueError(f"{name} must be finite, got NaN or inf")
    return a, b


def check_schedule(schedule, name: str = "schedule") -> np.ndarray:
    """A diffusion schedule ᾱ_1, …, ᾱ_T as float64 of shape (T,): non-empty, every value in
    (0, 1] (as :func:`check_alpha_bar`) and non-increasing (a step adds noise or none), as
    :func:`gmmfast.diffusion.linear_schedule` and ``cosine_schedule`` return them.
    ``ValueError`` otherwise (``TypeError`` for bools and non-numbers)."""
    values = check_alpha_bar(schedule, name)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"{name} must be a non-empty array of shape (n_steps,) of ᾱ_t, got an array of "
            f"shape {values.shape}"
        )
    rising = np.nonzero(np.diff(values) > 0.0)[0]
    if rising.size:
        t = int(rising[0])
        raise ValueError(
            f"{name} must be non-increasing (ᾱ_1 ≥ ᾱ_2 ≥ … ≥ ᾱ_T), got ᾱ_{t + 1} = "
            f"{values[t]!r} then ᾱ_{t + 2} = {values[t + 1]!r}"
        )
    return values
