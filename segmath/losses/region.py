r"""Region-based (overlap) losses: Dice, Jaccard, Tversky, their variants, JML/DML and MCC.

Each is a short formula in the soft confusion statistics of :mod:`segmath.stats`,
computed per image and class (``aggregate="image"``, the default) or pooled over
the batch (``aggregate="batch"``, nnU-Net's "batch Dice", MONAI's ``batch=True``),
then reduced with the per-class ``weight``: ``reduction="mean"`` is the mean over
images of :math:`\sum_c w_c L_{nc} / \sum_c w_c`, ``"sum"`` the plain sum and ``"none"``
the ``(N, C)`` table (``(1, C)`` for ``aggregate="batch"``).

Notation: per image :math:`n` and class :math:`c`, :math:`I = TP = \sum_i p_i y_i`,
:math:`S = \sum_i p_i + \sum_i y_i`, :math:`FP = \sum_i p_i - I`, :math:`FN = \sum_i y_i - I`,
:math:`\|p - y\|_1 = \sum_i |p_i - y_i|`.

Empty policy (all ratio losses): ``smooth`` (default 1e-5) is added to the numerator and the
denominator of the ratio.  A class absent from both target and prediction then scores a loss of
0 (a perfect empty prediction); an absent class that is predicted scores close to 1 (every false
positive is penalised — unlike smp's ``DiceLoss``, which masks such classes to 0).  With
``smooth=0`` the 0/0 case gives NaN: the caller asked for the raw ratio.  ``mcc_loss`` and
``generalized_dice`` have their own documented rules.
"""
from __future__ import annotations

__all__ = ["dice", "log_dice", "squared_dice", "log_cosh_dice", "jaccard", "log_jaccard", "tversky",
           "focal_tversky", "generalized_dice", "jaccard_metric", "dice_semimetric", "mcc_loss"]

from .. import examples as ex
from ..catalogue import Aggregate, Multiclass, register
from ..inputs import make_pair
from .args import REGION_ARGS
from ..numerics import clip_negative, safe_divide
from ..reduce import class_reduce
from ..stats import soft_stats
from ..validation import check_choice, check_scalar, check_weight


def _example_region(seed):
    x, y = ex.multiclass(seed)
    return (x, y), {}


def _example_region_ignore(seed):
    x, y = ex.multiclass(seed, ignore_index=-100)
    return (x, y), {"ignore_index": -100}


def _example_soft(seed):
    """Soft per-class targets on the simplex (label smoothing / distillation)."""
    return (ex.logits(seed), ex.soft(seed)), {}


def _region_setup(input, target, *, from_logits, activation, ignore_index, weight, smooth, aggregate,
                  squares=False, l1=False, soft_target=True):
    """Validated pair, soft statistics and class weights: the shared first lines of every region loss."""
    check_scalar(smooth, "smooth", low=0)
    # the labels are read only by soft_stats, through bounds-checking kernels: on a CPU their range
    # check rides on those (Pair.guarded) instead of a separate min/max pass
    pair = make_pair(input, target, from_logits=from_logits, activation=activation,
                     ignore_index=ignore_index, soft_target=soft_target, defer_label_check=True)
    stats = soft_stats(pair, aggregate, squares=squares, l1=l1)
    w = check_weight(weight, pair.num_classes, pair.input)
    return pair, stats, w


def _safe_pow(xp, base, exponent):
    """``base ** exponent`` for ``base >= 0``: exactly 0 at 0 with a finite (zero) gradient there.

    ``0 ** e`` with ``0 < e < 1`` has an infinite derivative; the double ``where`` keeps the
    unused branch away from it so autograd never multiplies inf by 0.  The test is ``base == 0``
    (not ``base > 0``), so a NaN base stays NaN.
    """
    zero = base == 0
    safe = xp.where(zero, xp.ones_like(base), base)
    return xp.where(zero, xp.zeros_like(base), safe ** exponent)


def _dice_score(st, smooth):
    return (2.0 * st.tp + smooth) / (st.sp + st.sy + smooth)


def _neg_log_ratio(xp, num, den):
    """-log(num / den) as log(den) - log(num): no ratio rounds to 0 before the log."""
    return xp.log(den) - xp.log(num)


# -- Dice family ----------------------------------------------------------------

