"""Boundary behaviour: move, scale and deform a predicted shape and watch Dice, IoU, HD, HD95 and the boundary loss.

The target is a fixed mask (the scikit-image horse, a disk or a blob).  The prediction is the target
shifted by ``(dx, dy)`` pixels, scaled by ``scale`` about its centroid, grown (``grow > 0``, a dilation)
or shrunk (``grow < 0``, an erosion) by ``|grow|`` pixels, plus an optional detached ``outlier`` disk
of that radius far from the shape.  The overlap metrics barely notice a small outlier; the Hausdorff
distance jumps to the outlier's distance; HD95 ignores it until it holds more than 5% of the boundary.

All metric values come from the catalogue: :func:`segmath.dice_score`, :func:`segmath.iou`,
:func:`segmath.hausdorff`, :func:`segmath.hd95` and :func:`segmath.boundary_loss`.

* :func:`shape_state` — the masks and the metric values of one setting (pure, no plotting);
* :func:`shape_figure` — a matplotlib figure of one setting (what the book shows statically);
* :func:`shape_explorer` — sliders wired to a :class:`ShapeView`, which redraws in place
  (an update answers in a few tens of milliseconds).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from .render import BOOK_DPI, LIVE_DPI, PAGE_WIDTH, FrameSource, encode_png, next_value

__all__ = ["shape_state", "shape_metrics", "shape_figure", "shape_explorer", "ShapeView", "TARGETS",
           "METRIC_NAMES"]

TARGETS = ("horse", "disk", "blob")
METRIC_NAMES = ("dice", "iou", "hd", "hd95", "boundary")
_LABELS = {"dice": "Dice", "iou": "IoU", "hd": "HD (px)", "hd95": "HD95 (px)", "boundary": "boundary loss"}


@lru_cache(maxsize=None)
def _target(name):
    """The target mask (read-only bool array, about 80 x 100 pixels)."""
    from .. import data
    if name == "horse":
        m = data.horse(size=(82, 100))[1][0] == 1
    elif name == "disk":
        m = data.shapes(1, (82, 100), kind="disk", foreground=0.2, noise=0, seed=0)[1][0] == 1
    elif name == "blob":
        m = data.shapes(1, (82, 100), kind="blob", foreground=0.2, noise=0, seed=2)[1][0] == 1
    else:
        raise ValueError(f"target must be one of {', '.join(map(repr, TARGETS))}; got {name!r}")
    m.setflags(write=False)
    return m


def _deform(target, dx, dy, scale, grow, outlier):
    """The predicted mask: shift + scale about the centroid, then dilate/erode, then add an outlier."""
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale!r}")
    cy, cx = ndimage.center_of_mass(target)
    # affine_transform maps output coordinates o to input coordinates c + (o - c - shift) / scale
    shift = np.array([dy, dx], float)
    centre = np.array([cy, cx])
    offset = centre - (centre + shift) / scale
    pred = ndimage.affine_transform(target.astype(np.float32), np.full(2, 1 / scale), offset=offset,
                                    order=0, mode="constant") > 0.5
    if grow > 0:
        pred = ndimage.distance_transform_edt(~pred) <= grow
    elif grow < 0:
        pred = ndimage.distance_transform_edt(pred) > -grow
    if outlier > 0:
        # a detached disk in the corner farthest from the target's centroid
        h, w = target.shape
        oy = h - 1 - 2 * outlier if cy < h / 2 else 2 * outlier
        ox = w - 1 - 2 * outlier if cx < w / 2 else 2 * outlier
        yy, xx = np.ogrid[:h, :w]
        pred = pred | (np.hypot(yy - oy, xx - ox) <= outlier)
    return pred


def shape_metrics(pred, target):
    """Dice, IoU, HD, HD95 (pixels) and the boundary loss of a hard ``pred`` against ``target`` (2-D bool).

    Empty predictions have no boundary: HD and HD95 follow the catalogue's empty policy.
    """
    import segmath
    p = np.asarray(pred, bool)[None].astype(np.int64)        # (1, H, W) hard labels
    t = np.asarray(target, bool)[None].astype(np.int64)
    prob = np.stack([1.0 - p, p], 1).astype(np.float64)     # (1, 2, H, W) probabilities
    return {
        "dice": float(segmath.dice_score(p, t, num_classes=2, average="binary")),
        "iou": float(segmath.iou(p, t, num_classes=2, average="binary")),
        "hd": float(segmath.hausdorff(p, t, num_classes=2)),
        "hd95": float(segmath.hd95(p, t, num_classes=2)),
        # foreground class only, as Kervadec et al.
        "boundary": float(segmath.boundary_loss(prob, t, from_logits=False, weight=[0.0, 1.0])),
    }


@dataclass(frozen=True)
class ShapeState:
    """One setting: the target, the prediction and their metrics."""
    target: np.ndarray
    pred: np.ndarray
    metrics: dict
    params: dict


def shape_state(dx=0.0, dy=0.0, scale=1.0, grow=0, outlier=0, target="horse"):
    """Masks and metrics for one setting of the sliders (see the module docstring).

    Example:
        >>> from segmath.teaching.widgets.shapes import shape_state
        >>> s = shape_state()
        >>> round(s.metrics["dice"], 6), s.metrics["hd"]
        (1.0, 0.0)
    """
    t = _target(target)
    pred = _deform(t, dx, dy, scale, grow, outlier)
    params = dict(dx=dx, dy=dy, scale=scale, grow=grow, outlier=outlier, target=target)
    return ShapeState(t, pred, shape_metrics(pred, t), params)


def _overlay(target, pred):
    """RGB image: TP grey, FN (missed target) blue, FP (extra prediction) red, background white."""
    img = np.ones(target.shape + (3,))
    img[target & pred] = (0.55, 0.55, 0.55)
    img[target & ~pred] = (0.25, 0.45, 0.95)
    img[~target & pred] = (0.95, 0.30, 0.25)
    return img


def _hd_witness(target, pred):
    """The pair of boundary points at Hausdorff distance (for the red segment in the figure)."""
    best = None
    for a, b in ((pred, target), (target, pred)):
        if not a.any() or not b.any():
            return None
        dist, idx = ndimage.distance_transform_edt(~b, return_indices=True)
        d = np.where(a, dist, -1)
        i = np.unravel_index(np.argmax(d), d.shape)
        if best is None or d[i] > best[0]:
            best = (d[i], i, (idx[0][i], idx[1][i]))
    return best


_COLORS = {"TP": (0.55, 0.55, 0.55), "FN": (0.25, 0.45, 0.95), "FP": (0.95, 0.30, 0.25)}
_BARS = (("dice", "Dice", "#55a868"), ("iou", "IoU", "#4c72b0"), ("hd95", "HD95", "#dd8452"), ("hd", "HD", "#c44e52"))


class ShapeView:
    """A two-panel figure of one setting whose artists are updated in place by :meth:`update`.

    Left: the overlay (TP/FN/FP and the Hausdorff pair).  Right: one panel of bars, the overlap metrics
    (Dice, IoU) on the lower axis from 0 to 1, the distances (HD95, HD) on the upper axis in pixels.  The
    figure is :data:`~.render.PAGE_WIDTH` inches wide with 10-pt text.  The book's figure (``live=False``)
    writes each value at its bar and the setting and boundary loss in its title; the live explorer
    (``live=True``) shows the numbers as HTML beside the image (:meth:`readout`).

    With ``blit=True`` (the explorer) the static parts (axes, ticks, legend) are rendered once and
    :meth:`png` redraws only the changing artists on top of that background (matplotlib's blitting).
    """

    def __init__(self, target="horse", figsize=(PAGE_WIDTH, 3.2), dpi=BOOK_DPI, blit=False, live=False, **params):
        import matplotlib.pyplot as plt
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        self.live = bool(live)
        self.fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        FigureCanvasAgg(self.fig)
        ax_img, ax_b = self.fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.0, 1.1]})
        ax_d = ax_b.twiny()                                   # the distances' axis, on top of the same panel
        self.axes = (ax_img, ax_b, ax_d)
        s = shape_state(target=target, **params)
        self.im = ax_img.imshow(_overlay(s.target, s.pred), interpolation="nearest")
        (self.seg,) = ax_img.plot([], [], "-", color="black", lw=1.5)
        ax_img.set_axis_off()
        handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in _COLORS.values()]
        handles.append(plt.Line2D([], [], color="black", lw=1.5))
        ax_img.legend(handles=handles, labels=[*_COLORS, "Hausdorff pair"], loc="upper center",
                      bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False, handlelength=1.2, columnspacing=1.0)
        diag = float(np.hypot(*s.target.shape))
        self.bars = {}
        for y, (k, _, color) in zip((3, 2, 1, 0), _BARS):
            ax = ax_b if k in ("dice", "iou") else ax_d
            self.bars[k] = ax.barh([y], [0.0], color=color, height=0.7)[0]
        ax_b.set(xlim=(0, 1), ylim=(-0.6, 3.6), yticks=[0, 1, 2, 3], yticklabels=[b[1] for b in _BARS][::-1])
        ax_b.set_xlabel("overlap: Dice, IoU (1 = perfect)")
        ax_d.set_xlim(0, diag / 2)
        ax_d.set_xlabel("distance: HD95, HD in pixels (0 = perfect)")
        ax_b.axhline(1.5, color="0.6", lw=1)
        self.values = {k: (ax_b if k in ("dice", "iou") else ax_d).text(0, y, "", va="center")
                       for y, (k, _, _) in zip((3, 2, 1, 0), _BARS)} if not self.live else {}
        self.title = None if self.live else self.fig.suptitle(" ")
        self.target = target
        self._draw(s)
        self._background = None
        if blit:
            for a in self._dynamic():
                a.set_animated(True)
            self.fig.canvas.draw()                      # lays out and renders the static parts once
            self.fig.set_layout_engine("none")          # keep that layout: the background must match
            self._background = self.fig.canvas.copy_from_bbox(self.fig.bbox)

    def _dynamic(self):
        return [self.im, self.seg, *self.bars.values(), *self.values.values(),
                *([self.title] if self.title is not None else [])]

    def _draw(self, s):
        m = s.metrics
        self.state = s
        self.im.set_data(_overlay(s.target, s.pred))
        w = _hd_witness(s.target, s.pred)
        self.seg.set_data(([w[1][1], w[2][1]], [w[1][0], w[2][0]]) if w else ([], []))
        for k, bar in self.bars.items():
            bar.set_width(m[k] if np.isfinite(m[k]) else 0.0)
        for k, text in self.values.items():
            v = m[k]
            right = text.axes.get_xlim()[1]
            inside = np.isfinite(v) and v > 0.55 * right           # inside the bar, or just after its end
            text.set_text(f"{v:.3f}" if k in ("dice", "iou") else f"{v:.1f}")
            text.set_x((v - 0.02 * right) if inside else (v if np.isfinite(v) else 0.0) + 0.02 * right)
            text.set_ha("right" if inside else "left")
            text.set_color("white" if inside else "black")
        if self.title is not None:
            p = s.params
            self.title.set_text(f"dx = {p['dx']:g}, dy = {p['dy']:g}, scale = {p['scale']:g}, grow = {p['grow']:g}, "
                                f"outlier = {p['outlier']:g} px; boundary loss {m['boundary']:.3f}")

    def readout(self) -> str:
        """The metrics of the current setting, as the HTML the live explorer shows beside its image."""
        m = self.state.metrics
        return ('<div style="font-size: 14px; line-height: 1.5">'
                f"Dice {m['dice']:.3f}<br>IoU {m['iou']:.3f}<br>HD {m['hd']:.2f} px<br>HD95 {m['hd95']:.2f} px<br>"
                f"boundary loss {m['boundary']:.3f}</div>")

    def update(self, **params):
        """Recompute the state for ``params`` and update the artists (no rendering)."""
        self._draw(shape_state(target=self.target, **params))
        return self.state

    def png(self):
        """The current figure as PNG bytes (what the explorer's image widget shows)."""
        if self._background is None:
            buf = io.BytesIO()
            self.fig.savefig(buf, format="png")
            return buf.getvalue()
        canvas = self.fig.canvas
        canvas.restore_region(self._background)
        for a in self._dynamic():
            self.fig.draw_artist(a)
        return encode_png(canvas.buffer_rgba())


def shape_figure(dx=0.0, dy=0.0, scale=1.0, grow=0, outlier=0, target="horse", **kwargs):
    """A matplotlib figure of one setting: overlay (TP/FN/FP and the Hausdorff pair) and metric bars.

    Example:
        >>> from segmath.teaching.widgets.shapes import shape_figure
        >>> fig = shape_figure(dx=4, outlier=3)
        >>> len(fig.axes)
        3
    """
    return ShapeView(target=target, dx=dx, dy=dy, scale=scale, grow=grow, outlier=outlier, **kwargs).fig


def shape_explorer(target="horse", cache: int = 256):
    """Sliders for ``dx``, ``dy``, ``scale``, ``grow``, ``outlier`` and a target picker, wired to a :class:`ShapeView`.

    The figure is rendered to PNG (blitting the changing artists) into an ``ipywidgets.Image`` on
    every change, so it works with the plain inline backend (no ipympl needed); the metrics are an HTML
    readout under the sliders; the last ``cache`` frames are kept (dragging back answers at once) and the
    next step of the slider that moved is rendered ahead in the background (:class:`~.render.FrameSource`).
    Returns the widget box; ``box.state`` is the :class:`ShapeState` shown, ``box.view`` the target's view
    (its ``state`` is the last one rendered, which may be a frame rendered ahead) and ``box.on_change()``
    the slider callback.
    """
    import ipywidgets as W
    views = {}

    def view_of(name):
        if name not in views:
            views[name] = ShapeView(target=name, dpi=LIVE_DPI, blit=True, live=True)
        return views[name]

    wide = {"description_width": "initial"}   # the whole label, not cut at 80 px
    sl = {
        "dx": W.FloatSlider(0, min=-20, max=20, step=1, description="dx", style=wide),
        "dy": W.FloatSlider(0, min=-20, max=20, step=1, description="dy", style=wide),
        "scale": W.FloatSlider(1, min=0.6, max=1.4, step=0.05, description="scale", style=wide),
        "grow": W.IntSlider(0, min=-4, max=4, step=1, description="grow/erode", style=wide),
        "outlier": W.IntSlider(0, min=0, max=6, step=1, description="outlier r", style=wide),
    }
    pick = W.Dropdown(options=TARGETS, value=target, description="target", style=wide)
    view = view_of(target)
    image = W.Image(value=view.png(), format="png")
    readout = W.HTML(view.readout())

    def render(values):
        v = view_of(values.pop("target"))
        v.update(**values)
        return v.png(), v.readout(), v.state

    source = FrameSource(render, size=max(int(cache), 1))

    def on_change(change=None):
        values = dict({k: s.value for k, s in sl.items()}, target=pick.value)
        box.view = view_of(pick.value)
        image.value, readout.value, box.state = source.frame(values)
        if change is not None and change["owner"] is not pick:
            name = next(k for k, s in sl.items() if s is change["owner"])
            nxt = next_value(change["owner"], change["old"], change["new"])
            if nxt is not None:
                source.ahead(dict(values, **{name: nxt}))

    for w in (*sl.values(), pick):
        w.observe(on_change, names="value")
    box = W.HBox([W.VBox([pick, *sl.values(), readout]), image])
    box.view, box.state, box.source = view, view.state, source
    box.on_change = on_change
    return box
