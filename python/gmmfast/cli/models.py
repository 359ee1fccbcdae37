"""What a model file says about the picture it was fitted on: its mode (bw or colour), its
features, the source image's size, and the pixel grid a render lays over that picture."""

from __future__ import annotations

from .arguments import MAX_PIXELS, MAX_SIDE, too_large
from .messages import CommandError, UsageError

FEATURE_NAMES = {"bw": ("x", "y"), "color": ("x", "y", "r", "g", "b")}


MODE_TEXT = {
    "bw": "black and white: (x, y) of the dark pixels",
    "color": "colour: (x, y, r, g, b) of every pixel",
}


def model_mode(model, path: str) -> str | None:
    """'bw', 'color' or None (neither: a model saved from Python over other features)."""
    mode = model.metadata.get("mode")
    if mode is None:  # saved from Python without metadata: guess from the features
        mode = {2: "bw", 5: "color"}.get(model.n_features)
    elif mode not in FEATURE_NAMES:
        raise CommandError(f"{path} has an unknown mode {mode!r} in its metadata")
    if mode is not None and model.n_features != len(FEATURE_NAMES[mode]):
        raise CommandError(
            f"{path} says mode {mode!r} ({len(FEATURE_NAMES[mode])} features) but its "
            f"mixture has {model.n_features} features"
        )
    if model.n_features < 2:
        raise CommandError(f"{path} holds a mixture of 1 feature: it has no (x, y) to render")
    return mode


def source_size(model) -> tuple | None:
    """(width, height) of the image the model was fitted on, from its metadata."""
    width, height = model.metadata.get("width"), model.metadata.get("height")
    sizes = (width, height)
    if all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in sizes):
        return sizes
    return None


def resolve_dims(model, mode, given, path: str) -> tuple:
    """``--dims`` as two distinct feature indices of ``model`` ((0, 1) if not given)."""
    if given is None:
        return (0, 1)
    names = FEATURE_NAMES.get(mode, ())
    dims = []
    for token in given:
        if token.lower() in names:
            dims.append(names.index(token.lower()))
        elif token.isdigit() and int(token) < model.n_features:
            dims.append(int(token))
        else:
            known = f"{', '.join(names)} or " if names else ""
            raise UsageError(
                f"--dims: {path} has no feature {token!r}: it has {model.n_features} features "
                f"({known}0 to {model.n_features - 1})"
            )
    if dims[0] == dims[1]:
        raise UsageError(f"--dims needs two different features, got {','.join(given)}")
    return tuple(dims)


def feature_names(model, mode) -> tuple:
    return FEATURE_NAMES.get(mode) or tuple(str(i) for i in range(model.n_features))


def _feature_extents(model, mode, dims) -> tuple:
    """(across, down): how many source pixels (x, y) or colour levels (r, g, b: 256) span
    each of ``dims``, None where the model does not say."""
    source = source_size(model) or (None, None)
    known = {0: source[0], 1: source[1]}
    if mode == "color":
        known.update({2: 256, 3: 256, 4: 256})
    return tuple(known.get(dim) for dim in dims)


def render_grid(model, size, path: str, limit: bool = True, dims=(0, 1), mode=None):
    """The grid of ``size`` pixels (default: the source image's) over the source picture.

    Pixel (i, j) of the source image is at (x=j, y=i), its pixels span [−½, w − ½] ×
    [−½, h − ½]; a grid of W × H pixels over the same picture has its centres at
    −½ + (j + ½)·w/W, which is exactly the source's own grid when W = w and H = h.

    With other ``dims`` (features across and down) each axis spans its feature the same way:
    x and y the source picture, a colour r, g or b its 256 levels (pixel centres 0 … 255 at
    the default size); a feature of unknown extent one unit per pixel, at ``size``.
    """
    from .._grid import Grid

    source = _feature_extents(model, mode, dims)
    if size is None:
        if tuple(dims) == (0, 1) and None in source:
            raise CommandError(
                f"{path} does not record the size of its source image: give --size WxH"
            )
        if None in source:
            raise CommandError(
                f"{path} does not say what range its features "
                f"{', '.join(feature_names(model, mode)[d] for d in dims)} span: give "
                "--size WxH (one unit per pixel)"
            )
        if limit and too_large(*source):
            raise CommandError(
                f"{path} records a source image of {source[0]}x{source[1]} pixels, more than "
                f"render draws (at most {MAX_SIDE} a side, {MAX_PIXELS} in all): give --size WxH"
            )
        size = source
    width, height = size
    src_w = width if source[0] is None else source[0]
    src_h = height if source[1] is None else source[1]

    def axis(n: int, src: int) -> tuple:
        half = 0.5 * src / n
        return (-0.5 + half, src - 0.5 - half)

    return Grid(width, height, axis(width, src_w), axis(height, src_h))