@register("dice", kind="loss", name="Soft Dice loss", example=_example_region,
          references=("milletari2016vnet", "sudre2017generalised"), chapter="04_overlap",
          symbolic=Aggregate("1 - (2*I + smooth)/(S_p + S_y + smooth)"),
          theorems=("verify_soft_dice_gradient_constant", "verify_dice_jaccard_bijection"),
          tags=("soft-target",))
@REGION_ARGS.fill
def dice(input, target, *, weight=None, ignore_index=None, from_logits=True, activation=None,
         smooth=1e-5, aggregate="image", reduction="mean"):
    r"""Soft Dice loss, per image and class.

    .. math:: L_{nc} = 1 - \frac{2\,TP_{nc} + s}{2\,TP_{nc} + FP_{nc} + FN_{nc} + s}
              = 1 - \frac{2\sum_i p_{ic} y_{ic} + s}{\sum_i p_{ic} + \sum_i y_{ic} + s}

    Args:
        {args}
        weight: per-class weights ``(C,)`` for the class mean (0 drops a class, e.g. background).
        smooth: ``s`` above; the empty policy (see module docstring).
        aggregate: ``"image"`` (per image, then mean) or ``"batch"`` (counts pooled over the batch).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (the ``(N, C)`` or ``(1, C)`` table).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.stack([1 - y, y], 1).astype(float)
        >>> float(segmath.dice(p, y, from_logits=False))
        0.0
    """
    pair, st, w = _region_setup(input, target, from_logits=from_logits, activation=activation,
                                ignore_index=ignore_index, weight=weight, smooth=smooth, aggregate=aggregate)
    loss = 1.0 - _dice_score(st, smooth)
    return class_reduce(pair.xp, loss, reduction, w)


@register("log_dice", kind="loss", name="Log Dice loss", example=_example_region_ignore,
          references=("wong20183d", "jadon2020survey"), chapter="04_overlap",
          symbolic=Aggregate("-log((2*I + smooth)/(S_p + S_y + smooth))"),
          theorems=("verify_dice_jaccard_bijection",), tags=("soft-target",))
@REGION_ARGS.fill
def log_dice(input, target, *, weight=None, ignore_index=None, from_logits=True, activation=None,
             smooth=1e-5, aggregate="image", reduction="mean"):
    r"""Negative log of the soft Dice coefficient (the slides' form of the Dice loss).

    .. math:: L_{nc} = -\log D_{nc} = \log\Big(\sum_i p_{ic} + \sum_i y_{ic} + s\Big)
              - \log\Big(2\sum_i p_{ic} y_{ic} + s\Big)

    The slides sum over classes, :math:`L = \sum_c -\log D_c`: that is ``reduction="sum"`` for one
    image.  Unbounded above (a class with no overlap costs :math:`\log(S/s)`), and its gradient
    :math:`-\nabla D / D` grows as the overlap vanishes.  Computed as a difference of logs, so
    it stays finite whenever ``smooth > 0``.

    Args:
        {args}
        smooth: ``s`` above (the empty policy of the module docstring: an empty class predicted empty
            costs 0).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (the ``(N, C)`` table).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.full((1, 2, 2, 2), 0.5)
        >>> D1, D0 = 2 * 1.5 / 5, 2 * 0.5 / 3          # class 1, class 0
        >>> bool(np.isclose(segmath.log_dice(p, y, from_logits=False, smooth=0, reduction="sum"),
        ...                 -np.log(D0) - np.log(D1)))
        True
    """
    pair, st, w = _region_setup(input, target, from_logits=from_logits, activation=activation,
                                ignore_index=ignore_index, weight=weight, smooth=smooth, aggregate=aggregate)
    loss = _neg_log_ratio(pair.xp, 2.0 * st.tp + smooth, st.sp + st.sy + smooth)
    return class_reduce(pair.xp, loss, reduction, w)


@register("squared_dice", kind="loss", name="Squared-denominator (V-Net) Dice loss", example=_example_region,
          references=("milletari2016vnet", "jadon2020survey"), chapter="04_overlap",
          symbolic=Aggregate("1 - (2*I + smooth)/(Q_p + Q_y + smooth)"),
          theorems=("verify_soft_dice_gradient_constant",), tags=("soft-target",))
