r"""Boundaries and distances (THEORY.md S22-S24): the boundary-loss identity and the
distance-transform estimate of the Hausdorff distance.

Each ``verify_*`` returns a :class:`~segmath.theory.result.Verification`.  Masks are
disks, ellipses and random blobs on a pixel grid; distances come from
:func:`segmath.edt` / :func:`segmath.signed_distance` (SciPy-backed on NumPy) and the
Hausdorff distance from :func:`scipy.spatial.distance.directed_hausdorff` on the contour
points, so the check does not reuse the metric it is about.
"""
from __future__ import annotations

import numpy as np

from .result import Checker

__all__ = ["verify_boundary_loss_identity", "verify_dt_hausdorff_convex_nested",
           "verify_dt_hausdorff_counterexample", "dt_hausdorff_estimate", "contour_hausdorff"]


def _disk(shape, centre, radius, axes=(1.0, 1.0)):
    i, j = np.mgrid[:shape[0], :shape[1]]
    return ((i - centre[0]) / axes[0]) ** 2 + ((j - centre[1]) / axes[1]) ** 2 <= radius ** 2


def _contour(mask):
    import scipy.ndimage as ndi
    return mask & ~ndi.binary_erosion(mask, border_value=0)


def contour_hausdorff(a, b):
    """Hausdorff distance between the inner contours of two masks (SciPy, contour points)."""
    from scipy.spatial.distance import directed_hausdorff
    pa, pb = np.argwhere(_contour(a)), np.argwhere(_contour(b))
    return max(directed_hausdorff(pa, pb)[0], directed_hausdorff(pb, pa)[0])


def dt_hausdorff_estimate(p, q):
    r"""Karimi & Salcudean's estimate :math:`\max_{P\triangle Q} \max(d_P, d_Q)`.

    :math:`d_X` is the distance to the far side of :math:`\partial X` (EDT of the mask plus
    EDT of its complement), the map :func:`segmath.hausdorff_dt` uses.
    """
    from .. import edt
    dp = edt(p.astype(float)) + edt((~p).astype(float))
    dq = edt(q.astype(float)) + edt((~q).astype(float))
    diff = p ^ q
    return float(np.max(np.maximum(dp, dq)[diff])) if diff.any() else 0.0


def verify_boundary_loss_identity(seed=0, cases=20):
    r"""S22: :math:`\sum\phi_G s - \sum\phi_G g = \sum_{S\triangle G}|\phi_G|` for binary :math:`s`.

    Checked for both sign conventions of :func:`segmath.signed_distance` on random blobs and
    pairs of disks, and through :func:`segmath.boundary_loss` itself (its value at the
    prediction minus its value at the target, times the number of pixels).
    """
    from .. import boundary_loss, signed_distance
    chk = Checker("The boundary loss exceeds its value at the target by the |phi_G|-mass of the "
                  "symmetric difference (an exact discrete identity)", 1e-9, "S22")
    rng = np.random.default_rng(seed)
    import scipy.ndimage as ndi
    for c in range(cases):
        shape = (40, 48)
        if c % 2 == 0:
            g = _disk(shape, (20, 22), 11)
            s = _disk(shape, (20 + rng.integers(-6, 7), 22 + rng.integers(-6, 7)), 8 + rng.integers(0, 8))
        else:
            g = ndi.gaussian_filter(rng.random(shape), 3) > 0.5
            s = ndi.gaussian_filter(rng.random(shape), 3) > 0.5
        if not g.any() or g.all():
            continue
        for convention in ("exact", "kervadec"):
            phi = signed_distance(g.astype(float), convention=convention)
            lhs = float(np.sum(phi * s) - np.sum(phi * g))
            rhs = float(np.sum(np.abs(phi)[s ^ g]))
            chk.error("identity |lhs - rhs| / (1 + rhs)", abs(lhs - rhs) / (1 + rhs))
            chk.condition("lhs >= 0", lhs >= -1e-12)
            chk.count(1)
        y = g.astype(np.int64)[None]
        onehot = np.stack([1 - y, y], 1).astype(float)
        pred = np.stack([~s, s], 0)[None].astype(float)
        gap = float(boundary_loss(pred, y, from_logits=False, weight=[0, 1], convention="exact")
                    - boundary_loss(onehot, y, from_logits=False, weight=[0, 1], convention="exact")) * g.size
        phi = signed_distance(g.astype(float))
        chk.error("through segmath.boundary_loss", abs(gap - np.sum(np.abs(phi)[s ^ g])) / (1 + gap))
    chk.note("example (two disks): sum |phi| over S^G", float(np.sum(np.abs(phi)[s ^ g])))
    return chk.result()


def verify_dt_hausdorff_convex_nested(cases=12, seed=0):
    r"""S24: the DT estimate equals the Hausdorff distance when Q is convex and Q is inside P.

    Q a disk, P a larger disk or ellipse containing it (off-centre).  On a pixel grid the
    two agree exactly on these cases (tolerance 1e-9 pixels).
    """
    chk = Checker("For convex Q inside P, max over P\\Q of max(d_P, d_Q) equals HD(dP, dQ)", 1e-9, "S24")
    rng = np.random.default_rng(seed)
    shape = (72, 80)
    for c in range(cases):
        r = int(rng.integers(6, 14))
        q = _disk(shape, (36, 40), r)
        axes = (1.0, 1.0) if c % 2 == 0 else (1.0, float(rng.uniform(1.1, 1.6)))
        p = _disk(shape, (36 + rng.integers(-4, 5), 40 + rng.integers(-4, 5)), r + int(rng.integers(6, 16)), axes)
        if not (q & ~p).any():
            est, hd = dt_hausdorff_estimate(p, q), contour_hausdorff(p, q)
            chk.error("|estimate - HD| (pixels)", abs(est - hd))
            chk.count(1)
            if c == 0:
                chk.note("nested disks: estimate", est)
                chk.note("nested disks: HD", hd)
    return chk.result()


def verify_dt_hausdorff_counterexample(seed=0):
    r"""S24: in general the DT estimate is not the Hausdorff distance (nor a bound).

    P a disk, Q the same disk with a hole: the estimate measures the hole's depth from
    both boundaries, the Hausdorff distance only how far the hole's contour is from P's.
    """
    chk = Checker("For a disk and the same disk with a hole, the DT estimate differs from HD", 0.0, "S24")
    shape = (96, 96)
    p = _disk(shape, (48, 48), 40)
    q = p & ~_disk(shape, (48, 48), 30)
    est, hd = dt_hausdorff_estimate(p, q), contour_hausdorff(p, q)
    chk.count(1)
    chk.note("estimate", est)
    chk.note("HD", hd)
    chk.condition("estimate and HD differ by more than 5 pixels", abs(est - hd) > 5)
    return chk.result()
