"""Figures in data space: matplotlib plots of any Gaussian mixture, drawn by the fast kernels.

Every function takes as ``model`` a fitted ``GaussianMixture``, a fitted
``BayesianGaussianMixture`` or a :class:`gmmfast.Mixture` (any covariance type), then
``ax=None`` — the matplotlib ``Axes`` to draw on; ``None`` makes a new figure with
``matplotlib.pyplot.subplots()``, so it shows in notebooks and with ``plt.show()`` — then
keyword-only options, and passes its remaining ``**kwargs`` to the one matplotlib call it wraps
(each function says which). Every function returns the ``Axes`` it drew on, whatever it drew
(a uniform return keeps ``plot.density(gm, ax)`` and ``plot.ellipses(gm, ax)`` composable); the
artists are where matplotlib puts them: ``ax.images[-1]`` for an image, ``ax.collections`` for
contour sets, scatters and line collections, ``ax.patches`` for ellipses, ``ax.texts`` for
contour labels, and a colour bar's axes in ``ax.figure.axes``.

Axes are in data coordinates — the features ``dims`` of the model, x across and y upward, as
matplotlib draws them (``ylim=(height, 0)`` turns a model fitted on an image's pixel
coordinates the right way up). The plane is, unless ``xlim`` / ``ylim`` are given,
:func:`limits`: the smallest box that holds every component's mean ± 3 standard deviations
along each axis (components weighing less than 1/1000 of the heaviest are left out: a
``BayesianGaussianMixture`` parks its unused components at the prior). The 2-D fields
(:func:`density`, :func:`contours`, :func:`decision_regions`, :func:`responsibility`) are
rendered on a ``resolution`` grid of pixels whose edges span exactly the limits, by
:func:`gmmfast.log_density_grid` and :func:`gmmfast.label_grid`: the field of a 1000 × 1000
contour plot of a K = 1000 mixture takes about 0.1 s on two cores and no n_pixels × K memory
(``benchmarks/bench_plot.py``).

Which mixture is drawn follows :func:`gmmfast.log_density_grid`: when ``dims`` names every
feature of the model, exactly what the model's own ``score_samples`` / ``predict`` /
``predict_proba`` compute (for a ``BayesianGaussianMixture`` that includes its digamma terms);
over a strict subset of the features, the plug-in mixture's marginal (``weights_``,
``means_``, ``covariances_``), which is also what :func:`ellipses`, :func:`mixture_1d` and
:func:`samples` draw for every model.

matplotlib is the optional ``plot`` extra (``pip install "gmmfast[plot]"``); it is imported when
a function is called, not when this module is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ._density import label_grid, log_density_grid, responsibility_grid, score_samples
from ._grid import Grid, check_range
from ._mixture import Mixture
from ._model import ModelLike, as_mixture, check_marginal, n_features
from ._sampling import sample
from ._tone import (
    DEFAULT_KNOTS,
    LOG_SPAN,
    check_knots,
    contour_levels,
    linear_ink,
    log_ink,
    piecewise_ink,
)
from ._validation import (
    check_bool,
    check_dims,
    check_int,
    check_points,
    check_positive,
    check_real,
    seed_from,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "DEFAULT_RESOLUTION",
    "EXTENT_MIN_WEIGHT",
    "EXTENT_N_STD",
    "LOG_DENSITY_SPAN",
    "contours",
    "decision_regions",
    "density",
    "ellipses",
    "limits",
    "mixture_1d",
    "responsibility",
    "samples",
    "tone_curve",
]

#: The default plane: each component's mean ± this many standard deviations, along each axis.
EXTENT_N_STD = 3.0
#: Components lighter than this fraction of the heaviest one do not widen the default plane.
EXTENT_MIN_WEIGHT = 1e-3
#: Pixels along each side of a 2-D field (``resolution=``).
DEFAULT_RESOLUTION = 400
#: :func:`density` with ``log=True`` spans six decades of density below the maximum by default:
#: far from the components the log-density falls quadratically, and an unclipped colour scale
#: would spend most of its colours on empty space.
LOG_DENSITY_SPAN = math.log(1e6)
# Contour lines of :func:`contours` by default: evenly spaced over three decades of density.
_CONTOUR_LEVELS = 8
# Samples per 1-D curve of :func:`mixture_1d`.
_CURVE_POINTS = 1000
_MAPPINGS = ("piecewise", "linear", "log")


# ---------------------------------------------------------------------------------------------
# Shared pieces


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "gmmfast.plot needs matplotlib: pip install 'gmmfast[plot]' (or matplotlib)"
        ) from None
    return plt


def _axes(ax) -> Axes:
    """``ax`` checked, or the axes of a new pyplot figure when it is None."""
    if ax is None:
        _, ax = _pyplot().subplots()
        return ax
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


def _full_covariances(mixture: Mixture) -> np.ndarray:
    """The covariances of any covariance type as a (K, d, d) stack (views where possible)."""
    cov, k, d = mixture.covariances, mixture.n_components, mixture.n_features
    kind = mixture.covariance_type
    if kind == "full":
        return cov
    if kind == "tied":
        return np.broadcast_to(cov, (k, d, d))
    if kind == "diag":
        return cov[:, :, np.newaxis] * np.eye(d)
    return cov[:, np.newaxis, np.newaxis] * np.eye(d)


def limits(model: ModelLike, dims=(0, 1), *, n_std=EXTENT_N_STD) -> tuple:
    """The default extent of a plot of ``model`` over the features ``dims``.

    Returns one ``(low, high)`` pair of floats per feature of ``dims``, in data units: the
    smallest interval holding μ_k ± n_std·σ_k for every component k whose weight is at least
    :data:`EXTENT_MIN_WEIGHT` (1/1000) of the largest, with μ_k and σ_k² the component's mean
    and variance along that feature (of the plug-in mixture). ``dims`` may name any number of
    distinct features.
    """
    dims = check_marginal(model, dims)
    n_std = check_positive(n_std, "n_std")
    mixture = as_mixture(model).marginal(dims)
    variances = np.diagonal(_full_covariances(mixture), axis1=1, axis2=2)  # (K, len(dims))
    weights = mixture.weights
    keep = weights >= EXTENT_MIN_WEIGHT * weights.max()
    spread = n_std * np.sqrt(variances[keep])
    means = mixture.means[keep]
    low, high = (means - spread).min(axis=0), (means + spread).max(axis=0)
    return tuple((float(lo), float(hi)) for lo, hi in zip(low, high))


def _limit(value, name: str, default: tuple) -> tuple:
    """``xlim`` / ``ylim``: None (the model's) or a pair of distinct finite numbers, possibly
    reversed (the axis then runs downward)."""
    start, stop = check_range(value, name, default)
    if start == stop:
        raise ValueError(f"{name} must span a non-empty interval, got {(start, stop)}")
    return (start, stop)


def _resolution(resolution) -> tuple:
    """``(width, height)`` in pixels of a 2-D field: an int for both, or a pair."""
    if isinstance(resolution, (Sequence, np.ndarray)) and not isinstance(resolution, str):
        if len(resolution) != 2:
            raise ValueError(
                f"resolution must be an int or a pair (width, height), got {resolution!r}"
            )
        width, height = resolution
    else:
        width = height = resolution
    return (
        check_int(width, "resolution (width)", minimum=2),
        check_int(height, "resolution (height)", minimum=2),
    )


def _feature_names(model: ModelLike, dims: tuple) -> list:
    """Axis labels: the estimator's ``feature_names_in_`` when it was fitted on a DataFrame."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None and len(names) > max(dims):
        return [str(names[d]) for d in dims]
    return [f"feature {d}" for d in dims]


def _label_axes(ax: Axes, model: ModelLike, dims: tuple) -> None:
    """Name the axes after the features, unless they are named already (the user's labels, or
    an earlier plot's on the same axes, are kept)."""
    names = _feature_names(model, dims)
    if not ax.get_xlabel():
        ax.set_xlabel(names[0])
    if len(names) > 1 and not ax.get_ylabel():
        ax.set_ylabel(names[1])


def _component_colors(n_components: int, cmap=None) -> np.ndarray:
    """(K, 4) RGBA colours of the components: matplotlib's tab10 cycle ('C0', 'C1', ...) for
    K <= 10, tab20 cycled beyond, or ``cmap`` (a colour map or its name) sampled at K points."""
    import matplotlib
    from matplotlib.colors import to_rgba_array

    if cmap is None:
        cycle = matplotlib.colormaps["tab10" if n_components <= 10 else "tab20"]
        return to_rgba_array([cycle(k % cycle.N) for k in range(n_components)])
    colormap = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
    return np.asarray(colormap(np.linspace(0.0, 1.0, n_components)))


class _Field(NamedTuple):
    """The pixels of a 2-D field: checked ``dims``, the :class:`Grid` of pixel centres, the
    ``extent`` of its pixel edges for ``imshow(origin="lower")`` and the axis limits to set."""

    dims: tuple
    grid: Grid
    extent: tuple
    xlim: tuple
    ylim: tuple

    def finish(self, ax: Axes, model: ModelLike) -> None:
        ax.set_xlim(*self.xlim)
        ax.set_ylim(*self.ylim)
        _label_axes(ax, model, self.dims)


def _field(model: ModelLike, dims, xlim, ylim, resolution) -> _Field:
    """Check the arguments a 2-D field shares and lay out its pixel grid.

    Pixel centres sit half a pixel inside the limits, so that the pixels' edges span them
    exactly; grid row 0 is the *lowest* y, which ``imshow(origin="lower")`` and
    ``contour(xs, ys, Z)`` both draw at the bottom.
    """
    dims = check_marginal(model, dims, length=2)
    width, height = _resolution(resolution)
    # Only computed when needed: a model's limits build its plug-in mixture.
    need_default = xlim is None or ylim is None
    default_x, default_y = limits(model, dims) if need_default else ((0.0, 1.0), (0.0, 1.0))
    xlim = _limit(xlim, "xlim", default_x)
    ylim = _limit(ylim, "ylim", default_y)
    (x0, x1), (y0, y1) = sorted(xlim), sorted(ylim)
    half_x, half_y = (x1 - x0) / (2 * width), (y1 - y0) / (2 * height)
    grid = Grid(width, height, (x0 + half_x, x1 - half_x), (y0 + half_y, y1 - half_y))
    return _Field(dims, grid, (x0, x1, y0, y1), xlim, ylim)


def _image(ax: Axes, field: _Field, values: np.ndarray, options: dict, kwargs: dict):
    """``ax.imshow`` of a field: row 0 at the bottom, pixel edges on ``field.extent``;
    ``options`` are the defaults, ``kwargs`` (the user's) override them."""
    return ax.imshow(values, origin="lower", extent=field.extent, **{**options, **kwargs})


def _colorbar(ax: Axes, mappable, label: str, **options):
    bar = ax.figure.colorbar(mappable, ax=ax, **options)
    bar.set_label(label)
    return bar


def _level_format(levels: np.ndarray) -> str:
    """A ``%`` format for contour labels: enough decimals that rounding moves a label by at
    most a tenth of the gap between neighbouring levels, fewer when the levels are exact with
    fewer (``-6`` rather than ``-6.0``)."""
    gaps = np.diff(levels)
    smallest = float(gaps.min()) if gaps.size else abs(float(levels[0])) or 1.0
    needed = max(0, min(6, math.ceil(math.log10(5.0 / smallest))))
    for decimals in range(needed):
        if np.allclose(np.round(levels, decimals), levels, rtol=0.0, atol=1e-9):
            return f"%.{decimals}f"
    return f"%.{needed}f"


# ---------------------------------------------------------------------------------------------
# 2-D fields


def density(
    model: ModelLike,
    ax=None,
    *,
    dims=(0, 1),
    log=True,
    resolution=DEFAULT_RESOLUTION,
    cmap="viridis",
    colorbar=True,
    xlim=None,
    ylim=None,
    rtol=0.0,
    **kwargs,
) -> Axes:
    """Filled image of the (log-)density of ``model`` over the features ``dims``.

    Parameters
    ----------
    model : GaussianMixture, BayesianGaussianMixture or Mixture (fitted)
    ax : matplotlib Axes, optional
    dims : pair of int, default=(0, 1)
        The features drawn across (x) and upward (y).
    log : bool, default=True
        Draw the natural log-density log p (its units: log of 1 / (x unit · y unit)); the
        colour scale then spans :data:`LOG_DENSITY_SPAN` (six decades) below the maximum, and
        lower values take the lowest colour (the colour bar shows an arrow). ``False`` draws
        the density p itself, from 0.
    resolution : int or (int, int), default=400
        Pixels across and upward (at least 2 each).
    cmap : matplotlib colour map or its name, default='viridis'
    colorbar : bool, default=True
        Add a colour bar labelled "log-density" or "density".
    xlim, ylim : (float, float), optional
        The plotted box in data units (default :func:`limits`); reversed pairs draw that axis
        the other way.
    rtol : float in [0, 1), default=0
        As :func:`gmmfast.log_density_grid` (0: exact).
    **kwargs
        Passed to ``Axes.imshow`` (``interpolation``, ``alpha``, ``vmin``, ``norm``, ...);
        ``origin`` and ``extent`` are set by this function.

    Returns
    -------
    matplotlib Axes; the image is ``ax.images[-1]``, its array the (height, width) values with
    row 0 at the lowest y.
    """
    log = check_bool(log, "log")
    colorbar = check_bool(colorbar, "colorbar")
    field = _field(model, dims, xlim, ylim, resolution)
    values = log_density_grid(model, field.grid, field.dims, rtol=rtol)
    options: dict = {"cmap": cmap, "interpolation": "nearest", "aspect": "auto"}
    extend = "neither"
    if log:
        floor = float(values.max()) - LOG_DENSITY_SPAN
        if values.min() < floor and "norm" not in kwargs:
            options["vmin"] = floor
            extend = "min" if "vmin" not in kwargs else "neither"
    else:
        values = np.exp(values)
    ax = _axes(ax)
    image = _image(ax, field, values, options, kwargs)
    field.finish(ax, model)
    if colorbar:
        _colorbar(ax, image, "log-density" if log else "density", extend=extend)
    return ax


def contours(
    model: ModelLike,
    ax=None,
    *,
    dims=(0, 1),
    levels=_CONTOUR_LEVELS,
    filled=False,
    labels=True,
    colorbar=None,
    resolution=DEFAULT_RESOLUTION,
    xlim=None,
    ylim=None,
    rtol=0.0,
    **kwargs,
) -> Axes:
    """Contour lines of the log-density log p of ``model`` over ``dims``, levels labelled.

    Parameters
    ----------
    levels : int or sequence of float, default=8
        As :func:`gmmfast.image.contour_levels`: n levels evenly spaced in log p over the three
        decades of density below the maximum of the plotted field (max − k·ln(1000)/n for
        k = n, …, 1), or the log-density values themselves (increasing). Log-densities are
        usually negative, and so are the labels.
    filled : bool, default=False
        Fill the bands between levels (``Axes.contourf``; below the lowest level stays empty)
        and draw thin black lines on their edges.
    labels : bool, default=True
        Write each line's log p on it (``Axes.clabel``), with enough decimals to tell
        neighbouring levels apart, in black (or in ``colors`` when given).
    colorbar : bool, optional
        Add a colour bar of the levels; default: when ``filled``.
    dims, resolution, xlim, ylim, rtol
        As :func:`density`.
    **kwargs
        Passed to ``Axes.contour`` (``Axes.contourf`` when filled): ``colors``,
        ``linewidths``, ``cmap`` (default 'viridis' unless ``colors`` is given), ...

    Returns
    -------
    matplotlib Axes; the contour set is ``ax.collections[0]`` on fresh axes (in drawing
    order: the filled set, then the lines), labels are in ``ax.texts``.
    """
    filled = check_bool(filled, "filled")
    labels = check_bool(labels, "labels")
    colorbar = filled if colorbar is None else check_bool(colorbar, "colorbar")
    field = _field(model, dims, xlim, ylim, resolution)
    values = log_density_grid(model, field.grid, field.dims, rtol=rtol)
    values_levels = contour_levels(values, levels)
    ax = _axes(ax)
    xs, ys = field.grid.xs, field.grid.ys
    options: dict = {} if "colors" in kwargs else {"cmap": "viridis"}
    if filled:
        top = float(values.max())
        bands = values_levels if top <= values_levels[-1] else np.append(values_levels, top)
        drawn = ax.contourf(xs, ys, values, levels=bands, **{**options, **kwargs})
        lines = ax.contour(xs, ys, values, levels=values_levels, colors="black", linewidths=0.5)
    else:
        # Solid: with one colour matplotlib dashes negative levels, and log p is mostly < 0.
        options["linestyles"] = "solid"
        drawn = lines = ax.contour(xs, ys, values, levels=values_levels, **{**options, **kwargs})
    if labels:
        # Black unless the lines have one colour of the user's: the light end of a colour map
        # (viridis' yellow) is unreadable as text on white.
        ink = kwargs.get("colors", "black") if not filled else "black"
        ax.clabel(
            lines, fmt=_level_format(values_levels), fontsize="small", inline=True, colors=ink
        )
    field.finish(ax, model)
    if colorbar:
        _colorbar(ax, drawn, "log-density", format=_level_format(values_levels))
    return ax


def decision_regions(
    model: ModelLike,
    ax=None,
    *,
    dims=(0, 1),
    boundaries=True,
    cmap=None,
    boundary_color="black",
    resolution=DEFAULT_RESOLUTION,
    xlim=None,
    ylim=None,
    rtol=0.0,
    **kwargs,
) -> Axes:
    """The plane coloured by the most responsible component (``predict``), and the boundaries.

    Parameters
    ----------
    boundaries : bool, default=True
        Draw the edges between pixels of different components (a ``LineCollection`` of
        ``boundary_color``, linewidth 0.8): the decision boundaries, to the pixel.
    cmap : matplotlib colour map or its name, optional
        Component k's colour. Default: matplotlib's colour cycle ('C0', 'C1', ... as tab10,
        tab20 for more than 10 components, repeating), the colours :func:`ellipses` and
        :func:`samples` give the components; a colour map is sampled at K evenly spaced points.
    dims, resolution, xlim, ylim, rtol
        As :func:`density` (labels are exact for any rtol < 1, see
        :func:`gmmfast.label_grid`).
    **kwargs
        Passed to ``Axes.imshow`` of the regions (``alpha``, ``interpolation``, ...).

    Returns
    -------
    matplotlib Axes; the regions are ``ax.images[-1]``, whose array is the (height, width)
    int64 labels with row 0 at the lowest y; the boundaries are ``ax.collections[-1]``.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.colors import ListedColormap

    boundaries = check_bool(boundaries, "boundaries")
    field = _field(model, dims, xlim, ylim, resolution)
    labels = label_grid(model, field.grid, field.dims, rtol=rtol)
    k = _n_components(model)
    colors = ListedColormap(_component_colors(k, cmap))
    ax = _axes(ax)
    options = {
        "cmap": colors,
        "vmin": -0.5,
        "vmax": k - 0.5,
        "interpolation": "nearest",
        "aspect": "auto",
    }
    _image(ax, field, labels, options, kwargs)
    if boundaries:
        segments = _boundary_segments(labels, field.extent)
        ax.add_collection(
            LineCollection(
                list(segments), colors=boundary_color, linewidths=0.8, label="boundaries"
            )
        )
    field.finish(ax, model)
    return ax


def _boundary_segments(labels: np.ndarray, extent: tuple) -> np.ndarray:
    """(n, 2, 2) segments on the pixel edges between differently labelled neighbours."""
    height, width = labels.shape
    x0, x1, y0, y1 = extent
    x_edges = np.linspace(x0, x1, width + 1)
    y_edges = np.linspace(y0, y1, height + 1)
    rows, cols = np.nonzero(labels[:, :-1] != labels[:, 1:])  # between columns c and c + 1
    vertical = np.stack(
        [
            np.column_stack([x_edges[cols + 1], y_edges[rows]]),
            np.column_stack([x_edges[cols + 1], y_edges[rows + 1]]),
        ],
        axis=1,
    )
    rows, cols = np.nonzero(labels[:-1, :] != labels[1:, :])  # between rows r and r + 1
    horizontal = np.stack(
        [
            np.column_stack([x_edges[cols], y_edges[rows + 1]]),
            np.column_stack([x_edges[cols + 1], y_edges[rows + 1]]),
        ],
        axis=1,
    )
    return np.concatenate([vertical, horizontal])


def responsibility(
    model: ModelLike,
    k,
    ax=None,
    *,
    dims=(0, 1),
    cmap="viridis",
    colorbar=True,
    resolution=DEFAULT_RESOLUTION,
    xlim=None,
    ylim=None,
    rtol=0.0,
    **kwargs,
) -> Axes:
    """Responsibility of component ``k`` over the plane: ``predict_proba(X)[:, k]``.

    Computed without the n_pixels × K array: component k's own weighted term and the
    mixture's log-density, each rendered by the grid kernel, and
    r_k = exp(log term_k − log p). The weights are those of the mixture :func:`density` draws
    for the same ``dims``: a ``BayesianGaussianMixture`` over all its features uses its
    expected log-weights and Wishart terms, exactly as its ``predict_proba``; over a strict
    subset of the features, the plug-in ``weights_``.

    Parameters
    ----------
    k : int in [0, n_components)
    cmap : default='viridis'
        Drawn from 0 (lowest colour) to 1 (highest).
    colorbar : bool, default=True
        Labelled "responsibility of component k".
    dims, resolution, xlim, ylim, rtol
        As :func:`density` (with rtol > 0 a responsibility is at most 1 / (1 − rtol) times
        too large, and clipped at 1).
    **kwargs
        Passed to ``Axes.imshow``.

    Returns
    -------
    matplotlib Axes; the image is ``ax.images[-1]``.
    """
    colorbar = check_bool(colorbar, "colorbar")
    field = _field(model, dims, xlim, ylim, resolution)
    values = responsibility_grid(model, k, field.grid, field.dims, rtol=rtol)
    ax = _axes(ax)
    options = {
        "cmap": cmap,
        "vmin": 0.0,
        "vmax": 1.0,
        "interpolation": "nearest",
        "aspect": "auto",
    }
    image = _image(ax, field, values, options, kwargs)
    field.finish(ax, model)
    if colorbar:
        _colorbar(ax, image, f"responsibility of component {int(k)}")
    return ax


# ---------------------------------------------------------------------------------------------
# Components, samples, one feature


def _check_n_std(n_std) -> tuple:
    values = n_std if isinstance(n_std, (Sequence, np.ndarray)) else (n_std,)
    if isinstance(n_std, str) or len(values) == 0:
        raise ValueError(f"n_std must be a positive number or a sequence of them, got {n_std!r}")
    return tuple(check_positive(v, "each n_std") for v in values)


def ellipses(
    model: ModelLike,
    ax=None,
    *,
    dims=(0, 1),
    n_std=(1, 2, 3),
    alpha_by_weight=True,
    xlim=None,
    ylim=None,
    **kwargs,
) -> Axes:
    """One ellipse per component and per entry of ``n_std``: where the Mahalanobis distance
    from the mean is n, over the marginal of the features ``dims``.

    An ellipse of component k at n standard deviations is {x : (x − μ_k)ᵀ Σ_k⁻¹ (x − μ_k) = n²}
    with μ_k, Σ_k the component's mean and 2 × 2 covariance over ``dims`` (any covariance
    type: 'tied' components share a shape, 'diag' ellipses are axis-aligned, 'spherical' ones
    round). A ``BayesianGaussianMixture`` is drawn from its ``weights_``, ``means_`` and
    ``covariances_``. For a 2-D Gaussian, n = 1, 2, 3 hold 39 %, 86 % and 99 % of the
    component's mass.

    Parameters
    ----------
    n_std : positive number or sequence of them, default=(1, 2, 3)
    alpha_by_weight : bool, default=True
        Scale each component's opacity by its weight over the heaviest weight, so light
        components fade. The opacity of the heaviest one is ``alpha`` (default 0.25); the rings
        are filled, so the opacity adds up towards the mean.
    xlim, ylim : (float, float), optional
        Axis limits to set; by default the axes autoscale to take in the ellipses (and anything
        already drawn on them), except those of components lighter than 1/1000 of the
        heaviest (as :func:`limits`).
    **kwargs
        Passed to each ``matplotlib.patches.Ellipse`` (``facecolor``, ``edgecolor``,
        ``linewidth``, ``fill``, ``alpha``, ...). By default component k is filled and edged in
        the colour 'Ck' of :func:`decision_regions`.

    Returns
    -------
    matplotlib Axes; the K × len(n_std) ellipses are appended to ``ax.patches``, component by
    component and, within a component, in the order of ``n_std``.
    """
    from matplotlib.patches import Ellipse

    dims = check_marginal(model, dims, length=2)
    n_std = _check_n_std(n_std)
    alpha_by_weight = check_bool(alpha_by_weight, "alpha_by_weight")
    xlim, ylim = _optional_limits(xlim, ylim)
    alpha = check_positive(kwargs.pop("alpha", 0.25), "alpha")
    if alpha > 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    mixture = as_mixture(model).marginal(dims)
    # Principal axes: eigenvalues ascending, so column 1 is the long axis.
    variances, axes = np.linalg.eigh(_full_covariances(mixture))
    half_long = np.sqrt(variances[:, 1])
    half_short = np.sqrt(variances[:, 0])
    angles = np.degrees(np.arctan2(axes[:, 1, 1], axes[:, 0, 1]))
    weights = mixture.weights
    opacity = alpha * (weights / weights.max() if alpha_by_weight else np.ones_like(weights))
    colors = _component_colors(mixture.n_components)
    # Components that do not count for limits() do not stretch the autoscaled view either
    # (a BayesianGaussianMixture's unused components sit at its prior); they are drawn, faded.
    light = weights < EXTENT_MIN_WEIGHT * weights.max()
    ax = _axes(ax)
    for k in range(mixture.n_components):
        options = {"facecolor": colors[k], "edgecolor": colors[k], "linewidth": 1.0}
        options.update(kwargs)
        for n in n_std:
            patch = Ellipse(
                tuple(mixture.means[k]),
                width=2 * n * half_long[k],
                height=2 * n * half_short[k],
                angle=float(angles[k]),
                alpha=float(opacity[k]),
                **options,
            )
            if light[k]:
                # add_artist leaves the data limits alone; clip as add_patch would.
                ax.add_artist(patch)
                patch.set_clip_path(ax.patch)
            else:
                ax.add_patch(patch)
    _set_or_autoscale(ax, xlim, ylim)
    _label_axes(ax, model, dims)
    return ax


def _optional_limits(xlim, ylim) -> tuple:
    """``xlim``, ``ylim`` checked, each None (autoscale) or a pair."""
    return tuple(
        None if value is None else _limit(value, name, (0.0, 1.0))
        for value, name in ((xlim, "xlim"), (ylim, "ylim"))
    )


def _set_or_autoscale(ax: Axes, xlim, ylim) -> None:
    """Set the limits given (checked by :func:`_optional_limits`); let matplotlib's
    autoscaling take in the rest."""
    if xlim is not None:
        ax.set_xlim(*xlim)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.autoscale_view()


def samples(
    model: ModelLike,
    n,
    ax=None,
    *,
    dims=(0, 1),
    random_state=None,
    color_by_component=True,
    xlim=None,
    ylim=None,
    **kwargs,
) -> Axes:
    """A scatter plot of ``n`` samples of ``model`` over the features ``dims``.

    The samples are :func:`gmmfast.sample`'s, shuffled: ``sample`` returns them grouped by
    component, so unshuffled the last component would be drawn over all the others, and any
    prefix would hold only the first components. After the shuffle a prefix is a fair
    subsample and no component hides another.

    Parameters
    ----------
    n : int >= 1
        As ``n_samples`` of :func:`gmmfast.sample`.
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState
        Seeds both the samples and the shuffle (see :func:`gmmfast.sample`): the same int
        draws the same picture.
    color_by_component : bool, default=True
        Colour each sample by the component it was drawn from ('Ck', as :func:`ellipses`);
        otherwise matplotlib's next colour.
    xlim, ylim : (float, float), optional
        Axis limits to set; by default the axes autoscale to the samples.
    **kwargs
        Passed to ``Axes.scatter``; defaults ``s=4``, ``linewidths=0``. A ``c`` or ``color``
        given here replaces the colouring by component.

    Returns
    -------
    matplotlib Axes; the scatter is ``ax.collections[-1]``, its offsets the (n, 2) samples in
    drawing order.
    """
    dims = check_marginal(model, dims, length=2)
    color_by_component = check_bool(color_by_component, "color_by_component")
    xlim, ylim = _optional_limits(xlim, ylim)
    seed = seed_from(random_state)
    X, labels = sample(model, n, random_state=seed)
    order = np.random.default_rng(seed).permutation(X.shape[0])
    points = X[np.ix_(order, list(dims))]
    options: dict = {"s": 4, "linewidths": 0}
    if color_by_component and not ({"c", "color"} & kwargs.keys()):
        options["c"] = _component_colors(_n_components(model))[labels[order]]
    options.update(kwargs)
    ax = _axes(ax)
    ax.scatter(points[:, 0], points[:, 1], **options)
    _set_or_autoscale(ax, xlim, ylim)
    _label_axes(ax, model, dims)
    return ax


def _n_components(model: ModelLike) -> int:
    if isinstance(model, Mixture):
        return model.n_components
    return len(model.weights_)


def mixture_1d(
    model: ModelLike,
    ax=None,
    *,
    dim=0,
    X=None,
    components=True,
    bins="auto",
    rug=True,
    xlim=None,
    **kwargs,
) -> Axes:
    """The marginal density of ``model`` along one feature, its weighted components, and
    optionally a histogram and a rug of data ``X``.

    The curve is p(x) of the plug-in marginal over feature ``dim`` (``weights_``, ``means_``,
    ``covariances_``; for a ``GaussianMixture`` that is its ``score_samples`` when it has one
    feature), evaluated by :func:`gmmfast.score_samples` at 1000 points; component k's curve
    is w_k N(x; μ_k, σ_k²), and the components add up to the curve.

    Parameters
    ----------
    dim : int, default=0
        The feature.
    X : array-like of shape (n_samples, n_features) or (n_samples,), optional
        Data to show: rows of the model's features (column ``dim`` is drawn), or the values of
        that one feature.
    components : bool, default=True
        Draw each weighted component (one ``LineCollection``, colours 'Ck').
    bins : int, sequence or str, default='auto'
        Of the histogram of X (``Axes.hist`` with ``density=True``, so it compares with p).
    rug : bool, default=True
        With X: a tick at the bottom of the axes for each value.
    xlim : (float, float), optional
        Default: :func:`limits` along ``dim``, widened to the range of X.
    **kwargs
        Passed to ``Axes.plot`` of the mixture's density curve (default: black, width 2).

    Returns
    -------
    matplotlib Axes with a legend; the density curve is ``ax.lines`` (the first line drawn by
    this call), the components ``ax.collections``, the histogram bars ``ax.patches``.
    """
    from matplotlib.collections import LineCollection

    (dim,) = check_dims((dim,), n_features(model), length=1, name="dim")
    components = check_bool(components, "components")
    rug = check_bool(rug, "rug")
    values = None if X is None else _feature_values(X, n_features(model), dim)
    if xlim is None:
        ((low, high),) = limits(model, (dim,))
        if values is not None:
            low, high = min(low, float(values.min())), max(high, float(values.max()))
        xlim = (low, high)
    xlim = _limit(xlim, "xlim", (0.0, 1.0))
    mixture = as_mixture(model).marginal((dim,))
    xs = np.linspace(min(xlim), max(xlim), _CURVE_POINTS)
    total = np.exp(score_samples(mixture, xs[:, np.newaxis]))
    ax = _axes(ax)
    if values is not None:
        ax.hist(values, bins=bins, density=True, color="0.82", label="X (histogram)")
    if components:
        means = mixture.means[:, 0]
        sd = np.sqrt(_full_covariances(mixture)[:, 0, 0])
        with np.errstate(divide="ignore"):
            log_w = np.log(mixture.weights)
        z = (xs[np.newaxis, :] - means[:, np.newaxis]) / sd[:, np.newaxis]
        curves = np.exp(
            (log_w - np.log(sd) - 0.5 * math.log(2 * math.pi))[:, np.newaxis] - 0.5 * z * z
        )
        segments = np.stack([np.broadcast_to(xs, curves.shape), curves], axis=-1)
        ax.add_collection(
            LineCollection(
                list(segments),
                colors=_component_colors(mixture.n_components),
                linewidths=0.8,
                label="components",
            )
        )
    options = {"color": "black", "linewidth": 2.0, "label": "mixture"}
    ax.plot(xs, total, **{**options, **kwargs})
    if values is not None and rug:
        ax.plot(
            values,
            np.zeros_like(values),
            "|",
            color="black",
            alpha=min(1.0, max(0.05, 50 / math.sqrt(values.size))),
            markersize=8,
            transform=ax.get_xaxis_transform(),  # x in data, y in axes fractions: at the floor
            label="_rug",
        )
    ax.set_xlim(*xlim)
    ax.set_ylim(bottom=0)
    _label_axes(ax, model, (dim,))
    if not ax.get_ylabel():
        ax.set_ylabel("density")
    ax.legend(fontsize="small")
    return ax


def _feature_values(X, n_features: int, dim: int) -> np.ndarray:
    """The values of feature ``dim`` in ``X``: (n, n_features) rows or (n,) values."""
    check_real(X, "X")
    array = np.asarray(X)
    if array.ndim == 1:
        return check_points(array[:, np.newaxis], 1)[:, 0]
    return check_points(X, n_features)[:, dim]


# ---------------------------------------------------------------------------------------------
# Tone mapping


def tone_curve(knots=None, ax=None, *, mappings=_MAPPINGS, **kwargs) -> Axes:
    """The tone mappings of :mod:`gmmfast.image` as curves: ink against relative density.

    x is the relative density p / p_max of a pixel (from 0 to 1), y the ink it gets (0 white,
    1 black; the grey level, ``round(255·(1 − ink))``, is on the right axis). The curves are
    computed by the mappings themselves: ``piecewise`` through ``knots`` (markers), ``linear``
    (ink = p / p_max) and ``log`` (ink rising over the three decades below the maximum,
    (ln(p / p_max) + ln 1000) / ln 1000, clipped at 0).

    Parameters
    ----------
    knots : sequence of (x, y) pairs, optional
        As :func:`gmmfast.image.piecewise`; default :data:`gmmfast.image.DEFAULT_KNOTS`.
    ax : matplotlib Axes, optional
    mappings : sequence of {'piecewise', 'linear', 'log'}, default: all three
    **kwargs
        Passed to ``Axes.plot`` of the piecewise curve (default: black, width 2).

    Returns
    -------
    matplotlib Axes with a legend; one line per mapping in ``ax.lines``, in the order of
    ``mappings`` (the knots' markers after the piecewise curve).
    """
    xs_knots, ys_knots = check_knots(DEFAULT_KNOTS if knots is None else knots)
    if isinstance(mappings, str) or not isinstance(mappings, (Sequence, np.ndarray)):
        raise TypeError(f"mappings must be a sequence of names from {_MAPPINGS}, got {mappings!r}")
    unknown = [m for m in mappings if m not in _MAPPINGS]
    if unknown or len(mappings) == 0:
        raise ValueError(f"mappings must name some of {_MAPPINGS}, got {list(mappings)!r}")
    relative = np.linspace(0.0, 1.0, 2001)
    with np.errstate(divide="ignore"):
        log_density = np.log(relative)  # −∞ at 0 (a density of zero); max 0 at p = p_max
    ax = _axes(ax)
    knots_pairs = np.column_stack([xs_knots, ys_knots])
    for name in mappings:
        if name == "piecewise":
            options = {"color": "black", "linewidth": 2.0, "label": "piecewise"}
            ax.plot(relative, piecewise_ink(log_density, knots_pairs), **{**options, **kwargs})
            ax.plot(xs_knots, ys_knots, "o", color="black", markersize=5, label="knots")
        elif name == "linear":
            ax.plot(relative, linear_ink(log_density), "--", color="C0", label="linear")
        else:
            decades = round(LOG_SPAN / math.log(10))
            ax.plot(
                relative, log_ink(log_density), ":", color="C3", label=f"log ({decades} decades)"
            )
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("relative density p / p_max")
    ax.set_ylabel("ink (0 white, 1 black)")
    grey = ax.secondary_yaxis(
        "right", functions=(lambda ink: 255.0 * (1.0 - ink), lambda g: 1.0 - g / 255.0)
    )
    grey.set_ylabel("grey level")
    ax.legend(fontsize="small", loc="lower right")
    return ax
