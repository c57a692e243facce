"""The book's explorers: imbalance (chapter 3) and surrogate gap (chapter 2).

Oracles: numerical integration and Monte Carlo for the Gaussian model's expected counts, a dense scan of
thresholds for the Dice-optimal one, scipy's scalar minimiser for weighted cross-entropy and focal loss,
closed forms for the calibration functions.  The callbacks' latency is measured by ``benchmarks/widgets.py``
(it depends on the machine, so no test asserts it).
"""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from scipy import integrate
from scipy.optimize import brentq, minimize_scalar
from scipy.special import logit
from scipy.stats import norm

matplotlib.use("Agg")

from segmath.teaching.widgets import imbalance, shapes, surrogate  # noqa: E402


@pytest.mark.parametrize("t, pi, mu", [(0.5, 0.05, 1.25), (0.2, 0.3, 0.7), (0.9, 0.01, 2.0)])
def test_expected_counts_against_integration(t, pi, mu):
    tp, fp, fn, tn = imbalance.expected_counts(t, pi, mu)
    # the rule {eta(x) > t}: integrate the prior-weighted class densities where the posterior exceeds t
    def posterior(x):
        return pi * norm.pdf(x, mu) / (pi * norm.pdf(x, mu) + (1 - pi) * norm.pdf(x, -mu))
    x_t = brentq(lambda x: posterior(x) - t, -30, 30)
    tp_q = integrate.quad(lambda x: pi * norm.pdf(x, mu), x_t, np.inf)[0]
    fp_q = integrate.quad(lambda x: (1 - pi) * norm.pdf(x, -mu), x_t, np.inf)[0]
    np.testing.assert_allclose([tp, fp, fn, tn], [tp_q, fp_q, pi - tp_q, 1 - pi - fp_q], atol=1e-9)


def test_expected_metrics_against_monte_carlo():
    rng = np.random.default_rng(0)
    pi, mu, t, n = 0.1, 1.0, 0.3, 2_000_000
    y = rng.random(n) < pi
    x = rng.normal(np.where(y, mu, -mu), 1.0)
    eta = 1 / (1 + np.exp(-(logit(pi) + 2 * mu * x)))
    pred = eta > t
    tp, fp, fn = np.sum(pred & y), np.sum(pred & ~y), np.sum(~pred & y)
    m = imbalance.expected_metrics(t, pi, mu)
    assert abs(m["dice"] - 2 * tp / (2 * tp + fp + fn)) < 3e-3
    assert abs(m["accuracy"] - np.mean(pred == y)) < 1e-3
    assert abs(m["recall"] - tp / y.sum()) < 3e-3


@pytest.mark.parametrize("pi, mu", [(0.5, 1.0), (0.05, 1.25), (0.01, 0.8), (0.2, 2.5)])
def test_bayes_thresholds_against_scan(pi, mu):
    th = imbalance.bayes_thresholds(pi, mu, weight=4.0)
    grid = np.linspace(1e-4, 1 - 1e-4, 200_001)
    dice = imbalance.expected_metrics(grid, pi, mu)["dice"]
    assert abs(th["dice_max"] - dice.max()) < 1e-9
    assert abs(th["dice"] - grid[np.argmax(dice)]) < 1e-3
    assert abs(th["dice"] - th["dice_max"] / 2) < 1e-12
    # balanced accuracy is maximised at eta = pi
    ba = imbalance.expected_metrics(grid, pi, mu)["balanced_accuracy"]
    assert abs(grid[np.argmax(ba)] - pi) < 1e-3
    # weighted CE (w0, w1) = (1, 4): the eta at which the minimiser of the conditional risk crosses 1/2
    def q_star(e):
        return minimize_scalar(lambda q: -4 * e * np.log(q) - (1 - e) * np.log1p(-q), bounds=(1e-12, 1 - 1e-12),
                               method="bounded", options={"xatol": 1e-12}).x
    assert abs(brentq(lambda e: q_star(e) - 0.5, 1e-6, 1 - 1e-6) - th["weighted_ce"]) < 1e-6


