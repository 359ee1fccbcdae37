import pickle

import numpy as np
import pytest

import gmmfast


def meshgrid_points(xs, ys):
    xx, yy = np.meshgrid(xs, ys)
    return np.column_stack([xx.ravel(), yy.ravel()])


def test_default_ranges_put_pixel_centres_on_integer_coordinates():
    grid = gmmfast.Grid(4, 3)
    assert grid.shape == (3, 4) and grid.size == 12
    assert grid.x_range == (0.0, 3.0) and grid.y_range == (0.0, 2.0)
    np.testing.assert_array_equal(grid.xs, [0, 1, 2, 3])
    np.testing.assert_array_equal(grid.ys, [0, 1, 2])
    pts = grid.points()
    # Row-major: the pixel at row i, column j is point i * width + j and sits at (x=j, y=i).
    np.testing.assert_array_equal(pts[1 * 4 + 2], [2.0, 1.0])
    np.testing.assert_array_equal(pts, meshgrid_points(range(4), range(3)))


@pytest.mark.parametrize(
    ("width", "height", "x_range", "y_range"),
    [
        (5, 7, (-2.5, 3.0), (10.0, -10.0)),  # reversed y: image rows top to bottom
        (1, 1, (4.0, 9.0), (-3.0, -3.0)),  # one pixel, zero extent
        (1, 6, (7.0, 7.0), (0.0, 1.0)),
        (9, 1, (-1e3, -2e3), None),
    ],
)
def test_points_equal_meshgrid_of_linspace(width, height, x_range, y_range):
    grid = gmmfast.Grid(width, height, x_range, y_range)
    xs = np.linspace(*(x_range or (0, width - 1)), width)
    ys = np.linspace(*(y_range or (0, height - 1)), height)
    np.testing.assert_array_equal(grid.xs, xs)
    np.testing.assert_array_equal(grid.ys, ys)
    np.testing.assert_array_equal(grid.points(), meshgrid_points(xs, ys))


def test_numpy_integers_are_accepted_and_axes_are_read_only():
    grid = gmmfast.Grid(np.int64(3), np.uint8(2))
    assert (grid.width, grid.height) == (3, 2)
    with pytest.raises(ValueError, match="read-only"):
        grid.xs[0] = 5.0


@pytest.mark.parametrize(("width", "height"), [(0, 5), (5, 0), (-3, 2)])
def test_sides_below_one_are_value_errors(width, height):
    with pytest.raises(ValueError, match=r"must be >= 1"):
        gmmfast.Grid(width, height)


@pytest.mark.parametrize("width", [2.5, "10", None, True])
def test_non_integer_sides_are_type_errors(width):
    with pytest.raises(TypeError, match="width must be an integer"):
        gmmfast.Grid(width, 3)


@pytest.mark.parametrize(
    "bad", [(0.0, np.nan), (0.0, np.inf), (1.0,), (1, 2, 3), "ab", 5, (-1e308, 1e308)]
)
def test_bad_ranges_are_value_errors(bad):
    with pytest.raises(ValueError, match="x_range"):
        gmmfast.Grid(3, 3, x_range=bad)


def test_equality_hash_and_pickle():
    a = gmmfast.Grid(3, 4, (0, 1), (1, 0))
    b = gmmfast.Grid(3, 4, (0.0, 1.0), (1.0, 0.0))
    assert a == b and hash(a) == hash(b)
    assert a != gmmfast.Grid(3, 4, (0, 1), (0, 1))
    assert pickle.loads(pickle.dumps(a)) == a
    assert "Grid(width=3, height=4" in repr(a)


def test_points_of_an_impossible_grid_raise_memory_error():
    grid = gmmfast.Grid(10**6, 10**6)  # 16 TB of points
    with pytest.raises(MemoryError):
        grid.points()


def test_windows_are_grids_of_the_selected_pixels():
    grid = gmmfast.Grid(10, 7, (-1.0, 3.5), (9.0, 2.0))
    window = grid[2:5, 3:10]
    assert window.shape == (3, 7) and window.is_window and not grid.is_window
    assert window.origin == (2, 3)
    np.testing.assert_array_equal(window.xs, grid.xs[3:10])
    np.testing.assert_array_equal(window.ys, grid.ys[2:5])
    np.testing.assert_array_equal(
        window.points(), grid.points().reshape(7, 10, 2)[2:5, 3:10].reshape(-1, 2)
    )
    assert window.x_range == (grid.xs[3], grid.xs[9])
    inner = window[1:, :-2]  # windows of windows compose
    assert inner.origin == (3, 3) and inner.shape == (2, 5)
    assert inner == grid[3:5, 3:8] and inner.whole == grid
    assert pickle.loads(pickle.dumps(inner)) == inner
    assert grid[:, :] == grid and "[3:5, 3:8]" in repr(inner)


@pytest.mark.parametrize(
    ("key", "error", "match"),
    [
        ((slice(0, 0), slice(None)), ValueError, "at least one pixel"),
        ((slice(None, None, 2), slice(None)), ValueError, "step 1"),
        ((1, slice(None)), TypeError, "takes slices"),
        (slice(None), TypeError, "two slices"),
    ],
)
def test_bad_windows(key, error, match):
    with pytest.raises(error, match=match):
        gmmfast.Grid(4, 4)[key]
