"""The static (precomputed-frame) forms of the explorers that the HTML book shows.

Oracle for the frames: each embedded frame is compared with the explorer's figure drawn afresh by Agg at
that frame's parameter value (a new explorer, no player involved); it must match its own value far better
than the neighbouring ones.  The self-containment check is a regex over the player's HTML for any
``src``/``href`` to another host.
"""
from __future__ import annotations

import base64
import io
import re

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from PIL import Image  # noqa: E402

from segmath.teaching.widgets import imbalance, shapes, static, surrogate  # noqa: E402

DPI = 30            # small frames: the tests check the mechanism, not the book's resolution


def _frames(html):
    """The player's frames, decoded, in order (matplotlib's player keeps them as base64 data URIs)."""
    data = re.findall(r'frames\[\d+\] = "data:image/png;base64,([^"]+)"', html.replace("\\\n", ""))
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(d))).convert("RGB"), dtype=float) for d in data]


def _fresh_render(cls, **state):
    ex = cls(pyplot=False, dpi=DPI, **state)
    ex.fig.canvas.draw()
    return np.asarray(ex.fig.canvas.buffer_rgba())[..., :3].astype(float)


@pytest.fixture(scope="module")
def surrogate_player():
    ex = surrogate.SurrogateExplorer(pyplot=False, dpi=DPI)
    values = [0.55, 0.75, 0.95]
    return ex, values, static.StaticExplorer(ex, "eta", values, label="posterior η")


def test_frames_show_the_explorer_at_each_value(surrogate_player):
    _, values, player = surrogate_player
    frames = _frames(player.html)
    assert len(frames) == len(values)
    fresh = [_fresh_render(surrogate.SurrogateExplorer, eta=v) for v in values]
    assert frames[0].shape == fresh[0].shape
    for k, frame in enumerate(frames):
        dist = [np.abs(frame - f).mean() for f in fresh]
        assert int(np.argmin(dist)) == k, dist
        assert dist[k] < 0.25 * min(d for j, d in enumerate(dist) if j != k), dist


def test_player_is_self_contained_and_labelled(surrogate_player):
    ex, values, player = surrogate_player
    html = player.html
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    assert "font-awesome" not in html and 'class="fa ' not in html
    assert 'type="range"' in html and 'data-parameter="eta"' in html and "posterior η from 0.55 to 0.95" in html
    assert player.nbytes == len(html.encode()) and player._repr_html_() == html
    assert ex.state["eta"] == surrogate.DEFAULTS["eta"]          # the sweep leaves the explorer as it was


def test_book_explorers_within_budget():
    # the book's own sweeps (as chapters 2 and 3 call them), at their default resolution
    # (chapter 9: shapes_static)
    for make, sliders in ((static.surrogate_static, 1), (static.imbalance_static, 2),
                          (static.shapes_static, 1)):
        group = make()
        assert len(group.parts) == sliders
        assert 100_000 < group.nbytes <= static.MAX_BYTES, (make.__name__, group.nbytes)
        for part in group.parts:
            frames = _frames(part.html)
            assert len(frames) == len(part.values)
            changed = (frames[0] != frames[-1]).any(axis=-1).mean()    # fraction of pixels that differ
            assert changed > 0.002, (part.parameter, changed)          # the picture changes along the slider


def test_over_budget_is_refused(monkeypatch, surrogate_player):
    _, _, player = surrogate_player
    monkeypatch.setattr(static, "MAX_BYTES", player.nbytes - 1)
    with pytest.raises(RuntimeError, match="budget"):
        static._Group([player])


def test_self_contained_strips_the_cdn_stylesheet_and_refuses_external_sources():
    player = ('<link rel="stylesheet"\nhref="https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/css/'
              'font-awesome.min.css">\n<button><i class="fa fa-play"></i></button>')
    out = static._self_contained(player)
    assert "maxcdn" not in out and "fa-play" not in out and "&#x25B6;" in out
    with pytest.raises(RuntimeError, match="external"):
        static._self_contained('<img src="https://example.org/x.png">')


@pytest.mark.parametrize("kwargs, match", [
    (dict(parameter="nope", values=[0.1, 0.2]), "parameter"),
    (dict(parameter="foreground", values=[0.1]), "values"),
    (dict(parameter="foreground", values=[0.1, 0.2], colors=1), "colors"),
])
def test_bad_arguments(kwargs, match):
    ex = imbalance.ImbalanceExplorer(pyplot=False)
    with pytest.raises(ValueError, match=match):
        static.StaticExplorer(ex, **kwargs)


def _fresh_shape(**params):
    # the figure drawn afresh by shapes.shape_figure, no sweep adapter or player involved
    fig = shapes.shape_figure(dpi=DPI, **params)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float)


@pytest.fixture(scope="module")
def shapes_player():
    ex = static._ShapeSweep("horse", DPI)
    values = [0.0, 2.0, 5.0]
    return ex, values, static.StaticExplorer(ex, "outlier", values, label="outlier radius (px)")


def test_shapes_frames_show_the_figure_at_each_outlier_radius(shapes_player):
    ex, values, player = shapes_player
    frames = _frames(player.html)
    assert len(frames) == len(values)
    fresh = [_fresh_shape(outlier=v) for v in values]
    assert frames[0].shape == fresh[0].shape
    for k, frame in enumerate(frames):
        dist = [np.abs(frame - f).mean() for f in fresh]
        assert int(np.argmin(dist)) == k, dist
        assert dist[k] < 0.25 * min(d for j, d in enumerate(dist) if j != k), dist
    assert ex.state["outlier"] == 0 and ex.view.state.params["outlier"] == 0   # left as it was
    assert "outlier radius (px) from 0 to 5" in player.html


def test_shapes_static_sweeps_the_outlier_radius():
    group = static.shapes_static(dpi=DPI, frames=4)
    (part,) = group.parts
    assert part.parameter == "outlier" and part.values == [0.0, 2.0, 4.0, 6.0]
    assert len(_frames(part.html)) == 4


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(frames=1), ValueError, "frames"),
    (dict(frames=2.5), ValueError, "frames"),
    (dict(frames=True), ValueError, "frames"),
    (dict(target="cat"), ValueError, "target"),
])
def test_shapes_static_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        static.shapes_static(dpi=DPI, **kwargs)


def test_shapes_sweep_refuses_an_unknown_parameter():
    with pytest.raises(ValueError, match="parameter"):
        static.StaticExplorer(static._ShapeSweep("disk", DPI), "angle", [0.0, 1.0])