@REGION_ARGS.fill
def squared_dice(input, target, *, weight=None, ignore_index=None, from_logits=True, activation=None,
                 smooth=1e-5, aggregate="image", reduction="mean"):
    r"""Soft Dice with squared denominators (Milletari et al., V-Net 2016; "sDice" in the slides).

    .. math:: L_{nc} = 1 - \frac{2\sum_i p_{ic} y_{ic} + s}{\sum_i p_{ic}^2 + \sum_i y_{ic}^2 + s}

    Equals :func:`dice` on hard predictions and targets (:math:`p^2 = p`).  Its gradient
    :math:`\partial D/\partial p_j = 2[y_j(\sum p^2 + \sum y^2) - 2 p_j \sum p y] / (\sum p^2 + \sum y^2)^2`
    is no longer constant within a class.  Same as MONAI ``DiceLoss(squared_pred=True)``.

    Args:
        {args}

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.stack([1 - y, y], 1).astype(float)
        >>> float(segmath.squared_dice(p, y, from_logits=False))
        0.0
    """
    pair, st, w = _region_setup(input, target, from_logits=from_logits, activation=activation,
                                ignore_index=ignore_index, weight=weight, smooth=smooth, aggregate=aggregate,
                                squares=True)
    loss = 1.0 - (2.0 * st.tp + smooth) / (st.sp2 + st.sy2 + smooth)
    return class_reduce(pair.xp, loss, reduction, w)


@register("log_cosh_dice", kind="loss", name="Log-cosh Dice loss", example=_example_region,
          references=("jadon2020survey",), chapter="04_overlap",
          symbolic=Aggregate("log(cosh(1 - (2*I + smooth)/(S_p + S_y + smooth)))"),
          tags=("soft-target",))
@REGION_ARGS.fill
def log_cosh_dice(input, target, *, weight=None, ignore_index=None, from_logits=True, activation=None,
                  smooth=1e-5, aggregate="image", reduction="mean"):
    r"""Log-cosh of the soft Dice loss (Jadon 2020).

    .. math:: L_{nc} = \log\cosh(L^{\mathrm{Dice}}_{nc}),\qquad L^{\mathrm{Dice}} \in [0, 1]

    A monotone reshaping of :func:`dice`: :math:`\log\cosh x \approx x^2/2` near 0, so the loss
    and its gradient shrink as the Dice loss goes to 0; the range is :math:`[0, \log\cosh 1]
    \approx [0, 0.434]` and the minimisers are those of the Dice loss.

    Args:
        {args}
        smooth: Dice smoothing (module empty policy).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.stack([y, 1 - y], 1).astype(float)  # all wrong
        >>> round(float(segmath.log_cosh_dice(p, y, from_logits=False, smooth=0)), 6)  # log cosh 1
        0.433781
    """
    pair, st, w = _region_setup(input, target, from_logits=from_logits, activation=activation,
                                ignore_index=ignore_index, weight=weight, smooth=smooth, aggregate=aggregate)
    xp = pair.xp
    loss = xp.log(xp.cosh(1.0 - _dice_score(st, smooth)))
    return class_reduce(xp, loss, reduction, w)


# -- Jaccard family ---------------------------------------------------------------

@register("jaccard", kind="loss", name="Soft Jaccard (IoU) loss", example=_example_region_ignore,
          references=("rahman2016optimizing", "jadon2020survey"), chapter="04_overlap",
          symbolic=Aggregate("1 - (I + smooth)/(S_p + S_y - I + smooth)"),
          theorems=("verify_dice_jaccard_bijection", "verify_jaccard_submodular"), tags=("soft-target",))
