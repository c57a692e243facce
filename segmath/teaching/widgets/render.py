"""Rendering shared by the explorers: figures for the book or for a widget, blitted PNG frames,
and the ipywidgets box that wires sliders to an explorer's ``update``."""
from __future__ import annotations

import io

import numpy as np

__all__ = ["new_figure", "encode_png", "FastRenderer", "FrameCache", "FrameSource", "state_key", "next_value",
           "widget_frame", "explorer_box", "explorer_widget",
           "checked_state", "LIVE_DPI", "BOOK_DPI", "PAGE_WIDTH", "FONT_SIZE"]


LIVE_DPI = 80       # live frames: 6.8 in wide -> 544 px, 10-pt text -> 11 px; fewer pixels to draw and encode
BOOK_DPI = 100      # the static frames: 6.8 in -> 680 px, the scale of the chapters' own figures (figure.dpi 100)
PAGE_WIDTH = 6.8    # inches, the chapters' figure width: shown at page width, 10-pt text stays 10 pt
FONT_SIZE = 10.0


def new_figure(pyplot: bool, dpi: float | None = None, **kwargs):
    """A figure managed by pyplot (shown by ``plt.show()`` in the book) or a bare Agg figure (widgets).

    Every explorer figure is :data:`PAGE_WIDTH` inches wide and sets no text below :data:`FONT_SIZE`
    points (matplotlib's default ``font.size``, which the chapters keep)."""
    if pyplot:
        import matplotlib.pyplot as plt
        return plt.figure(**({"dpi": dpi} if dpi else {}), **kwargs)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(dpi=dpi or LIVE_DPI, **kwargs)
    FigureCanvasAgg(fig)
    return fig


def encode_png(rgba, colors: int = 96) -> bytes:
    """An RGBA frame (H, W, 4) as a palette PNG of at most ``colors`` colours: line plots on white lose
    nothing visible, and a palette PNG is about 3x smaller and faster to encode and decode than RGB."""
    from PIL import Image
    img = Image.fromarray(np.asarray(rgba)[..., :3]).quantize(colors=colors, method=Image.Quantize.FASTOCTREE)
    # the octree's bins put pure white at 254: snap the palette's near-extreme channels back (the background)
    pal = np.asarray(img.getpalette(), dtype=np.int16)
    img.putpalette(np.where(pal >= 252, 255, np.where(pal <= 3, 0, pal)).astype(np.uint8).tolist())
    buf = io.BytesIO()
    img.save(buf, format="png", compress_level=1)
    return buf.getvalue()


