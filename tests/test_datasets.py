"""The shipped demo models and their training images."""

import numpy as np
import pytest

import gmmfast
from gmmfast import datasets


def test_china_edges_is_a_line_drawing():
    edges = datasets.china_edges()
    assert edges.shape == (427, 640) and edges.dtype == np.uint8
    assert set(np.unique(edges)) == {0, 255}
    assert 0.07 < np.mean(edges == 0) < 0.09  # the top 8 % of gradients


@pytest.mark.parametrize(
    ("name", "k", "d", "mode"), [("china-bw", 500, 2, "bw"), ("flower-color", 1000, 5, "color")]
)
def test_demo_models_ship_with_the_package(name, k, d, mode):
    model = datasets.demo_model(name)
    assert (model.n_components, model.n_features, model.covariance_type) == (k, d, "full")
    assert model.metadata["mode"] == mode
    assert (model.metadata["width"], model.metadata["height"]) == (640, 427)
    # The model describes its training data: the points score far above random pixels.
    points = datasets.demo_points(name)[::50]
    rng = np.random.default_rng(0)
    lo, hi = points.min(axis=0), points.max(axis=0)
    uniform = rng.uniform(lo, hi, size=points.shape)
    assert (
        gmmfast.score_samples(model, points).mean()
        > gmmfast.score_samples(model, uniform).mean() + 1
    )


def test_unknown_demo_model():
    with pytest.raises(ValueError, match="unknown demo model 'nope'"):
        datasets.demo_model("nope")