@REGION_ARGS.fill
def jaccard(input, target, *, weight=None, ignore_index=None, from_logits=True, activation=None,
            smooth=1e-5, aggregate="image", reduction="mean"):
    r"""Soft Jaccard (IoU) loss, per image and class.

    .. math:: L_{nc} = 1 - \frac{I_{nc} + s}{S_{nc} - I_{nc} + s},\qquad
              I = \sum_i p_i y_i,\; S = \sum_i p_i + \sum_i y_i

    With ``smooth=0`` the soft Dice and Jaccard coefficients obey :math:`D = 2J/(1+J)`.  MONAI's
    ``DiceLoss(jaccard=True)`` computes :math:`(2I + s')/(2(S - I) + s')`, i.e. this loss with
    ``smooth = s'/2``.

    Args:
        {args}
        target: ``(N, *spatial)`` labels or ``(N, C, *spatial)`` one-hot / soft targets (for soft
            targets prefer :func:`jaccard_metric`, which is minimised at the target).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.full((1, 2, 2, 2), 0.5)
        >>> J1, J0 = 1.5 / (5 - 1.5), 0.5 / (3 - 0.5)
        >>> bool(np.isclose(segmath.jaccard(p, y, from_logits=False, smooth=0), 1 - (J0 + J1) / 2))
        True
    """
    pair, st, w = _region_setup(input, target, from_logits=from_logits, activation=activation,
                                ignore_index=ignore_index, weight=weight, smooth=smooth, aggregate=aggregate)
    loss = 1.0 - (st.tp + smooth) / (st.sp + st.sy - st.tp + smooth)
    return class_reduce(pair.xp, loss, reduction, w)


@register("log_jaccard", kind="loss", name="Log Jaccard (IoU) loss", example=_example_region,
          references=("rahman2016optimizing",), chapter="04_overlap",
          symbolic=Aggregate("-log((I + smooth)/(S_p + S_y - I + smooth))"),
          theorems=("verify_dice_jaccard_bijection",), tags=("soft-target",))
@REGION_ARGS.fill
def log_jaccard(input, target, *, weight=None, ignore_index=None, from_logits=True, activation=None,
                smooth=1e-5, aggregate="image", reduction="mean"):
    r"""Negative log of the soft Jaccard index (the slides' IoU loss).

    .. math:: L_{nc} = \log(S_{nc} - I_{nc} + s) - \log(I_{nc} + s)

    The slides sum over classes (``reduction="sum"`` for one image).  Computed as a difference of
    logs (finite whenever ``smooth > 0``).

    Args:
        {args}

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.full((1, 2, 2, 2), 0.5)
        >>> J1, J0 = 1.5 / (5 - 1.5), 0.5 / (3 - 0.5)
        >>> bool(np.isclose(segmath.log_jaccard(p, y, from_logits=False, smooth=0, reduction="sum"),
        ...                 -np.log(J0) - np.log(J1)))
        True
    """
    pair, st, w = _region_setup(input, target, from_logits=from_logits, activation=activation,
                                ignore_index=ignore_index, weight=weight, smooth=smooth, aggregate=aggregate)
    loss = _neg_log_ratio(pair.xp, st.tp + smooth, st.sp + st.sy - st.tp + smooth)
    return class_reduce(pair.xp, loss, reduction, w)


# -- Tversky family -----------------------------------------------------------------

def _tversky_index(st, alpha, beta, smooth):
    return (st.tp + smooth) / (st.tp + alpha * st.fp + beta * st.fn + smooth)


def _check_tversky(alpha, beta):
    check_scalar(alpha, "alpha", low=0)
    check_scalar(beta, "beta", low=0)


def _example_tversky(seed):
    x, y = ex.multiclass(seed)
    return (x, y), {"alpha": 0.3, "beta": 0.7}


@register("tversky", kind="loss", name="Tversky loss", example=_example_tversky,
          references=("salehi2017tversky",), chapter="04_overlap",
          symbolic=Aggregate("1 - (TP + smooth)/(TP + alpha*FP + beta*FN + smooth)"),
          theorems=("verify_tversky_bounds",), tags=("soft-target",))
