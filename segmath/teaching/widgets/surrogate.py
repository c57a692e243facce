r"""Surrogate-versus-0/1 explorer: how far a differentiable loss is from counting errors.

For one pixel with posterior :math:`\eta = P(Y{=}1\mid x)` and prediction :math:`q \in (0, 1)` the
*conditional risk* of a loss :math:`\ell` is :math:`C_\ell(q;\eta) = \eta\,\ell(1,q) + (1-\eta)\,\ell(0,q)`.
The explorer draws, for the losses in :data:`LOSSES`, two panels (1 and 2), and :func:`calibration_figure`
the third view (3):

1. the loss as a function of the margin :math:`m = \pm z` (:math:`z` the logit; the sign is that of the
   true class), beside the 0/1 step;
2. the excess conditional risk :math:`C_\ell(q;\eta) - \min_q C_\ell(q;\eta)` against :math:`q` at the
   chosen :math:`\eta`, with each minimiser marked: the proper losses put it at :math:`q = \eta`,
   focal loss between :math:`1/2` and :math:`\eta` (under-confident), hinge at :math:`0` or :math:`1`;
3. the *calibration function* :math:`\psi(\theta)`: the least excess surrogate risk a prediction on the
   wrong side of :math:`1/2` must pay when :math:`|2\eta - 1| = \theta` (Bartlett, Jordan and McAuliffe).
   A loss with :math:`\psi > 0` for :math:`\theta > 0` is classification-calibrated; the excess 0/1
   risk is then at most :math:`\psi^{-1}` of the excess surrogate risk.
"""
from __future__ import annotations

import numpy as np

from ... import theory
from .render import PAGE_WIDTH, checked_state, explorer_widget, new_figure

__all__ = ["LOSSES", "margin_loss", "conditional_risk", "minimiser", "calibration_function",
           "SurrogateExplorer", "surrogate_figure", "calibration_figure", "surrogate_explorer"]

DEFAULTS = {"eta": 0.8, "gamma": 2.0}
LOSSES = ("log", "brier", "hinge", "focal")
_COLORS = {"zero_one": "k", "log": "C0", "brier": "C2", "hinge": "C1", "focal": "C3"}
_LABELS = {"zero_one": "0/1", "log": "log-loss (CE)", "brier": "Brier (squared)",
           "hinge": "hinge", "focal": "focal"}
_SHORT = {"log": "log-loss", "brier": "Brier", "hinge": "hinge", "focal": "focal"}
_Q = np.linspace(1e-4, 1 - 1e-4, 2001)        # prediction grid
_ETA = np.linspace(0.5, 1.0, 101)[1:-1]       # posterior grid for the calibration function


def _loss_pair(name, q, gamma):
    """(loss when y = 1, loss when y = 0) at prediction q."""
    q = np.asarray(q, dtype=float)
    if name == "log":
        return -np.log(q), -np.log1p(-q)
    if name == "brier":
        return (1 - q) ** 2, q ** 2
    if name == "hinge":                       # on the score f = 2q - 1 in [-1, 1]
        f = 2 * q - 1
        return np.maximum(0, 1 - f), np.maximum(0, 1 + f)
    if name == "focal":
        return -(1 - q) ** gamma * np.log(q), -(q ** gamma) * np.log1p(-q)
    if name == "zero_one":                    # predict 1 iff q > 1/2
        return (q <= 0.5).astype(float), (q > 0.5).astype(float)
    raise ValueError(f"loss must be one of {LOSSES + ('zero_one',)}, got {name!r}")


def margin_loss(name, margin, gamma=2.0):
    r"""Loss of a correct-class margin :math:`m` (logit times :math:`\pm 1`), scaled to equal 1 at :math:`m = 0`.

    Example:
        >>> float(margin_loss("log", 0.0)), float(margin_loss("zero_one", -1.0))
        (1.0, 1.0)
    """
    m = np.asarray(margin, dtype=float)
    q = 1.0 / (1.0 + np.exp(-np.clip(m, -50, 50)))           # probability of the true class
    if name == "zero_one":
        return (m <= 0).astype(float)
    if name == "hinge":
        return np.maximum(0, 1 - m)
    y1, _ = _loss_pair(name, q, gamma)
    scale, _ = _loss_pair(name, 0.5, gamma)
    return y1 / scale


def conditional_risk(name, q, eta, gamma=2.0):
    r""":math:`C_\ell(q;\eta) = \eta\,\ell(1,q) + (1-\eta)\,\ell(0,q)` (arrays broadcast)."""
    l1, l0 = _loss_pair(name, q, gamma)
    return eta * l1 + (1 - eta) * l0