class FastRenderer:
    """Renders an explorer's frames by blitting: axes, ticks and legends are drawn once, and each frame
    redraws only the artists a callback changes, then encodes a palette PNG (what the ``Image`` shows).

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
        canvas = self.fig.canvas
        canvas.restore_region(self.background)
        for a in self.artists:
            self.fig.draw_artist(a)
        return encode_png(canvas.buffer_rgba())


class FrameCache:
    """The last ``size`` frames by state: a slider dragged back over values already seen answers at once."""

    def __init__(self, size: int = 256):
        from collections import OrderedDict
        self.size, self.frames = int(size), OrderedDict()

    def get(self, key):
        if key in self.frames:
            self.frames.move_to_end(key)
            return self.frames[key]
        return None

    def put(self, key, value):
        self.frames[key] = value
        if len(self.frames) > self.size:
            self.frames.popitem(last=False)


def state_key(values: dict):
    """A frame cache's key for a state: floats to 9 significant digits, so that a value the browser's
    slider computed and the same value predicted here (one step on) meet in the cache."""
    return tuple(sorted((k, float(f"{v:.9g}") if isinstance(v, float) else v) for k, v in values.items()))


def next_value(slider, old, new):
    """The value one more step of the same size and direction would give (``None`` past the slider's end):
    additive for a linear slider, multiplicative for a ``FloatLogSlider``."""
    if old is None or new == old:
        return None
    log = hasattr(slider, "base")
    nxt = new * (new / old) if log and old > 0 and new > 0 else new + (new - old)
    lo, hi = (slider.base ** slider.min, slider.base ** slider.max) if log else (slider.min, slider.max)
    if not lo - 1e-12 <= nxt <= hi + 1e-12:
        return None
    return type(new)(round(nxt)) if isinstance(new, int) else float(nxt)


class FrameSource:
    """Frames by state, from a cache, with a background thread that renders the next frame ahead.

    ``render(values) -> frame`` draws one state (the explorer's figure is not thread-safe: every render
    holds one lock).  :meth:`frame` is what a slider's callback calls; :meth:`ahead` asks the worker to
    render a state the reader is likely to ask for next (the next step of the slider that just moved) while
    the kernel would otherwise wait for the next key: a slider moved step by step in one direction then
    answers from the cache.  Only the latest request is kept, so a fast drag never queues stale work.
    """

    def __init__(self, render, size: int = 256):
        import threading
        self.render, self.cache = render, FrameCache(size)
        self.lock, self.wake = threading.Lock(), threading.Condition()
        self.pending, self.worker = None, None

    def frame(self, values: dict):
        key = state_key(values)
        with self.lock:
            hit = self.cache.get(key)
            if hit is None:
                hit = self.render(dict(values))
                self.cache.put(key, hit)
        return hit

    def ahead(self, values: dict):
        import threading
        with self.wake:
            self.pending = dict(values)
            self.wake.notify()
        if self.worker is None or not self.worker.is_alive():
            self.worker = threading.Thread(target=self._work, name="segmath-explorer-prefetch", daemon=True)
            self.worker.start()

    def _work(self):
        while True:
            with self.wake:
                if self.pending is None and not self.wake.wait(timeout=30):
                    return                              # idle for 30 s: the thread ends (a new one starts later)
                values, self.pending = self.pending, None
            if values is not None:
                self.frame(values)


def widget_frame(explorer, renderer, image_widget, readout=None, cache: int = 256):
    """The callback body shared by the explorers: recompute, redraw the changed artists, show the PNG
    (and the explorer's HTML readout of the numbers, when it has one).  Frames come from a
    :class:`FrameSource` (the callback's ``source`` attribute), which keeps the last ``cache`` of them."""
    def render(values):
        result = explorer.update(**values)
        return renderer.png(), (explorer.readout() if readout is not None else None), result

    source = FrameSource(render, size=max(int(cache), 1))

    def callback(**values):
        png, text, result = source.frame(values)
        if readout is not None:
            readout.value = text
        image_widget.value = png
        return result
    callback.source = source
    return callback


def explorer_box(explorer, controls, rows=None, cache: int = 256, prefetch: bool = True):
    """Sliders (``controls``: name -> widget) above the explorer's live image, in ``rows`` of names
    (one row of all controls by default), with the explorer's HTML readout (``explorer.readout()``)
    between them when it has one.  Each slider's change calls the box's ``callback`` attribute with
    every slider's value (``benchmarks/widgets.py`` times it, ``benchmarks/widget_latency.py`` times a
    key press to the new picture in JupyterLab); the last ``cache`` frames are kept, and with
    ``prefetch`` the next step of the slider that moved is rendered ahead, in the background."""
    import ipywidgets as W

    image = W.Image(format="png")
    readout = W.HTML() if hasattr(explorer, "readout") else None
    callback = widget_frame(explorer, FastRenderer(explorer.fig, explorer.dynamic_artists()), image,
                            readout=readout, cache=cache)

    def on_change(change=None):
        values = {name: w.value for name, w in controls.items()}
        callback(**values)
        if prefetch and change is not None:
            name = next(k for k, w in controls.items() if w is change["owner"])
            nxt = next_value(change["owner"], change["old"], change["new"])
            if nxt is not None:
                callback.source.ahead(dict(values, **{name: nxt}))

    for w in controls.values():                 # observers, not interactive_output: no Output widget to
        w.observe(on_change, names="value")     # clear and capture on every step (three messages fewer)
    on_change()
    rows = rows or (tuple(controls),)
    box = W.VBox([W.HBox([controls[name] for name in row]) for row in rows]
                 + ([readout] if readout is not None else []) + [image])
    box.callback = callback
    return box


def explorer_widget(explorer_cls, state, controls, rows=None):
    """The ipywidgets box of ``explorer_cls(pyplot=False, **state)``: ``controls(W, state, style)``
    builds its sliders (name -> widget) from ``ipywidgets`` as ``W``, the explorer's checked state
    and the slider style; ``rows`` as in :func:`explorer_box`."""
    import ipywidgets as W

    style = {"description_width": "initial"}   # the whole label, not cut at 80 px
    explorer = explorer_cls(pyplot=False, live=True, **state)
    return explorer_box(explorer, controls(W, explorer.state, style), rows=rows)


def checked_state(state, defaults):
    """``state`` after checking that it only names parameters the explorer has (``defaults``' keys)."""
    unknown = set(state) - set(defaults)
    if unknown:
        raise ValueError(f"unknown explorer parameter(s) {sorted(unknown)}; known: {sorted(defaults)}")
    return state
