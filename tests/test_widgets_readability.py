"""The explorers' figures read at page width: at most two panels, 7 in wide, no text under 10 pt,
legends outside the data, and the palette PNGs of the live view faithful to the drawn frame.

Oracles: matplotlib's own geometry (axes and legend window extents after a draw), PIL's PNG decoder.
"""
from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from matplotlib.legend import Legend  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from PIL import Image  # noqa: E402

from segmath.teaching.widgets import imbalance, render, shapes, surrogate  # noqa: E402

FIGURES = {
    "imbalance (book)": lambda: imbalance.ImbalanceExplorer(pyplot=False).fig,
    "imbalance (live)": lambda: imbalance.ImbalanceExplorer(pyplot=False, live=True).fig,
    "surrogate (book)": lambda: surrogate.SurrogateExplorer(pyplot=False).fig,
    "surrogate (live)": lambda: surrogate.SurrogateExplorer(pyplot=False, live=True).fig,
    "calibration": lambda: surrogate.calibration_figure(pyplot=False),
    "shapes (book)": lambda: shapes.shape_figure(dx=4, outlier=3),
    "shapes (live)": lambda: shapes.ShapeView(live=True, outlier=6, dx=-5).fig,
}


def _panels(fig):
    """Distinct panels: axes that share a position (a twin axis) count once."""
    return {tuple(np.round(ax.get_position().bounds, 3)) for ax in fig.axes}


@pytest.mark.parametrize("name", FIGURES)
def test_at_most_two_panels_at_page_width_with_10pt_text(name):
    fig = FIGURES[name]()
    fig.canvas.draw()
    assert len(_panels(fig)) <= 2
    assert fig.get_figwidth() <= render.PAGE_WIDTH + 1e-9
    small = [(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.get_fontsize() < render.FONT_SIZE - 1e-9]
    assert not small, small


@pytest.mark.parametrize("name", FIGURES)
def test_legends_do_not_cover_the_data(name):
    fig = FIGURES[name]()
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    legends = fig.findobj(Legend)
    axes = [ax.get_window_extent(r) for ax in fig.axes if ax.get_visible() and ax.axison]
    for leg in legends:
        box = leg.get_window_extent(r)
        assert all(not box.overlaps(a) for a in axes), name
    # and nothing is cut at the figure's edges
    for leg in legends:
        box, page = leg.get_window_extent(r), fig.bbox
        assert box.x0 >= page.x0 - 1 and box.x1 <= page.x1 + 1 and box.y0 >= page.y0 - 1, name


def test_palette_png_is_the_frame():
    fig = surrogate.SurrogateExplorer(pyplot=False, live=True).fig
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    png = render.encode_png(rgba)
    back = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)
    assert back.shape == rgba.shape[:2] + (3,)
    err = np.abs(back - rgba[..., :3]).mean(axis=-1)
    assert err.mean() < 1.0 and np.quantile(err, 0.999) < 40


def test_frame_cache_keeps_the_last_frames():
    cache = render.FrameCache(2)
    cache.put("a", 1), cache.put("b", 2)
    assert cache.get("a") == 1                   # "a" is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3


@pytest.mark.parametrize("make, state", [(imbalance.ImbalanceExplorer, {"foreground": 0.2}),
                                         (surrogate.SurrogateExplorer, {"eta": 0.3, "gamma": 1.0})])
def test_live_readout_states_the_numbers(make, state):
    ex = make(pyplot=False, live=True, **state)
    html = ex.readout()
    if make is imbalance.ImbalanceExplorer:
        m = imbalance.expected_metrics(0.5, 0.2, imbalance.DEFAULTS["separation"])
        assert f"Dice {float(m['dice']):.3f}" in html and "π = 0.2" in html
    else:
        assert f"focal {surrogate.minimiser('focal', 0.3, 1.0):.3f}" in html
    assert ex.dynamic_artists() and not any(isinstance(a, Text) for a in ex.dynamic_artists())


def test_next_value_is_one_more_step_within_the_slider():
    import ipywidgets as W
    lin = W.FloatSlider(0.5, min=0.01, max=0.99, step=0.01)
    assert render.next_value(lin, 0.5, 0.51) == pytest.approx(0.52)
    assert render.next_value(lin, 0.99, 0.98) == pytest.approx(0.97)
    assert render.next_value(lin, 0.98, 0.99) is None and render.next_value(lin, None, 0.5) is None
    log = W.FloatLogSlider(1.0, base=10, min=-1, max=3, step=0.01)
    assert render.next_value(log, 1.0, 10 ** 0.01) == pytest.approx(10 ** 0.02)
    ints = W.IntSlider(0, min=-4, max=4)
    assert render.next_value(ints, 1, 2) == 3 and isinstance(render.next_value(ints, 1, 2), int)
    # the value predicted here and the value the slider sends meet in the cache
    assert render.state_key({"t": 0.1 + 0.2}) == render.state_key({"t": 0.3})


def test_live_explorer_renders_the_next_step_ahead():
    import time
    import ipywidgets as W
    box = surrogate.surrogate_explorer()
    eta = next(w for row in box.children if isinstance(row, W.HBox) for w in row.children
               if w.description.startswith("posterior"))
    eta.value = 0.81
    eta.value = 0.82                                   # 0.83 is rendered ahead
    source, deadline = box.callback.source, time.time() + 60
    while time.time() < deadline:
        with source.lock:
            ahead = source.cache.get(render.state_key({"eta": 0.83, "gamma": 2.0}))
        if ahead is not None:
            break
        time.sleep(0.05)
    assert ahead is not None
    fresh = surrogate.surrogate_explorer(eta=0.83)      # the frame drawn directly for that state
    assert ahead[0] == fresh.children[-1].value
    eta.value = 0.83
    assert box.children[-1].value == ahead[0]
