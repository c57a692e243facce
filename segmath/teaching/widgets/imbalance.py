r"""Class-imbalance explorer: foreground fraction, class weight and threshold against expected metrics.

The model is the simplest one in which imbalance matters: a pixel's score :math:`x` is Gaussian given
its class, :math:`x \mid Y{=}1 \sim N(+\mu, 1)`, :math:`x \mid Y{=}0 \sim N(-\mu, 1)`, and the
foreground fraction is :math:`\pi = P(Y{=}1)`.  The posterior is logistic in :math:`x`,

.. math:: \operatorname{logit}\eta(x) = \operatorname{logit}\pi + 2\mu x,

so every decision rule :math:`\{\eta > t\}` is a threshold on :math:`x` and the expected confusion
fractions are normal tail probabilities (no sampling, so every callback is exact and fast).

The explorer marks the Bayes thresholds on :math:`\eta` of four targets: accuracy (:math:`1/2`),
weighted cross-entropy with weights :math:`(w_0, w_1) = (1, w)` thresholded at :math:`q = 1/2`
(:math:`1/(1+w)`), balanced accuracy (:math:`\pi`) and Dice/F1 (:math:`F^*/2`, found by Dinkelbach's
iteration :math:`t \leftarrow F(t)/2`); the closed forms are those of :mod:`segmath.theory`.
"""
from __future__ import annotations

import numpy as np
from scipy.special import logit, ndtr

from ... import theory
from .render import PAGE_WIDTH, checked_state, explorer_widget, new_figure

__all__ = ["expected_counts", "expected_metrics", "bayes_thresholds", "ImbalanceExplorer",
           "imbalance_figure", "imbalance_explorer"]

DEFAULTS = {"foreground": 0.05, "weight": 1.0, "threshold": 0.5, "separation": 1.25}
_GRID = np.linspace(0.002, 0.998, 499)   # thresholds on eta for the metric curves


def expected_counts(threshold, foreground, separation):
    r"""Expected fractions (TP, FP, FN, TN) of the rule :math:`\{\eta > t\}` (arrays broadcast).

    Args:
        threshold: :math:`t \in (0, 1)`, a threshold on the posterior :math:`\eta`.
        foreground: the foreground fraction :math:`\pi \in (0, 1)`.
        separation: :math:`\mu > 0`, half the distance between the class means of the score.

    Example:
        >>> tp, fp, fn, tn = expected_counts(0.5, 0.5, 1.0)
        >>> round(float(tp + fp + fn + tn), 12), round(float(tp), 4)
        (1.0, 0.4207)
    """
    t, pi, mu = (np.asarray(v, dtype=float) for v in (threshold, foreground, separation))
    x_t = (logit(t) - logit(pi)) / (2.0 * mu)        # eta(x) > t  <=>  x > x_t
    tp = pi * ndtr(mu - x_t)
    fp = (1.0 - pi) * ndtr(-mu - x_t)
    return tp, fp, pi - tp, (1.0 - pi) - fp


def expected_metrics(threshold, foreground, separation, weight=1.0):
    """Accuracy, balanced accuracy, Dice, IoU, recall, precision and the weighted error of ``{eta > t}``.

    ``weighted_error`` is :math:`(w_0 FP + w_1 FN)/(w_0(1-\\pi) + w_1\\pi)` with :math:`(w_0, w_1) = (1, w)`,
    the expected 0/1 loss with the class weights of weighted cross-entropy.
    """
    tp, fp, fn, tn = expected_counts(threshold, foreground, separation)
    pi = np.asarray(foreground, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "accuracy": tp + tn,
            "balanced_accuracy": 0.5 * (tp / pi + tn / (1.0 - pi)),
            "dice": 2 * tp / (2 * tp + fp + fn),
            "iou": tp / (tp + fp + fn),
            "recall": tp / pi,
            "precision": np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-300), 1.0),
            "weighted_error": (fp + weight * fn) / ((1.0 - pi) + weight * pi),
        }


def _dice_at(t, foreground, separation):
    tp, fp, fn, _ = expected_counts(t, foreground, separation)
    return 2 * tp / (2 * tp + fp + fn)


