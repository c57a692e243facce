r"""Centre-line Dice (clDice) as a metric, with the exact (hard) skeleton of each mask.

The loss :func:`segmath.cldice` uses a soft skeleton (differentiable min/max pooling); a
metric must not depend on its iteration count, so here the skeleton is the topology-preserving
thinning of scikit-image (``skimage.morphology.skeletonize``, 2-D and 3-D).  No array-API
thinning exists, so torch inputs are skeletonised on the host (one device-to-host copy of the
masks) and the result is returned as a tensor on the input's device.  Inputs,
``include_background``, ``both_empty`` and ``reduction`` as in :mod:`segmath.distance.surface`;
exactly one empty mask scores 0.
"""
from __future__ import annotations

__all__ = ["cldice_score"]

import numpy as np

from .. import primitives as P
from ..catalogue import register
from ..numerics import safe_divide
from .surface import _example_surface, check_empty, class_masks, count, finish, with_common_args


def hard_skeleton(m, masks):
    """Skeleton of every ``(image, class)`` mask, as a bool array like ``masks`` (computed on the host)."""
    from skimage.morphology import skeletonize   # imported here: scikit-image is needed for this metric only

    host = P.to_numpy(masks)
    out = np.zeros_like(host)
    for index in np.ndindex(host.shape[:2]):
        if host[index].any():
            out[index] = skeletonize(host[index])
    return P.asarray_like(out, masks)


def _example_skeleton(seed):
    (x, y), _ = _example_surface(seed)
    return (x, y), {}


@register("cldice_score", kind="metric", name="Centre-line Dice (clDice)", example=_example_skeleton,
          references=("shit2021cldice", "maierhein2024metrics"), chapter=None,
          formula=r"\mathrm{clDice} = \frac{2\,T_{prec}\,T_{sens}}{T_{prec} + T_{sens}},\ "
                  r"T_{prec} = \frac{|S(P) \cap G|}{|S(P)|},\ T_{sens} = \frac{|S(G) \cap P|}{|S(G)|}")
@with_common_args
def cldice_score(input, target, *, num_classes=None, from_logits=True, threshold=0.5, include_background=False,
                 both_empty="nan", reduction="mean"):
    r"""Centre-line Dice: the harmonic mean of topology precision and sensitivity (Shit et al. 2021).

    .. math::
        T_{prec} = \frac{|S(P) \cap G|}{|S(P)|}, \quad T_{sens} = \frac{|S(G) \cap P|}{|S(G)|}, \quad
        \mathrm{clDice} = \frac{2\,T_{prec}\,T_{sens}}{T_{prec} + T_{sens}}

    :math:`S(X)` is the hard skeleton of mask :math:`X` (scikit-image's thinning; on torch
    computed on the host, see the module docstring), :math:`P` the prediction and :math:`G`
    the target, per image and class.  0 when :math:`T_{prec} + T_{sens} = 0`.  Metrics
    Reloaded recommends it beside an overlap metric for tubular structures (vessels, neurons,
    roads), where Dice barely notices a broken branch.  It takes no ``spacing``: the skeleton
    and the counts are in voxels.

    Args:{common_args}

    Example:
        >>> import numpy as np, segmath
        >>> y = np.zeros((1, 7, 9), int); y[0, 2:5, 1:8] = 1          # a bar 3 wide
        >>> p = y.copy(); p[0, :, 4] = 0                                # broken: T_prec = 1, T_sens = 5/6
        >>> round(float(segmath.cldice_score(p, y, num_classes=2)), 4)
        0.9091
    """
    check_empty("nan", both_empty)
    m = class_masks(input, target, num_classes=num_classes, from_logits=from_logits, threshold=threshold,
                    include_background=include_background)
    xp = m.xp
    sp, st = hard_skeleton(m, m.pred), hard_skeleton(m, m.true)
    prec = safe_divide(xp, count(xp, m.flat(sp & m.true), m.dtype), count(xp, m.flat(sp), m.dtype))
    sens = safe_divide(xp, count(xp, m.flat(st & m.pred), m.dtype), count(xp, m.flat(st), m.dtype))
    value = safe_divide(xp, 2.0 * prec * sens, prec + sens)          # 0 when both are 0
    return finish(m, value, count(xp, m.flat(m.pred), m.dtype), count(xp, m.flat(m.true), m.dtype), reduction,
                  both_empty=both_empty)