def minimiser(name, eta, gamma=2.0):
    r"""Minimiser :math:`q^*(\eta)` of the conditional risk, from the closed forms of :mod:`segmath.theory`.

    Log-loss and Brier are strictly proper (S7): :math:`q^* = \eta`.  Hinge on :math:`f = 2q - 1` is
    minimised at the Bayes decision, :math:`q^* = 1` if :math:`\eta > 1/2` else 0 (at :math:`\eta = 1/2`
    every :math:`q` ties; 0 is returned).  Focal: :func:`segmath.theory.focal_minimiser` (under-confident,
    between 1/2 and :math:`\eta`).  ``"zero_one"`` (any :math:`q` on the Bayes side ties) is minimised
    over the prediction grid.

    Example:
        >>> minimiser("log", 0.3), minimiser("hinge", 0.8), round(minimiser("focal", 0.9, 2.0), 3)
        (0.3, 1.0, 0.694)
    """
    if name in ("log", "brier"):
        return float(theory.weighted_ce_minimiser(eta, 1.0, 1.0))        # unweighted CE: q* = eta
    if name == "hinge":
        return float(eta > theory.weighted_ce_threshold(1.0, 1.0))
    if name == "focal":
        return float(theory.focal_minimiser(eta, gamma))
    return float(_Q[np.argmin(conditional_risk(name, _Q, eta, gamma))])


def calibration_function(name, gamma=2.0):
    r"""(:math:`\theta`, :math:`\psi(\theta)`) on a grid: the least excess conditional risk of a
    prediction on the wrong side of 1/2, at :math:`\eta = (1+\theta)/2`."""
    risk = conditional_risk(name, _Q[None, :], _ETA[:, None], gamma)
    best = risk.min(axis=1)
    # the wrong side for eta > 1/2 is q <= 1/2, boundary included (it is where convex risks reach it)
    wrong = np.minimum(risk[:, _Q < 0.5].min(axis=1), conditional_risk(name, 0.5, _ETA, gamma))
    return 2 * _ETA - 1, wrong - best


class SurrogateExplorer:
    """Two panels for one (eta, gamma), updated in place by :meth:`update`: the losses against the margin
    (left) and the excess conditional risks against the prediction with their minimisers (right).

    The figure is :data:`~.render.PAGE_WIDTH` inches wide with 10-pt text and one legend under both
    panels.  The book's figure (``live=False``) states the minimisers in its title; the live explorer
    (``live=True``) shows them as HTML beside the image (:meth:`readout`).  The third view, the
    calibration functions, is :func:`calibration_figure`.
    """

    def __init__(self, pyplot: bool = True, live: bool = False, dpi: float | None = None, **state):
        from matplotlib.lines import Line2D
        self.state, self.live = dict(DEFAULTS), bool(live)
        self.fig = new_figure(pyplot, dpi=dpi, figsize=(PAGE_WIDTH, 3.6 if live else 4.0), layout="constrained")
        self.ax_m, self.ax_q = self.fig.subplots(1, 2)
        m = np.linspace(-3, 3, 601)
        self.margin_lines = {}
        for name in ("zero_one",) + LOSSES:
            self.margin_lines[name], = self.ax_m.plot(m, margin_loss(name, m, 2.0), color=_COLORS[name],
                                                      label=_LABELS[name], lw=2 if name == "zero_one" else 1.4)
        self.ax_m.set(xlabel="margin $m$ of the true class", ylabel="loss (1 at $m=0$)", xlim=(-3, 3), ylim=(0, 4))
        self.risk_lines, self.min_dots = {}, {}
        for name in ("zero_one",) + LOSSES:
            self.risk_lines[name], = self.ax_q.plot(_Q, 0 * _Q, color=_COLORS[name],
                                                    lw=2 if name == "zero_one" else 1.4)
            if name != "zero_one":
                self.min_dots[name], = self.ax_q.plot([0.5], [0], "o", color=_COLORS[name], ms=7, clip_on=False)
        self.eta_line = self.ax_q.axvline(0.8, color="0.4", ls=":", lw=1.5)
        self.ax_q.set(xlabel="prediction $q$", ylabel=r"excess risk $C(q;\eta)-\min_q C$", xlim=(0, 1),
                      ylim=(0, 1.5))
        handles = [*self.margin_lines.values(), Line2D([], [], color="0.4", ls=":", lw=1.5, label=r"$q = \eta$"),
                   Line2D([], [], color="0.4", ls="", marker="o", ms=7, label="minimiser $q^*$")]
        self.fig.legend(handles=handles, loc="outside lower center", ncol=4, frameon=False, columnspacing=1.2,
                        handlelength=1.8)
        self.title = None if self.live else self.fig.suptitle(" \n ")
        self._gamma = None
        self.update(**state)

    def update(self, **state) -> dict:
        """Recompute for ``eta`` and ``gamma``; return the minimisers of the conditional risks."""
        self.state.update(checked_state(state, DEFAULTS))
        eta, gamma = float(self.state["eta"]), float(self.state["gamma"])
        if gamma != self._gamma:               # the gamma-dependent curve only when gamma moves
            self.margin_lines["focal"].set_ydata(margin_loss("focal", self.margin_lines["focal"].get_xdata(), gamma))
            self._gamma = gamma
        mins = {}
        for name, line in self.risk_lines.items():
            r = conditional_risk(name, _Q, eta, gamma)
            line.set_ydata(r - r.min())
            if name != "zero_one":
                mins[name] = minimiser(name, eta, gamma)
                self.min_dots[name].set_data([mins[name]], [0.0])
        self.eta_line.set_xdata([eta, eta])
        self.minimisers = mins
        if self.title is not None:
            self.title.set_text(self._summary(html=False))
        return mins

    def _summary(self, html: bool) -> str:
        eta, gamma = float(self.state["eta"]), float(self.state["gamma"])
        first = f"posterior η = {eta:.2f}, focal γ = {gamma:.3g}"
        second = "minimisers q*: " + ", ".join(f"{_SHORT[k]} {v:.3f}" for k, v in self.minimisers.items())
        return f"{first}; {second}" if html else f"{first}\n{second}"

    def readout(self) -> str:
        """The minimisers of the current state, as the HTML the live explorer shows above its image."""
        return f'<div style="font-size: 14px">{self._summary(html=True)}</div>'

    def dynamic_artists(self) -> list:
        """The artists :meth:`update` changes (redrawn on every frame of the widget)."""
        return [self.margin_lines["focal"], *self.risk_lines.values(), *self.min_dots.values(), self.eta_line,
                *([self.title] if self.title is not None else [])]