def test_surrogate_minimisers():
    from segmath import theory
    for eta in (0.1, 0.35, 0.8, 0.95):
        assert abs(surrogate.minimiser("log", eta) - eta) < 1e-3
        assert abs(surrogate.minimiser("brier", eta) - eta) < 1e-3
        assert surrogate.minimiser("hinge", eta) == pytest.approx(1.0 if eta > 0.5 else 0.0, abs=1e-3)
        for gamma in (1.0, 2.0):
            ref = minimize_scalar(lambda q: float(theory.expected_focal_loss(q, eta, gamma)), bounds=(1e-9, 1 - 1e-9),
                                  method="bounded", options={"xatol": 1e-12}).x
            assert abs(surrogate.minimiser("focal", eta, gamma) - ref) < 1e-3
            q = surrogate.minimiser("focal", eta, gamma)
            assert (0.5 < q < eta) if eta > 0.5 else (eta < q < 0.5)
    with pytest.raises(ValueError, match="loss"):
        surrogate.conditional_risk("squared_hinge", 0.5, 0.5)


# bayes_thresholds as the widget computed them before it called segmath.theory (commit 5b69bf8): the
# move to theory must not change a bit
_OLD_THRESHOLDS = {
    (0.05, 1.25, 1.0): (0.5, 0.5, 0.05, 0.3288479412654264, 0.6576958825308528),
    (0.01, 1.25, 1.0): (0.5, 0.5, 0.01, 0.23960644529600497, 0.47921289059200994),
    (0.5, 1.0, 4.0): (0.5, 0.2, 0.5, 0.4221450334409612, 0.8442900668819224),
    (0.002, 0.5, 0.3): (0.5, 0.7692307692307692, 0.002, 0.01621004795877836, 0.03242009591755672),
    (0.3, 2.5, 10.0): (0.5, 0.09090909090909091, 0.3, 0.49530973587381044, 0.9906194717476209),
    (0.2, 0.7, 99.0): (0.5, 0.01, 0.2, 0.28632272409102827, 0.5726454481820565),
}


@pytest.mark.parametrize("args", list(_OLD_THRESHOLDS))
def test_bayes_thresholds_unchanged_by_the_move_to_theory(args):
    th = imbalance.bayes_thresholds(*args)
    keys = ("accuracy", "weighted_ce", "balanced_accuracy", "dice", "dice_max")
    assert tuple(th[k] for k in keys) == _OLD_THRESHOLDS[args]


def test_minimiser_matches_the_old_grid_and_scipy():
    """The closed forms agree with the grid search the widget used to do (within half its spacing),
    and with scipy's bounded scalar minimiser far more closely than the grid could."""
    q = np.linspace(1e-4, 1 - 1e-4, 2001)
    half_step = (q[1] - q[0]) / 2
    risks = {   # conditional risks written out here, independently of the widget
        "log": lambda q, e, g: -e * np.log(q) - (1 - e) * np.log1p(-q),
        "brier": lambda q, e, g: e * (1 - q) ** 2 + (1 - e) * q ** 2,
        "hinge": lambda q, e, g: e * np.maximum(0, 2 - 2 * q) + (1 - e) * np.maximum(0, 2 * q),
        "focal": lambda q, e, g: -e * (1 - q) ** g * np.log(q) - (1 - e) * q ** g * np.log1p(-q),
    }
    for name, risk in risks.items():
        for eta in (0.05, 0.35, 0.8, 0.95):
            for gamma in (0.0, 1.0, 2.0, 5.0):
                got = surrogate.minimiser(name, eta, gamma)
                old = q[np.argmin(risk(q, eta, gamma))]
                assert abs(got - old) <= half_step + 1e-12, (name, eta, gamma)
                if name != "hinge":     # hinge's risk is piecewise linear: its minimiser is an end point
                    ref = minimize_scalar(lambda v: risk(v, eta, gamma), bounds=(1e-12, 1 - 1e-12),
                                          method="bounded", options={"xatol": 1e-12}).x
                    assert abs(got - ref) < 1e-6, (name, eta, gamma)
                else:
                    assert got == (1.0 if eta > 0.5 else 0.0)


def test_calibration_functions_closed_forms():
    theta, psi = surrogate.calibration_function("brier")
    np.testing.assert_allclose(psi, theta ** 2 / 4, atol=1e-6)
    theta, psi = surrogate.calibration_function("hinge")
    np.testing.assert_allclose(psi, theta, atol=2e-3)
    theta, psi = surrogate.calibration_function("log")
    eta = (1 + theta) / 2
    entropy = -(eta * np.log(eta) + (1 - eta) * np.log(1 - eta))
    np.testing.assert_allclose(psi, np.log(2) - entropy, atol=1e-6)
    for name in surrogate.LOSSES:
        assert float(surrogate.margin_loss(name, 0.0)) == pytest.approx(1.0)