def bayes_thresholds(foreground, separation, weight=1.0, iterations: int = 60):
    r"""Posterior thresholds of the Bayes rules for four targets (the closed forms of :mod:`segmath.theory`).

    Returns a dict: ``accuracy`` (1/2), ``weighted_ce`` (:math:`w_0/(w_0+w_1) = 1/(1+w)`, statement S8),
    ``balanced_accuracy`` (:math:`\pi`: the weighted-CE threshold of the inverse-prior weights) and
    ``dice`` (:math:`F^*/2`, statement S9), plus ``dice_max`` (:math:`F^*`).  :math:`F^*` of this
    continuous model comes from :func:`segmath.theory.optimal_f1_fixed_point` (Dinkelbach's iteration).

    Example:
        >>> th = bayes_thresholds(0.05, 1.25)
        >>> th["dice"] < th["accuracy"], abs(th["dice"] - th["dice_max"] / 2) < 1e-12
        (True, True)
    """
    pi = float(foreground)
    f_star = theory.optimal_f1_fixed_point(lambda t: _dice_at(t, pi, separation), iterations=iterations)
    return {"accuracy": theory.weighted_ce_threshold(1.0, 1.0),
            "weighted_ce": theory.weighted_ce_threshold(1.0, weight),
            # pi itself: w0/(w0 + w1) with (w0, w1) = (1/(1-pi), 1/pi) rounds to pi, not always exactly
            "balanced_accuracy": pi,
            "dice": f_star / 2.0, "dice_max": f_star}


_CURVES = (("accuracy", "accuracy", "C0"), ("balanced_accuracy", "balanced accuracy", "C2"),
           ("dice", "Dice (F1)", "C3"), ("recall", "recall", "C7"))
_MARKS = (("accuracy", "C0"), ("weighted_ce", "C1"), ("balanced_accuracy", "C2"), ("dice", "C3"))