@REGION_ARGS.fill
def tversky(input, target, *, alpha=0.3, beta=0.7, weight=None, ignore_index=None, from_logits=True,
            activation=None, smooth=1e-5, aggregate="image", reduction="mean"):
    r"""Tversky loss (Salehi et al. 2017).

    .. math::
        \begin{aligned}
        L_{nc} &= 1 - T_{nc},\quad T = \frac{TP + s}{TP + \alpha\,FP + \beta\,FN + s},\\
        FP &= \sum_i p_i (1 - y_i),\quad FN = \sum_i (1 - p_i) y_i
        \end{aligned}

    .. warning:: **alpha weighs the false POSITIVES and beta the false NEGATIVES**, as in Salehi et
       al. 2017 (and MONAI ``TverskyLoss``, smp ``TverskyLoss``).  Several libraries swap them
       (Jadon's SemSegLoss applies alpha to FN; Abraham & Khan 2019 write
       :math:`TP/(TP + \alpha FN + \beta FP)`).  To penalise missed foreground more, raise ``beta``:
       the default ``alpha=0.3, beta=0.7`` is Salehi et al.'s best setting.

    ``alpha = beta = 1`` gives :func:`jaccard` (same ``smooth``) and ``alpha = beta = 1/2`` gives
    :func:`dice` with ``smooth`` doubled (:math:`(2TP + 2s)/(2TP + FP + FN + 2s)`).

    Args:
        {args}
        alpha: weight of the false positives (>= 0).
        beta: weight of the false negatives (>= 0).
        smooth: ``s`` above (module empty policy; an absent class predicted with mass ``P`` costs
            :math:`\alpha P / (\alpha P + s)`).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.full((1, 2, 2, 2), 0.5)
        >>> bool(np.isclose(segmath.tversky(p, y, alpha=0.5, beta=0.5, from_logits=False, smooth=0),
        ...                 segmath.dice(p, y, from_logits=False, smooth=0)))
        True
    """
    _check_tversky(alpha, beta)
    pair, st, w = _region_setup(input, target, from_logits=from_logits, activation=activation,
                                ignore_index=ignore_index, weight=weight, smooth=smooth, aggregate=aggregate)
    loss = 1.0 - _tversky_index(st, alpha, beta, smooth)
    return class_reduce(pair.xp, loss, reduction, w)


def _example_focal_tversky(seed):
    x, y = ex.multiclass(seed)
    return (x, y), {"alpha": 0.3, "beta": 0.7, "exponent": 0.75}


@register("focal_tversky", kind="loss", name="Focal Tversky loss", example=_example_focal_tversky,
          references=("abraham2019novel", "salehi2017tversky"), chapter="05_focal",
          symbolic=Aggregate("(1 - (TP + smooth)/(TP + alpha*FP + beta*FN + smooth))**exponent"),
          theorems=("verify_tversky_bounds",), tags=("soft-target",))
@REGION_ARGS.fill
def focal_tversky(input, target, *, alpha=0.3, beta=0.7, exponent=0.75, weight=None, ignore_index=None,
                  from_logits=True, activation=None, smooth=1e-5, aggregate="image", reduction="mean"):
    r"""Focal Tversky loss (Abraham & Khan 2019): the Tversky loss raised to a power, per class.

    .. math:: L_{nc} = (1 - T_{nc})^{q},\qquad T = \frac{TP + s}{TP + \alpha\,FP + \beta\,FN + s}

    **Exponent convention.** Abraham & Khan write :math:`(1 - TI)^{1/\gamma}` and use
    :math:`\gamma = 4/3`; here the exponent itself is the parameter, ``exponent`` :math:`= q = 1/\gamma`
    (default 0.75 = their setting).  For :math:`q < 1`, :math:`(1-T)^q \ge 1-T` and the gradient
    factor :math:`q(1-T)^{q-1}` grows as :math:`T \to 1`: classes that are almost right keep a strong
    training signal (Abraham & Khan's motivation: small ROIs late in training).  :math:`q > 1` does
    the opposite (it down-weights nearly right classes, like the focal loss).  smp
    ``TverskyLoss(gamma=q)`` raises the *class mean* to the power
    instead (the same only for one class).

    **alpha/beta convention.** As in :func:`tversky`: ``alpha`` weighs FALSE POSITIVES, ``beta``
    FALSE NEGATIVES (Salehi et al.).  Abraham & Khan's "alpha = 0.7 on FN, beta = 0.3 on FP" is
    ``alpha=0.3, beta=0.7`` here (the default).

    The power is taken with a safe branch: a class with :math:`T = 1` contributes exactly 0 with a
    zero (finite) gradient, although :math:`d(1-T)^q/dT` is infinite there for :math:`q < 1`.

    Args:
        {args}
        alpha: weight of the false positives (>= 0).
        beta: weight of the false negatives (>= 0).
        exponent: :math:`q > 0`; 1 gives :func:`tversky`.
        weight: per-class weights ``(C,)`` for the class mean (Abraham & Khan sum over classes:
            ``reduction="sum"`` for one image).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.full((1, 2, 2, 2), 0.5)
        >>> t = segmath.tversky(p, y, from_logits=False, reduction="none")
        >>> ft = segmath.focal_tversky(p, y, exponent=0.75, from_logits=False, reduction="none")
        >>> bool(np.allclose(ft, t ** 0.75))
        True
    """
    _check_tversky(alpha, beta)
    check_scalar(exponent, "exponent", low=0, low_open=True)
    pair, st, w = _region_setup(input, target, from_logits=from_logits, activation=activation,
                                ignore_index=ignore_index, weight=weight, smooth=smooth, aggregate=aggregate)
    xp = pair.xp
    base = 1.0 - _tversky_index(st, alpha, beta, smooth)
    loss = _safe_pow(xp, clip_negative(xp, base), exponent)   # rounding can leave 1 - T at -1e-17
    return class_reduce(xp, loss, reduction, w)