def surrogate_figure(**state):
    """The explorer's figure of one state (the book shows it as a static image)."""
    return SurrogateExplorer(**state).fig


def calibration_figure(gamma: float = 2.0, pyplot: bool = True, dpi: float | None = None):
    r"""The calibration functions :math:`\psi(\theta)` of the losses in :data:`LOSSES` (focal at ``gamma``)
    beside the 0/1 loss's :math:`\psi(\theta) = \theta`: one panel, the legend outside it.

    Example:
        >>> fig = calibration_figure(pyplot=False)
        >>> len(fig.axes), bool(fig.get_figwidth() <= 7)
        (1, True)
    """
    fig = new_figure(pyplot, dpi=dpi, figsize=(PAGE_WIDTH, 3.2), layout="constrained")
    ax = fig.subplots()
    for name in LOSSES:
        theta, psi = calibration_function(name, gamma)
        ax.plot(theta, psi, color=_COLORS[name], lw=3.5 if name == "hinge" else 1.4,   # hinge: under the 0/1 line
                label=_LABELS[name] + (rf" ($\gamma={gamma:.3g}$)" if name == "focal" else ""))
    ax.plot([0, 1], [0, 1], color="k", lw=1, ls="--", label=r"0/1: $\psi(\theta)=\theta$")
    ax.set(xlabel=r"$\theta = |2\eta-1|$ (excess 0/1 risk of a wrong decision)",
           ylabel=r"calibration function $\psi(\theta)$", xlim=(0, 1), ylim=(0, 1.05))
    fig.legend(loc="outside right upper", frameon=False)
    return fig


def surrogate_explorer(**state):
    """An ipywidgets explorer with sliders for the posterior eta and the focal exponent gamma.

    The returned box has a ``callback`` attribute: the function the sliders call.
    """
    return explorer_widget(SurrogateExplorer, state, _controls)


def _controls(W, s, wide):
    """The sliders of :func:`surrogate_explorer`, each starting at the checked state ``s``."""
    return {"eta": W.FloatSlider(value=s["eta"], min=0.01, max=0.99, step=0.01,
                                 description="posterior η", style=wide),
            "gamma": W.FloatSlider(value=s["gamma"], min=0.0, max=5.0, step=0.25,
                                   description="focal γ", style=wide)}