class ImbalanceExplorer:
    """A two-panel figure of one state, updated in place by :meth:`update` (no new figure per call).

    Left: the prior-weighted score densities :math:`\\pi p(x|1)` and :math:`(1-\\pi)p(x|0)` with the
    decision boundary of the chosen threshold.  Right: expected metrics against the threshold on
    :math:`\\eta`, with the four Bayes thresholds marked (dashed, in the colour of their metric; weighted
    cross-entropy's in orange).  The figure is :data:`~.render.PAGE_WIDTH` inches wide with 10-pt text and
    one legend under both panels.  The book's figure (``live=False``) states the numbers of the chosen
    threshold in its title; the live explorer (``live=True``) shows them as HTML beside the image
    (:meth:`readout`), so that a slider step redraws lines only.
    """

    def __init__(self, pyplot: bool = True, live: bool = False, dpi: float | None = None, **state):
        from matplotlib.lines import Line2D
        self.state, self.live = dict(DEFAULTS), bool(live)
        self.fig = new_figure(pyplot, dpi=dpi, figsize=(PAGE_WIDTH, 3.9 if live else 4.4), layout="constrained")
        self.ax_x, self.ax_t = self.fig.subplots(1, 2)
        self.xs = np.linspace(-5, 5, 401)
        self.fg_line, = self.ax_x.plot([], [], color="C3", label=r"foreground $\pi\,p(x\mid 1)$")
        self.bg_line, = self.ax_x.plot([], [], color="C0", label=r"background $(1-\pi)\,p(x\mid 0)$")
        self.cut = self.ax_x.axvline(0, color="k", lw=1.5, label="chosen threshold $t$")
        self.ax_x.set(xlabel="score $x$", ylabel="density", xlim=(-5, 5), ylim=(0, 0.42))
        self.curves = {k: self.ax_t.plot(_GRID, np.zeros_like(_GRID), color=c, label=lab)[0]
                       for k, lab, c in _CURVES}
        self.marks = {k: self.ax_t.axvline(0.5, color=c, ls="--", lw=1.2) for k, c in _MARKS}
        self.chosen = self.ax_t.axvline(0.5, color="k", lw=1.5)
        self.ax_t.set(xlabel=r"threshold $t$ on the posterior $\eta$", ylabel="expected value",
                      xlim=(0, 1), ylim=(0, 1.02))
        handles = [self.fg_line, self.bg_line, self.cut, *self.curves.values(),
                   Line2D([], [], color="0.4", ls="--", lw=1.2, label="its Bayes threshold"),
                   Line2D([], [], color="C1", ls="--", lw=1.2, label=r"weighted CE: $1/(1+w)$")]
        self.fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False,
                        columnspacing=1.2, handlelength=1.8)
        self.title = None if self.live else self.fig.suptitle(" \n ")
        self.update(**state)

    def update(self, **state) -> dict:
        """Recompute for ``foreground``, ``weight``, ``threshold``, ``separation``; return the numbers."""
        self.state.update(checked_state(state, DEFAULTS))
        pi, w, t, mu = (float(self.state[k]) for k in ("foreground", "weight", "threshold", "separation"))
        norm = np.exp(-0.5 * (self.xs - mu) ** 2) / np.sqrt(2 * np.pi)
        norm0 = np.exp(-0.5 * (self.xs + mu) ** 2) / np.sqrt(2 * np.pi)
        self.fg_line.set_data(self.xs, pi * norm)
        self.bg_line.set_data(self.xs, (1 - pi) * norm0)
        self.cut.set_xdata([(logit(t) - logit(pi)) / (2 * mu)] * 2)
        curves = expected_metrics(_GRID, pi, mu, w)
        for k, line in self.curves.items():
            line.set_ydata(curves[k])
        th = bayes_thresholds(pi, mu, w)
        for k, line in self.marks.items():
            line.set_xdata([th[k]] * 2)
        self.chosen.set_xdata([t, t])
        at = {k: float(v) for k, v in expected_metrics(t, pi, mu, w).items()}
        self.numbers = {"thresholds": th, "at_threshold": at}
        if self.title is not None:
            self.title.set_text(self._summary(html=False))
        return self.numbers

    def _summary(self, html: bool) -> str:
        pi, w, t, mu = (float(self.state[k]) for k in ("foreground", "weight", "threshold", "separation"))
        th, at = self.numbers["thresholds"], self.numbers["at_threshold"]
        first = (f"π = {pi:.3g}, w₁/w₀ = {w:.3g}, μ = {mu:.3g}; at t = {t:.2f}: accuracy {at['accuracy']:.3f}, "
                 f"Dice {at['dice']:.3f}")
        second = (f"balanced accuracy {at['balanced_accuracy']:.3f}, recall {at['recall']:.3f}; "
                  f"best Dice {th['dice_max']:.3f}, at t = F*/2 = {th['dice']:.3f}")
        return f"{first}<br>{second}" if html else f"{first}\n{second}"

    def readout(self) -> str:
        """The numbers of the current state, as the HTML the live explorer shows above its image."""
        return f'<div style="font-size: 14px; line-height: 1.4">{self._summary(html=True)}</div>'

    def dynamic_artists(self) -> list:
        """The artists :meth:`update` changes (redrawn on every frame of the widget)."""
        return [self.fg_line, self.bg_line, self.cut, *self.curves.values(), *self.marks.values(), self.chosen,
                *([self.title] if self.title is not None else [])]


def imbalance_figure(**state):
    """The figure of one state (the book shows the default state as a static image)."""
    return ImbalanceExplorer(**state).fig


def imbalance_explorer(**state):
    """An ipywidgets explorer: sliders for the foreground fraction, class weight, threshold, separation.

    The returned box has a ``callback`` attribute: the function the sliders call.
    """
    return explorer_widget(ImbalanceExplorer, state, _controls,
                           rows=(("foreground", "weight"), ("threshold", "separation")))


def _controls(W, s, wide):
    """The sliders of :func:`imbalance_explorer`, each starting at the checked state ``s``."""
    return {
        "foreground": W.FloatLogSlider(value=s["foreground"], base=10, min=-3, max=np.log10(0.5), step=0.01,
                                       description="foreground π", style=wide, readout_format=".3f"),
        "weight": W.FloatLogSlider(value=s["weight"], base=10, min=-1, max=3, step=0.01,
                                   description="weight w₁/w₀", style=wide, readout_format=".3g"),
        "threshold": W.FloatSlider(value=s["threshold"], min=0.01, max=0.99, step=0.01,
                                   description="threshold t", style=wide),
        "separation": W.FloatSlider(value=s["separation"], min=0.25, max=3.0, step=0.05,
                                    description="separation μ", style=wide),
    }