def test_explorers_reject_unknown_parameters():
    with pytest.raises(ValueError, match="unknown"):
        imbalance.ImbalanceExplorer(pyplot=False, foregound=0.1)
    with pytest.raises(ValueError, match="unknown"):
        surrogate.SurrogateExplorer(pyplot=False, etta=0.3)


def _frames(box, states):
    """The PNG the explorer's image shows after each state's callback, and the callback's results."""
    frames, results = [], []
    for s in states:
        results.append(box.callback(**s))
        frames.append(box.children[-1].value)
    return frames, results


def _is_png(b):
    return b[:8] == b"\x89PNG\r\n\x1a\n" and len(b) > 10_000


def test_imbalance_callback_draws_each_state():
    box = imbalance.imbalance_explorer()
    states = [dict(foreground=f, weight=w, threshold=t, separation=m)
              for f in (0.002, 0.4) for w in (0.3, 10.0) for t in (0.1, 0.8) for m in (0.5, 2.5)]
    frames, results = _frames(box, states)
    assert all(_is_png(f) for f in frames)
    assert len(set(frames)) == len(states)              # every state looks different
    for s, r in zip(states, results):                   # and reports that state's numbers
        m = imbalance.expected_metrics(s["threshold"], s["foreground"], s["separation"], s["weight"])
        assert r["at_threshold"]["dice"] == pytest.approx(float(m["dice"]), abs=1e-12)
    assert box.callback(**states[0]) == results[0] and box.children[-1].value == frames[0]


def test_surrogate_callback_draws_each_state():
    box = surrogate.surrogate_explorer()
    states = [dict(eta=e, gamma=g) for e in (0.05, 0.7, 0.99) for g in (0.0, 1.5, 5.0)]
    frames, results = _frames(box, states)
    assert all(_is_png(f) for f in frames) and len(set(frames)) == len(states)
    for s, r in zip(states, results):
        assert r["focal"] == pytest.approx(surrogate.minimiser("focal", s["eta"], s["gamma"]), abs=5e-4)


def test_static_figures_show_the_default_state():
    fig = imbalance.imbalance_figure()
    ex = imbalance.ImbalanceExplorer(pyplot=False)
    th = imbalance.bayes_thresholds(imbalance.DEFAULTS["foreground"], imbalance.DEFAULTS["separation"])
    assert ex.marks["dice"].get_xdata()[0] == pytest.approx(th["dice"])
    assert len(fig.axes) == 2
    import matplotlib.pyplot as plt
    plt.close("all")
    fig = surrogate.surrogate_figure()
    assert len(fig.axes) == 2                           # margin losses, excess risk (calibration: its own figure)
    plt.close("all")


def _widgets(w):
    yield w
    for c in getattr(w, "children", ()):
        yield from _widgets(c)


@pytest.mark.parametrize("make", [imbalance.imbalance_explorer, surrogate.surrogate_explorer, shapes.shape_explorer])
def test_live_slider_labels_are_not_cut(make):
    # ipywidgets gives a description 80 px by default and cuts longer ones ("foreground π", "weight w₁/w₀")
    import ipywidgets as W
    controls = [w for w in _widgets(make()) if isinstance(w, (W.FloatSlider, W.FloatLogSlider, W.IntSlider,
                                                              W.Dropdown))]
    assert controls and all(s.style.description_width == "initial" for s in controls)


def test_a_state_seen_before_comes_from_the_frame_cache():
    box = imbalance.imbalance_explorer()
    a = dict(foreground=0.1, weight=2.0, threshold=0.3, separation=1.0)
    b = dict(a, threshold=0.4)
    first, _ = _frames(box, [a, b])
    again, results = _frames(box, [a])
    assert again[0] == first[0]                          # the very bytes of the first visit
    m = imbalance.expected_metrics(0.3, 0.1, 1.0, 2.0)
    assert results[0]["at_threshold"]["dice"] == pytest.approx(float(m["dice"]), abs=1e-12)
