"""Static interactive forms of the explorers: precomputed frames behind a slider, for the HTML book.

A built book has no Python kernel, so an ipywidgets slider there cannot recompute anything.  Instead the
book sweeps an explorer's most instructive parameter once, at build time, and embeds the frames in
matplotlib's ``to_jshtml`` player (an ``<input type=range>`` that swaps base64 images).  It needs no
server, no kernel and no JavaScript library, so the page works offline.  (plotly slider steps were the
other option measured; plotly is not a dependency of segmath, and the explorers are matplotlib figures.)

Two changes to matplotlib's player keep the page self-contained and within its budget:

* frames are palette PNGs (at most 128 colours): line plots on a white background lose nothing
  visible, and a frame shrinks about 3x against matplotlib's RGBA PNG;
* the player's Font Awesome stylesheet, loaded from a CDN, is removed and its icons become text
  glyphs, so the page makes no external request.

The live explorer (every parameter, recomputed per step) stays one call away in a running notebook:
``imbalance_explorer()`` / ``surrogate_explorer()``.
"""
from __future__ import annotations

import base64
import html
import io
import re
import tempfile
from pathlib import Path

import numpy as np

from .render import BOOK_DPI

__all__ = ["StaticExplorer", "static_explorer", "surrogate_static", "imbalance_static", "shapes_static"]

MAX_BYTES = 1_500_000     # the page-weight budget of one explorer (all its sliders together)

# text glyphs every font has (the media-control block U+23E9.. is missing from many): the buttons keep
# their title and aria-label, which say what they do
_GLYPHS = {"minus": "&minus;", "fast-backward": "&laquo;", "step-backward": "&lsaquo;",
           "play fa-flip-horizontal": "&#x25C0;", "pause": "||", "play": "&#x25B6;",
           "step-forward": "&rsaquo;", "fast-forward": "&raquo;", "plus": "+"}


def _palette_png(fig, colors: int) -> bytes:
    """The figure drawn by Agg and encoded as a palette PNG of at most ``colors`` colours."""
    from PIL import Image
    fig.canvas.draw()
    rgb = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])
    buf = io.BytesIO()
    rgb.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(buf, format="png", optimize=True)
    return buf.getvalue()


def _writer(colors: int, fps: float):
    from matplotlib.animation import HTMLWriter

    class PaletteHTMLWriter(HTMLWriter):
        """matplotlib's HTML player with palette-PNG frames (see the module docstring)."""

        def grab_frame(self, **savefig_kwargs):
            self._saved_frames.append(base64.encodebytes(_palette_png(self.fig, colors)).decode("ascii"))

    return PaletteHTMLWriter(fps=fps, embed_frames=True, default_mode="once")


def _self_contained(player: str) -> str:
    """matplotlib's player without its CDN stylesheet, its icons as text glyphs."""
    player = re.sub(r"<link[^>]*font-awesome[^>]*>", "", player, flags=re.S)
    for name, glyph in sorted(_GLYPHS.items(), key=lambda kv: -len(kv[0])):
        player = player.replace(f'<i class="fa fa-{name}"></i>', f'<span aria-hidden="true">{glyph}</span>')
    if re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", player):
        raise RuntimeError("the static explorer would load an external resource")
    return player


class StaticExplorer:
    """An explorer's frames over one parameter, shown as HTML (``_repr_html_``) by Jupyter and the book.

    Attributes: ``parameter``, ``values`` (one per frame), ``html`` (the player) and ``nbytes``.
    """

    def __init__(self, explorer, parameter: str, values, *, label: str | None = None, colors: int = 128,
                 fps: float = 4.0):
        from matplotlib.animation import FuncAnimation
        values = [float(v) for v in np.asarray(values, dtype=float).ravel()]
        if parameter not in explorer.state:
            raise ValueError(f"parameter must be one of {sorted(explorer.state)}, got {parameter!r}")
        if len(values) < 2:
            raise ValueError(f"values must hold at least two frames, got {len(values)}")
        if not 2 <= int(colors) <= 256:
            raise ValueError(f"colors must be in [2, 256], got {colors!r}")
        self.parameter, self.values = parameter, values
        start = dict(explorer.state)
        anim = FuncAnimation(explorer.fig, lambda v: explorer.update(**{parameter: v}), frames=values,
                             init_func=lambda: None, cache_frame_data=False, repeat=False)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "explorer.html")
            anim.save(str(path), writer=_writer(int(colors), fps))
            player = path.read_text(encoding="utf-8")
        explorer.update(**start)                    # leave the explorer as it was given
        label = label or parameter
        caption = (f'<p class="segmath-static-caption">Drag the slider (or use the arrow keys): '
                   f"{html.escape(label)} from {values[0]:.3g} to {values[-1]:.3g}, {len(values)} "
                   "precomputed frames. The live explorer, with every slider, runs in a notebook.</p>")
        self.html = (f'<div class="segmath-static-explorer" data-parameter="{html.escape(parameter)}">'
                     f"{caption}{_self_contained(player)}</div>")
        self.nbytes = len(self.html.encode("utf-8"))

    def _repr_html_(self) -> str:
        return self.html


