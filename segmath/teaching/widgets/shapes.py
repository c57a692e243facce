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


class ShapeView:
    """A figure of one setting whose artists are updated in place by :meth:`update`.

    With ``blit=True`` (the explorer) the static parts (axes, ticks, legend) are rendered once and
    :meth:`png` redraws only the changing artists on top of that background (matplotlib's blitting):
    text layout dominates a full redraw, and this keeps a slider step to a few tens of milliseconds.
    """

    def __init__(self, target="horse", figsize=(9.0, 3.2), dpi=80, blit=False, **params):
        import matplotlib.pyplot as plt
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        self.fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        FigureCanvasAgg(self.fig)
        ax_img, ax_ov, ax_d = self.fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.4, 1, 1]})
        self.axes = (ax_img, ax_ov, ax_d)
        s = shape_state(target=target, **params)
        self.im = ax_img.imshow(_overlay(s.target, s.pred), interpolation="nearest")
        (self.seg,) = ax_img.plot([], [], "-", color="black", lw=1.5, label="Hausdorff pair")
        ax_img.set_axis_off()
        self.legend = ax_img.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in
                               ((0.55, 0.55, 0.55), (0.25, 0.45, 0.95), (0.95, 0.30, 0.25))],
                      labels=["TP", "FN", "FP"], loc="lower left", fontsize=7, ncol=3, framealpha=0.8)
        self.bars_ov = ax_ov.barh(["IoU", "Dice"], [0, 0], color=["#4c72b0", "#55a868"])
        ax_ov.set_xlim(0, 1), ax_ov.set_title("overlap (1 = perfect)", fontsize=9)
        self.bars_d = ax_d.barh(["HD95", "HD"], [0, 0], color=["#dd8452", "#c44e52"])
        diag = float(np.hypot(*s.target.shape))
        ax_d.set_xlim(0, diag / 2), ax_d.set_title("distance, pixels (0 = perfect)", fontsize=9)
        self.texts = [ax.text(0.98, 0.02, "", transform=ax.transAxes, ha="right", va="bottom", fontsize=8)
                      for ax in (ax_ov, ax_d)]
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
        # drawn in this order over the background: the legend sits on top of the image
        return [self.im, self.seg, self.legend, *self.bars_ov, *self.bars_d, *self.texts, self.axes[0].title]

    def _draw(self, s):
        m = s.metrics
        self.state = s
        self.im.set_data(_overlay(s.target, s.pred))
        w = _hd_witness(s.target, s.pred)
        self.seg.set_data(([w[1][1], w[2][1]], [w[1][0], w[2][0]]) if w else ([], []))
        for bar, v in zip(self.bars_ov, (m["iou"], m["dice"])):
            bar.set_width(v)
        for bar, v in zip(self.bars_d, (m["hd95"], m["hd"])):
            bar.set_width(v if np.isfinite(v) else 0.0)
        self.texts[0].set_text(f"Dice {m['dice']:.3f}\nIoU {m['iou']:.3f}")
        self.texts[1].set_text(f"HD {m['hd']:.2f}  HD95 {m['hd95']:.2f}\nboundary loss {m['boundary']:.3f}")
        p = s.params
        self.axes[0].set_title(f"dx={p['dx']:g} dy={p['dy']:g} scale={p['scale']:g} grow={p['grow']:g} "
                               f"outlier={p['outlier']:g}", fontsize=8)

    def update(self, **params):
        """Recompute the state for ``params`` and update the artists (no rendering)."""
        self._draw(shape_state(target=self.target, **params))
        return self.state

    def png(self):
        """The current figure as PNG bytes (what the explorer's image widget shows)."""
        buf = io.BytesIO()
        if self._background is None:
            self.fig.savefig(buf, format="png")
            return buf.getvalue()
        from PIL import Image
        canvas = self.fig.canvas
        canvas.restore_region(self._background)
        for a in self._dynamic():
            a.axes.draw_artist(a)
        Image.fromarray(np.asarray(canvas.buffer_rgba())).save(buf, format="png", compress_level=1)
        return buf.getvalue()


def shape_figure(dx=0.0, dy=0.0, scale=1.0, grow=0, outlier=0, target="horse", **kwargs):
    """A matplotlib figure of one setting: overlay (TP/FN/FP and the Hausdorff pair) and metric bars.

    Example:
        >>> from segmath.teaching.widgets.shapes import shape_figure
        >>> fig = shape_figure(dx=4, outlier=3)
        >>> len(fig.axes)
        3
    """
    return ShapeView(target=target, dx=dx, dy=dy, scale=scale, grow=grow, outlier=outlier, **kwargs).fig


def shape_explorer(target="horse"):
    """Sliders for ``dx``, ``dy``, ``scale``, ``grow``, ``outlier`` and a target picker, wired to a :class:`ShapeView`.

    The figure is rendered to PNG (blitting the changing artists) into an ``ipywidgets.Image`` on
    every change, so it works with the plain inline backend (no ipympl needed).  Returns the widget
    box; ``box.view`` is the view and ``box.on_change()`` the slider callback.
    """
    import ipywidgets as W
    view = ShapeView(target=target, blit=True)
    sl = {
        "dx": W.FloatSlider(0, min=-20, max=20, step=1, description="dx"),
        "dy": W.FloatSlider(0, min=-20, max=20, step=1, description="dy"),
        "scale": W.FloatSlider(1, min=0.6, max=1.4, step=0.05, description="scale"),
        "grow": W.IntSlider(0, min=-4, max=4, step=1, description="grow/erode"),
        "outlier": W.IntSlider(0, min=0, max=6, step=1, description="outlier r"),
    }
    pick = W.Dropdown(options=TARGETS, value=target, description="target")
    image = W.Image(value=view.png(), format="png")

    def on_change(_=None):
        nonlocal view
        if pick.value != view.target:
            view = ShapeView(target=pick.value, blit=True)
            box.view = view
        view.update(**{k: s.value for k, s in sl.items()})
        image.value = view.png()

    for w in (*sl.values(), pick):
        w.observe(on_change, names="value")
    box = W.HBox([W.VBox([pick, *sl.values()]), image])
    box.view = view
    box.on_change = on_change
    return box