# -- generalised Dice -----------------------------------------------------------------

GDL_WEIGHTS = ("square", "simple", "uniform")


def _gdl_weights(xp, sy, weight_type):
    """Sudre's class weights 1/(sum y)^2 (or 1/sum y, or 1); an empty class's infinite weight is
    replaced by the largest finite weight of the same row (MONAI's policy)."""
    if weight_type == "uniform":
        return xp.ones_like(sy)
    w = safe_divide(xp, xp.ones_like(sy), sy * sy if weight_type == "square" else sy)
    return xp.where(sy == 0, xp.max(w, axis=1, keepdims=True), w)


@register("generalized_dice", kind="loss", name="Generalised Dice loss", example=_example_region_ignore,
          references=("sudre2017generalised",), chapter="08_multiclass",
          symbolic=(Multiclass("1 - (2*sum_c(I/S_y**2) + smooth)/(sum_c((S_p + S_y)/S_y**2) + smooth)"),
                    Aggregate("1 - (2*I/S_y**2 + smooth)/((S_p + S_y)/S_y**2 + smooth)", label="binary")),
          theorems=("verify_dice_jaccard_bijection",), tags=("soft-target",))
@REGION_ARGS.fill
def generalized_dice(input, target, *, weight_type="square", weight=None, ignore_index=None, from_logits=True,
                     activation=None, smooth=1e-5, aggregate="image", reduction="mean"):
    r"""Generalised Dice loss (Sudre et al. 2017): one Dice over all classes with class weights.

    .. math::
        \begin{aligned}
        L_n &= 1 - \frac{2\sum_c w_{nc} \sum_i p_{ic} y_{ic} + s}{\sum_c w_{nc} \sum_i (p_{ic} + y_{ic}) + s},\\
        w_{nc} &= \frac{1}{(\sum_i y_{ic})^2}\ (\text{"square"}),\quad
        \frac{1}{\sum_i y_{ic}}\ (\text{"simple"}),\quad 1\ (\text{"uniform"})
        \end{aligned}

    The weights come from the target only (no gradient), per image (``aggregate="image"``) or from
    the counts pooled over the batch (``aggregate="batch"``, MONAI's ``batch=True``).

    Empty policy: a class absent from the target has an infinite weight; it is replaced by the
    largest finite weight of the same image (of the batch for ``aggregate="batch"``), as MONAI does,
    so predicting an absent class is penalised like the rarest present class.  If every class is
    absent (possible only with ``ignore_index``) the weights are 0 and the loss is 0.

    Args:
        {args}
        weight_type: ``"square"`` | ``"simple"`` | ``"uniform"``.
        weight: optional extra per-class factors ``(C,)`` multiplying :math:`w_{nc}` (0 drops a class).
        smooth: ``s`` above.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (the ``(N, 1)`` or ``(1, 1)`` table).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.full((1, 2, 2, 2), 0.5)
        >>> w0, w1 = 1 / 1 ** 2, 1 / 3 ** 2
        >>> ref = 1 - 2 * (w0 * 0.5 + w1 * 1.5) / (w0 * 3 + w1 * 5)
        >>> bool(np.isclose(segmath.generalized_dice(p, y, from_logits=False, smooth=0), ref))
        True
    """
    check_choice(weight_type, "weight_type", GDL_WEIGHTS)
    pair, st, w = _region_setup(input, target, from_logits=from_logits, activation=activation,
                                ignore_index=ignore_index, weight=weight, smooth=smooth, aggregate=aggregate)
    xp = pair.xp
    cw = _gdl_weights(xp, st.sy, weight_type)
    if w is not None:
        cw = cw * w
    num = 2.0 * xp.sum(cw * st.tp, axis=1, keepdims=True) + smooth
    den = xp.sum(cw * (st.sp + st.sy), axis=1, keepdims=True) + smooth
    return class_reduce(xp, 1.0 - num / den, reduction)


