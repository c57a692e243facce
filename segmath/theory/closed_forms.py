r"""Closed forms: Dice/Jaccard conversions, Bayes-optimal thresholds and loss minimisers.

All functions take NumPy arrays or scalars and return NumPy values.  Notation: :math:`\eta`
is the posterior :math:`P(Y = 1 \mid x)`, :math:`w_0, w_1` the class weights of weighted
cross-entropy (``w_1`` multiplies the positive term).
"""
from __future__ import annotations

import numpy as np

__all__ = ["dice_from_jaccard", "jaccard_from_dice", "weighted_ce_threshold", "weighted_ce_minimiser",
           "weighted_ce_posterior", "optimal_f1", "optimal_jaccard", "f1_optimal_threshold",
           "jaccard_optimal_threshold", "optimal_f1_fixed_point", "focal_minimiser", "expected_focal_loss"]


def dice_from_jaccard(j):
    r"""Dice from Jaccard, :math:`D = 2J / (1 + J)`.

    Example:
        >>> float(dice_from_jaccard(0.5))
        0.6666666666666666
    """
    j = np.asarray(j, dtype=float)
    return 2.0 * j / (1.0 + j)


def jaccard_from_dice(d):
    r"""Jaccard from Dice, :math:`J = D / (2 - D)`.

    Example:
        >>> round(float(jaccard_from_dice(2 / 3)), 12)
        0.5
    """
    d = np.asarray(d, dtype=float)
    return d / (2.0 - d)


def weighted_ce_threshold(w0, w1):
    r"""Posterior threshold of the weighted-CE decision rule, :math:`\eta > w_0 / (w_0 + w_1)`.

    Example:
        >>> weighted_ce_threshold(1.0, 3.0)
        0.25
    """
    return w0 / (w0 + w1)


def weighted_ce_minimiser(eta, w0, w1):
    r"""Minimiser of the expected weighted cross-entropy
    :math:`E_{Y \sim \mathrm{Bern}(\eta)}[-w_1 Y \log q - w_0 (1 - Y) \log(1 - q)]`:

    .. math:: q^* = \frac{w_1 \eta}{w_1 \eta + w_0 (1 - \eta)}.

    Example:
        >>> float(weighted_ce_minimiser(0.25, 1.0, 3.0))
        0.5
    """
    eta = np.asarray(eta, dtype=float)
    return w1 * eta / (w1 * eta + w0 * (1.0 - eta))


def weighted_ce_posterior(q, w0, w1):
    r"""Inverse of :func:`weighted_ce_minimiser`: :math:`\eta = w_0 q / (w_0 q + w_1 (1 - q))`."""
    q = np.asarray(q, dtype=float)
    return w0 * q / (w0 * q + w1 * (1.0 - q))


def _expected_top_k_counts(eta):
    """Sorted-descending scan: expected TP of the top-k set, k = 0..n, and sum eta."""
    eta = np.sort(np.asarray(eta, dtype=float).ravel())[::-1]
    tp = np.concatenate([[0.0], np.cumsum(eta)])
    k = np.arange(eta.size + 1, dtype=float)
    return tp, k, tp[-1]


def optimal_f1(eta):
    r"""Best population F1 over threshold rules :math:`\{\eta_i > \delta\}`, from expected counts.

    For the top-:math:`k` set, :math:`F_k = 2\,TP_k / (k + \sum_i \eta_i)` with
    :math:`TP_k` the sum of the :math:`k` largest :math:`\eta`; returns :math:`\max_k F_k`.
    """
    tp, k, total = _expected_top_k_counts(eta)
    return float(np.max(2.0 * tp / (k + total)))


def optimal_jaccard(eta):
    r"""Best population Jaccard over threshold rules: :math:`\max_k TP_k / (k + \sum_i\eta_i - TP_k)`."""
    tp, k, total = _expected_top_k_counts(eta)
    return float(np.max(tp / np.maximum(k + total - tp, 1e-300)))


