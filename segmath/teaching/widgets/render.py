"""Rendering shared by the explorers: figures for the book or for a widget, blitted PNG frames,
and the ipywidgets box that wires sliders to an explorer's ``update``."""
from __future__ import annotations

import io

import numpy as np

__all__ = ["new_figure", "FastRenderer", "widget_frame", "explorer_box", "explorer_widget", "checked_state"]


def new_figure(pyplot: bool, **kwargs):
    """A figure managed by pyplot (shown by ``plt.show()`` in the book) or a bare Agg figure (widgets)."""
    if pyplot:
        import matplotlib.pyplot as plt
        return plt.figure(**kwargs)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(dpi=72, **kwargs)      # a live frame: fewer pixels to draw and encode than the book's figure
    FigureCanvasAgg(fig)
    return fig


class FastRenderer:
    """Renders an explorer's frames by blitting: axes, ticks and legends are drawn once, and each frame
    redraws only the artists a callback changes, then encodes a PNG (what the ipywidgets ``Image`` shows).

    Axis limits must not change between frames (the explorers keep them fixed).
    """

    def __init__(self, fig, artists):
        self.fig, self.artists = fig, list(artists)
        fig.canvas.draw()                       # settle the layout, then freeze it
        fig.set_layout_engine("none")
        for a in self.artists:
            a.set_animated(True)
        fig.canvas.draw()                       # the static background, without the animated artists
        self.background = fig.canvas.copy_from_bbox(fig.bbox)

    def png(self) -> bytes:
        from PIL import Image
        canvas = self.fig.canvas
        canvas.restore_region(self.background)
        for a in self.artists:
            self.fig.draw_artist(a)
        buf = io.BytesIO()
        Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3]).save(buf, format="png", compress_level=1)
        return buf.getvalue()


def widget_frame(explorer, renderer, image_widget):
    """The callback body shared by the explorers: recompute, redraw the changed artists, show the PNG."""
    def callback(**values):
        result = explorer.update(**values)
        image_widget.value = renderer.png()
        return result
    return callback


def explorer_box(explorer, controls, rows=None):
    """Sliders (``controls``: name -> widget) above the explorer's live image, in ``rows`` of names
    (one row of all controls by default).  The box's ``callback`` attribute is what the sliders call
    (``benchmarks/widgets.py`` times a slider step end to end)."""
    import ipywidgets as W

    image = W.Image(format="png")
    callback = widget_frame(explorer, FastRenderer(explorer.fig, explorer.dynamic_artists()), image)
    W.interactive_output(callback, controls)
    rows = rows or (tuple(controls),)
    box = W.VBox([W.HBox([controls[name] for name in row]) for row in rows] + [image])
    box.callback = callback
    return box


def explorer_widget(explorer_cls, state, controls, rows=None):
    """The ipywidgets box of ``explorer_cls(pyplot=False, **state)``: ``controls(W, state, style)``
    builds its sliders (name -> widget) from ``ipywidgets`` as ``W``, the explorer's checked state
    and the slider style; ``rows`` as in :func:`explorer_box`."""
    import ipywidgets as W

    style = {"description_width": "initial"}   # the whole label, not cut at 80 px
    explorer = explorer_cls(pyplot=False, **state)
    return explorer_box(explorer, controls(W, explorer.state, style), rows=rows)


def checked_state(state, defaults):
    """``state`` after checking that it only names parameters the explorer has (``defaults``' keys)."""
    unknown = set(state) - set(defaults)
    if unknown:
        raise ValueError(f"unknown explorer parameter(s) {sorted(unknown)}; known: {sorted(defaults)}")
    return state