# -- soft-label compatible: JML and DML ---------------------------------------------

JML_VARIANTS = ("jml1", "jml2")


def _example_jml(seed):
    if seed % 2 == 0:
        return (ex.logits(seed), ex.soft(seed)), {"variant": "jml1"}
    return (ex.logits(seed), ex.soft(seed)), {"variant": "jml2", "aggregate": "batch"}


@register("jaccard_metric", kind="loss", name="Jaccard metric loss (JML)", example=_example_jml,
          references=("wang2023jaccard",), chapter="07_soft_labels",
          symbolic=(Aggregate("1 - (S_p + S_y - L_1 + 2*smooth)/(S_p + S_y + L_1 + 2*smooth)", when={"variant": "jml1"}),
                    Aggregate("1 - (I + smooth)/(I + L_1 + smooth)", label="jml2", when={"variant": "jml2"})),
          theorems=("verify_jml_metric",), tags=("soft-target",))
@REGION_ARGS.fill
def jaccard_metric(input, target, *, variant="jml1", weight=None, ignore_index=None, from_logits=True,
                   activation=None, smooth=1e-5, aggregate="image", reduction="mean"):
    r"""Jaccard metric loss (Wang, Ning & Blaschko, NeurIPS 2023): soft Jaccard that accepts soft labels.

    .. math::
        \begin{aligned}
        \mathrm{JML1}&: L = 1 - \frac{\tfrac12(\|p\|_1 + \|y\|_1 - \|p-y\|_1) + s}{\tfrac12(\|p\|_1 + \|y\|_1 + \|p-y\|_1) + s},\\
        \mathrm{JML2}&: L = 1 - \frac{\langle p, y\rangle + s}{\langle p, y\rangle + \|p-y\|_1 + s}
        \end{aligned}

    per image and class (sums over pixels): the :math:`\ell_1` forms of the intersection and the union,
    each smoothed by :math:`s` (smp's ``JaccardLoss`` computes JML1 exactly so).  Both equal
    :func:`jaccard` (same ``smooth``) when the target is hard (0/1), and both are metrics on
    :math:`[0,1]^n` that vanish iff :math:`p = y` (with ``smooth=0``), so a soft target (label
    smoothing, distillation) is their minimiser — soft Jaccard's minimiser is
    a hard mask instead.  The :math:`\ell_1` term uses :func:`segmath.stats.soft_stats` (``l1``).

    Args:
        {args}
        target: ``(N, *spatial)`` labels or ``(N, C, *spatial)`` soft targets in [0, 1].
        variant: ``"jml1"`` (default, the :math:`\ell_1` form above) or ``"jml2"``.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.full((1, 2, 2, 2), 0.5)             # a soft target...
        >>> float(segmath.jaccard_metric(y.copy(), y, from_logits=False, smooth=0))  # ...is its minimiser
        0.0
        >>> bool(segmath.jaccard(y.copy(), y, from_logits=False, smooth=0) > 0.6)   # soft Jaccard is not
        True
    """
    check_choice(variant, "variant", JML_VARIANTS)
    pair, st, w = _region_setup(input, target, from_logits=from_logits, activation=activation,
                                ignore_index=ignore_index, weight=weight, smooth=smooth, aggregate=aggregate,
                                l1=True)
    if variant == "jml1":
        # intersection and union in l1 form, (|p| + |y| -/+ |p - y|) / 2, each smoothed by s
        total = st.sp + st.sy
        loss = 1.0 - (total - st.l1 + 2.0 * smooth) / (total + st.l1 + 2.0 * smooth)
    else:
        loss = 1.0 - (st.tp + smooth) / (st.tp + st.l1 + smooth)
    return class_reduce(pair.xp, loss, reduction, w)


@register("dice_semimetric", kind="loss", name="Dice semimetric loss (DML)", example=_example_soft,
          references=("wang2023dice",), chapter="07_soft_labels",
          symbolic=Aggregate("1 - (S_p + S_y - L_1 + smooth)/(S_p + S_y + smooth)"),
          theorems=("verify_dml_semimetric",), tags=("soft-target",))