def f1_optimal_threshold(eta_values):
    r"""F1-optimal posterior threshold :math:`\delta^* = F^*/2` (Lipton et al. 2014).

    Args:
        eta_values: posteriors :math:`\eta_i` of the pixels (an empirical distribution).

    Example:
        >>> import numpy as np
        >>> round(f1_optimal_threshold(np.array([0.9, 0.8, 0.1])), 4)   # F* = 3.4/3.8 (top two)
        0.4474
    """
    return optimal_f1(eta_values) / 2.0


def jaccard_optimal_threshold(eta_values):
    r"""Jaccard-optimal posterior threshold :math:`J^* / (1 + J^*)` (equal to :math:`F^*/2`)."""
    j = optimal_jaccard(eta_values)
    return j / (1.0 + j)


def optimal_f1_fixed_point(f1_at, start=0.5, iterations: int = 60):
    r"""Best F1 :math:`F^*` of any population, given its F1 of the rule :math:`\{\eta > t\}` as ``f1_at(t)``.

    Dinkelbach's iteration :math:`t \leftarrow F(t)/2`: by S9 the F1-optimal threshold is the fixed point
    :math:`t = F^*/2`, and the iteration increases monotonically to it from any start.  Returns
    :math:`F(t)` at the last iterate (the threshold is half of it).  For an empirical distribution
    :func:`optimal_f1` is exact; this form serves continuous models (the book's Gaussian explorer).

    Example:
        >>> import numpy as np
        >>> eta = np.array([0.9, 0.8, 0.1])
        >>> f1 = lambda t: 2 * eta[eta > t].sum() / ((eta > t).sum() + eta.sum())
        >>> round(optimal_f1_fixed_point(f1), 12) == round(optimal_f1(eta), 12)
        True
    """
    t = float(start)
    for _ in range(iterations):
        t_new = float(f1_at(t)) / 2.0
        if abs(t_new - t) < 1e-15:
            break
        t = t_new
    return float(f1_at(t))


def expected_focal_loss(q, eta, gamma):
    r"""Expected binary focal loss (no :math:`\alpha`) of the prediction :math:`q`:
    :math:`-\eta (1 - q)^\gamma \log q - (1 - \eta) q^\gamma \log(1 - q)`."""
    q, eta = np.asarray(q, dtype=float), np.asarray(eta, dtype=float)
    return -eta * (1 - q) ** gamma * np.log(q) - (1 - eta) * q ** gamma * np.log1p(-q)


def _focal_risk_derivative(q, eta, gamma):
    a = (1 - q) ** gamma
    b = q ** gamma
    da = -gamma * (1 - q) ** (gamma - 1) if gamma else 0.0 * q
    db = gamma * q ** (gamma - 1) if gamma else 0.0 * q
    return -eta * (da * np.log(q) + a / q) - (1 - eta) * (db * np.log1p(-q) - b / (1 - q))


def focal_minimiser(eta, gamma, iterations: int = 200):
    r"""Minimiser :math:`q^*(\eta)` of the expected binary focal loss (Charoenphakdee et al. 2021).

    The derivative of the expected loss tends to :math:`-\infty` at :math:`q \to 0` and to
    :math:`+\infty` at :math:`q \to 1` for :math:`0 < \eta < 1`; its root is found by vectorised
    bisection on :math:`(0, 1)`.  :math:`\eta \in \{0, 1\}` returns :math:`\eta`.

    Example:
        >>> round(float(focal_minimiser(0.9, 2.0)), 3)
        0.694
    """
    eta = np.asarray(eta, dtype=float)
    lo = np.full(eta.shape, 1e-15)
    hi = np.full(eta.shape, 1.0 - 1e-15)
    inner = (eta > 0) & (eta < 1)
    e = np.where(inner, eta, 0.5)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        up = _focal_risk_derivative(mid, e, gamma) > 0   # increasing: the root is left of mid
        hi = np.where(up, mid, hi)
        lo = np.where(up, lo, mid)
        if np.all(hi - lo < 1e-15):
            break
    q = 0.5 * (lo + hi)
    return np.where(inner, q, eta)