class _Group:
    """Several static explorers shown one under the other, within one page-weight budget."""

    def __init__(self, parts):
        self.parts = list(parts)
        self.nbytes = sum(p.nbytes for p in self.parts)
        if self.nbytes > MAX_BYTES:
            raise RuntimeError(f"static explorer is {self.nbytes} bytes, over the {MAX_BYTES}-byte budget")

    def _repr_html_(self) -> str:
        return "".join(p.html for p in self.parts)


def static_explorer(explorer, sweeps, **kwargs):
    """Static forms of ``explorer`` for each ``(parameter, values, label)`` of ``sweeps``, in one output.

    Each sweep starts from the explorer's current state and moves one parameter; the total page weight
    must stay within :data:`MAX_BYTES`.
    """
    return _Group(StaticExplorer(explorer, p, v, label=lab, **kwargs) for p, v, lab in sweeps)


def _figure_explorer(cls, dpi):
    return cls(pyplot=False, dpi=dpi)


def surrogate_static(dpi: float = BOOK_DPI, frames: int = 21):
    """The surrogate explorer of chapter 2 over the posterior eta (focal gamma = 2): the minimisers
    move with eta, and the focal one stays between 1/2 and eta."""
    from .surrogate import SurrogateExplorer
    ex = _figure_explorer(SurrogateExplorer, dpi)
    return static_explorer(ex, [("eta", np.linspace(0.5, 0.98, frames), "posterior η")])


def imbalance_static(dpi: float = BOOK_DPI, frames: int = 15):
    """The imbalance explorer of chapter 3 over the foreground fraction (log-spaced; the Dice mark moves,
    the accuracy and weighted-CE marks do not) and over the class weight at pi = 0.05 (the weighted-CE
    mark sweeps across the balanced-accuracy and Dice marks)."""
    from .imbalance import ImbalanceExplorer
    ex = _figure_explorer(ImbalanceExplorer, dpi)
    return static_explorer(ex, [("foreground", np.geomspace(0.002, 0.5, frames), "foreground fraction π"),
                                ("weight", np.geomspace(0.5, 100.0, frames), "class weight w₁/w₀")])


class _ShapeSweep:
    """A :class:`~segmath.teaching.widgets.shapes.ShapeView` with the ``state`` dict and partial
    ``update`` that :class:`StaticExplorer` expects (the view's own ``update`` takes every parameter)."""

    def __init__(self, target, dpi):
        from .shapes import ShapeView
        self.state = dict(dx=0.0, dy=0.0, scale=1.0, grow=0, outlier=0)
        self.view = ShapeView(target=target, dpi=dpi, **self.state)
        self.fig = self.view.fig

    def update(self, **params):
        self.state.update(params)
        self.view.update(**self.state)


def shapes_static(dpi: float = BOOK_DPI, frames: int = 13, target: str = "horse"):
    """The boundary explorer of chapter 9 over the radius of a detached outlier disk (0 to 6 pixels,
    from the exact prediction): Dice and IoU barely move, the Hausdorff distance jumps to the outlier's
    distance at the first pixel, and HD95 stays small until the outlier holds enough of the boundary."""
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 2:
        raise ValueError(f"frames must be an integer >= 2, got {frames!r}")
    ex = _ShapeSweep(target, dpi)
    return static_explorer(ex, [("outlier", np.linspace(0.0, 6.0, frames), "outlier radius (px)")])