@REGION_ARGS.fill
def dice_semimetric(input, target, *, weight=None, ignore_index=None, from_logits=True, activation=None,
                    smooth=1e-5, aggregate="image", reduction="mean"):
    r"""Dice semimetric loss (Wang et al., MICCAI 2023): soft Dice that accepts soft labels.

    .. math:: L_{nc} = 1 - \frac{\|p\|_1 + \|y\|_1 - \|p-y\|_1 + s}{\|p\|_1 + \|y\|_1 + s}

    Equals :func:`dice` (same ``smooth``) for hard targets, vanishes iff :math:`p = y`, and is
    symmetric — but only a semimetric: the triangle inequality can fail
    (``segmath.theory.verify_dml_semimetric``).  smp's ``DiceLoss`` computes the same ratio with
    ``smooth`` doubled, because smp's intersection is :math:`(\|p\|_1 + \|y\|_1 - \|p - y\|_1)/2`.

    Args:
        {args}
        target: ``(N, *spatial)`` labels or ``(N, C, *spatial)`` soft targets in [0, 1].

    Example:
        >>> import numpy as np, segmath
        >>> y = np.full((1, 2, 2, 2), 0.5)
        >>> float(segmath.dice_semimetric(y.copy(), y, from_logits=False, smooth=0))
        0.0
    """
    pair, st, w = _region_setup(input, target, from_logits=from_logits, activation=activation,
                                ignore_index=ignore_index, weight=weight, smooth=smooth, aggregate=aggregate,
                                l1=True)
    total = st.sp + st.sy
    loss = 1.0 - (total - st.l1 + smooth) / (total + smooth)
    return class_reduce(pair.xp, loss, reduction, w)


# -- Matthews correlation ------------------------------------------------------------

@register("mcc_loss", kind="loss", name="Matthews correlation coefficient loss", example=_example_region_ignore,
          references=("abhishek2021matthews",), chapter="04_overlap",
          symbolic=Aggregate("1 - (TP*TN - FP*FN + smooth)/sqrt((TP + FP)*(TP + FN)*(TN + FP)*(TN + FN) + smooth)"),
          tags=("soft-target",))
@REGION_ARGS.fill
def mcc_loss(input, target, *, weight=None, ignore_index=None, from_logits=True, activation=None,
             smooth=1e-5, aggregate="image", reduction="mean"):
    r"""One minus the soft Matthews correlation coefficient (Abhishek & Hamarneh 2021), per class.

    .. math:: L_{nc} = 1 - \frac{TP\,TN - FP\,FN + s}{\sqrt{(TP+FP)(TP+FN)(TN+FP)(TN+FN) + s}}

    with the soft counts of :mod:`segmath.stats` (one-vs-rest per class; :math:`TN` counts the
    non-ignored pixels only).  The range is :math:`[0, 2]` (:math:`MCC \in [-1, 1]`): unlike the
    Dice family the loss rewards true negatives too.  Same definition and smoothing as MONAI
    ``MCCLoss`` (``smooth_nr = smooth_dr = smooth``).

    Empty policy: MCC is undefined when a marginal is empty (e.g. empty target and empty
    prediction).  As in MONAI, a class with no soft false positives and no soft false negatives
    (:math:`FP = FN = 0`, a perfect prediction) scores 0; any other undefined case scores
    :math:`\approx 1` (MCC :math:`\approx 0`, "no better than chance").

    Args:
        {args}
        ignore_index: label value excluded from every count.
        smooth: ``s`` above.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.stack([y, 1 - y], 1).astype(float)  # all wrong
        >>> round(float(segmath.mcc_loss(p, y, from_logits=False, smooth=0)), 6)        # MCC = -1
        2.0
    """
    pair, st, w = _region_setup(input, target, from_logits=from_logits, activation=activation,
                                ignore_index=ignore_index, weight=weight, smooth=smooth, aggregate=aggregate)
    xp = pair.xp
    tp, fp, fn, tn = st.tp, st.fp, st.fn, st.tn
    num = tp * tn - fp * fn + smooth
    den = xp.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + smooth)
    loss = 1.0 - num / den
    perfect = (fp == 0) & (fn == 0)
    loss = xp.where(perfect, xp.zeros_like(loss), loss)
    return class_reduce(xp, loss, reduction, w)
