r"""Post-processing (THEORY.md S30-S36): the dense-CRF mean-field update and its convergence, ROF on a
disk, the coarea formula, the thresholding theorem and Chambolle's step bound.

The checks use their own small formulas: the mean-field free energy and updates are written here with
NumPy loops; the converged ROF solution comes from an accelerated projected gradient on the dual (FISTA),
not from Chambolle's iteration; the thresholding theorem is checked against all :math:`2^{16}` subsets
of a 4x4 image.  The package functions (:func:`segmath.dense_crf`, :func:`segmath.tv_denoise`) are
compared with them.
"""
from __future__ import annotations

import numpy as np

from .result import Checker

__all__ = ["verify_mean_field_update", "verify_mean_field_convergence", "verify_filtered_messages", "verify_rof_disk", "verify_coarea",
           "verify_thresholding_theorem", "verify_chambolle_step", "mean_field_free_energy", "rof_dual_fista"]


# ---- S30-S31: mean field ----------------------------------------------------------------------------

def _softmax_rows(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def mean_field_free_energy(q, psi, k, mu):
    r""":math:`F(Q) = \sum_i \langle Q_i, \psi_i\rangle + \sum_{i<j} k_{ij} Q_i^\top \mu Q_j + \sum_i \langle Q_i, \log Q_i\rangle`.

    ``q, psi``: ``(P, C)``; ``k``: symmetric ``(P, P)`` with zero diagonal; ``mu``: symmetric ``(C, C)``.
    """
    pair = 0.0
    for i in range(len(q)):
        for j in range(i + 1, len(q)):
            pair += k[i, j] * q[i] @ mu @ q[j]
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = np.where(q > 0, q * np.log(q), 0.0).sum()
    return float((q * psi).sum() + pair + ent)


def _node_update(q, psi, k, mu, i):
    """The mean-field update of node i: softmax(-psi_i - sum_{j != i} k_ij mu Q_j)."""
    msg = sum(k[i, j] * (mu @ q[j]) for j in range(len(q)) if j != i)
    return _softmax_rows(-psi[i] - msg)


def _random_problem(rng, p=5, c=3, scale=2.0):
    psi = rng.standard_normal((p, c))
    k = rng.random((p, p)) * scale
    k = np.triu(k, 1)
    k = k + k.T
    m = rng.standard_normal((c, c))
    return psi, k, (m + m.T) / 2


def verify_mean_field_update(seed=0, cases=12):
    r"""S30: the mean-field update minimises the free energy in one node; Potts :math:`1 - I` acts as :math:`-I`.

    For random unaries, kernels and symmetric compatibilities, the update
    :math:`Q_i \propto \exp(-\psi_i - \sum_{j\ne i} k_{ij}\,\mu Q_j)` satisfies the KKT conditions of
    :math:`\min_{Q_i \in \Delta} F` (the gradient is constant across labels) and beats 200 random points
    of the simplex.  :func:`segmath.dense_crf` (exact method, one step) equals the parallel update with
    Gaussian kernels computed here pair by pair; with ``compat = 1 - I`` it equals the built-in Potts.
    """
    from .. import dense_crf
    chk = Checker("The mean-field update minimises the free energy node by node; Potts 1-I gives the same "
                  "update as -I", 1e-9, "S30")
    rng = np.random.default_rng(seed)
    worst_kkt, beaten = 0.0, True
    for _ in range(cases):
        psi, k, mu = _random_problem(rng)
        q = _softmax_rows(rng.standard_normal(psi.shape))
        for i in range(len(q)):
            new = _node_update(q, psi, k, mu, i)
            grad = psi[i] + sum(k[i, j] * (mu @ q[j]) for j in range(len(q)) if j != i) + np.log(new) + 1
            worst_kkt = max(worst_kkt, float(np.ptp(grad)))
            f_new = mean_field_free_energy(np.vstack([q[:i], new, q[i + 1:]]), psi, k, mu)
            for t in rng.dirichlet(np.ones(psi.shape[1]), 200):
                beaten &= f_new <= mean_field_free_energy(np.vstack([q[:i], t, q[i + 1:]]), psi, k, mu) + 1e-12
        chk.count(len(q))
    chk.error("KKT residual (spread of the gradient over labels)", worst_kkt)
    chk.condition("the update beats random points of the simplex", beaten)
    # the package against the formula: one parallel step on a 3x3 image with both kernels
    unary = rng.standard_normal((1, 3, 3, 3))
    image = rng.random((1, 2, 3, 3)) * 3
    pos = np.array([(a, b) for a in range(3) for b in range(3)], float)
    feat = image[0].reshape(2, -1).T
    kern = np.zeros((9, 9))
    for i in range(9):
        for j in range(9):
            if i != j:
                d2 = ((pos[i] - pos[j]) ** 2).sum()
                kern[i, j] = 0.8 * np.exp(-d2 / (2 * 1.4 ** 2)) + \
                    1.3 * np.exp(-d2 / (2 * 2.0 ** 2) - ((feat[i] - feat[j]) ** 2).sum() / (2 * 1.5 ** 2))
    psi = -unary[0].reshape(3, -1).T
    q0 = _softmax_rows(-psi)
    for name, mu in (("Potts", 1.0 - np.eye(3)), ("random", _random_problem(rng, c=3)[2])):
        ref = np.vstack([_node_update(q0, psi, kern, mu, i) for i in range(9)])
        kw = dict(n_iter=1, w_spatial=0.8, theta_gamma=1.4, w_bilateral=1.3, theta_alpha=2.0, theta_beta=1.5,
                  method="exact", compat=mu, normalization="none")
        got = dense_crf(unary, image, **kw)[0].reshape(3, -1).T
        chk.error(f"dense_crf vs the update ({name} compatibility)", np.abs(got - ref).max())
        if name == "Potts":
            potts = dense_crf(unary, image, **{**kw, "compat": "potts"})[0].reshape(3, -1).T
            chk.error("compat = 1 - I vs the built-in Potts (-I)", np.abs(potts - ref).max())
    eig = np.linalg.eigvalsh(1.0 - np.eye(3))
    chk.note("eigenvalues of 1 - I (C = 3): indefinite", [float(e) for e in eig])
    chk.count(9)
    return chk.result()


def verify_mean_field_convergence(seed=0, cases=20, sweeps=25):
    r"""S31: sequential mean-field updates never increase the free energy; parallel ones can oscillate.

    Random problems (any symmetric compatibility, non-negative kernels): every single-node update
    lowers or keeps :math:`F`.  Two nodes, no unary, :math:`k_{12} = 1`, attractive Potts
    :math:`\mu = -5I`: from a disagreeing start the *parallel* update flips between
    :math:`(0.993, 0.007)` and :math:`(0.007, 0.993)` for ever while the sequential one settles.
    """
    chk = Checker("Sequential mean-field updates never increase the free energy; parallel updates can "
                  "oscillate", 1e-10, "S31")
    rng = np.random.default_rng(seed)
    worst_rise = 0.0
    for _ in range(cases):
        psi, k, mu = _random_problem(rng, p=6, scale=3.0)
        q = _softmax_rows(rng.standard_normal(psi.shape))
        f = mean_field_free_energy(q, psi, k, mu)
        for _ in range(sweeps):
            for i in range(len(q)):
                q = np.vstack([q[:i], _node_update(q, psi, k, mu, i), q[i + 1:]])
                f_new = mean_field_free_energy(q, psi, k, mu)
                worst_rise = max(worst_rise, f_new - f)
                f = f_new
        chk.count(len(q) * sweeps)
    chk.error("largest rise of F under a sequential update", max(worst_rise, 0.0))
    # the two-node oscillation
    psi = np.zeros((2, 2))
    k = np.array([[0.0, 1.0], [1.0, 0.0]])
    mu = -5.0 * np.eye(2)
    start = np.array([[0.9, 0.1], [0.1, 0.9]])
    q = start.copy()
    history = []
    for _ in range(60):
        q = np.vstack([_node_update(q, psi, k, mu, i) for i in range(2)])   # all nodes from the old Q
        history.append(q)
    a, b = history[-2], history[-1]
    chk.condition("parallel: period 2 (Q_t+2 = Q_t, Q_t+1 != Q_t)",
                  np.abs(history[-3] - b).max() < 1e-12 and np.abs(a - b).max() > 0.9)
    chk.within("parallel: the cycle's values vs (0.993, 0.007)", abs(b[0].max() - 0.993), 5e-4)
    seq = start.copy()
    for _ in range(60):
        for i in range(2):
            seq = np.vstack([seq[:i], _node_update(seq, psi, k, mu, i), seq[i + 1:]])
    chk.condition("sequential: converges to an agreeing labelling",
                  np.abs(seq[0] - seq[1]).max() < 1e-9 and seq.max() > 0.99)
    chk.note("parallel cycle", [float(v) for v in b[0]])
    chk.count(2)
    return chk.result()


def verify_filtered_messages(seed=0):
    r"""S32: the filtered messages :math:`\sum_j k(f_i, f_j) Q_j` against brute force.

    The spatial Gaussian (separable, truncated at 8.5 standard deviations) equals the pair-by-pair sum to
    rounding, 2-D and 3-D with anisotropic spacing.  The permutohedral lattice is an approximation: its
    mean relative error is measured on dense point clouds (D = 1, 2, 3: a few per cent) and on the
    bilateral features of a small two-region RGB image (D = 5: about 20% raw, because pixels fill a 2-D
    sheet of the 5-D space and the lattice blur loses mass to unoccupied vertices; about 5% once the
    scale is calibrated against exact sums at 64 pixels, as :func:`segmath.dense_crf` does).
    """
    from ..postprocess import crf
    from ..postprocess._lattice import Lattice
    chk = Checker("Filtered messages match the brute-force kernel sums (spatial: exactly; lattice: within "
                  "its measured approximation error)", 1e-12, "S32")
    rng = np.random.default_rng(seed)
    for shape, spacing, theta in (((9, 11), (1.0, 1.6), 2.2), ((4, 5, 6), (2.0, 1.0, 0.7), 1.5)):
        q = rng.random((1, 2) + shape)
        pts = np.array(np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij"))
        pts = pts.reshape(len(shape), -1).T
        ref = np.zeros((2, len(pts)))
        flat = q.reshape(2, -1)
        for i in range(len(pts)):
            ref[:, i] = (np.exp(-((pts - pts[i]) ** 2).sum(1) / (2 * theta ** 2)) * flat).sum(1)
        got = crf._SeparableGaussian(np, shape, spacing, theta, np.float64, "cpu")(q).reshape(2, -1)
        chk.error(f"spatial Gaussian {len(shape)}-D, max relative error", np.abs(got - ref).max() / ref.max())
        chk.count(len(pts))
    for d in (1, 2, 3):
        f = rng.random((1000, d)) * 5.0
        v = rng.random((1000, 2))
        ref = np.exp(-0.5 * ((f[:, None] - f[None]) ** 2).sum(-1)) @ v
        rel = np.abs(Lattice(f).filter(v) - ref).mean() / np.abs(ref).mean()
        chk.within(f"lattice, dense cloud D = {d}: mean relative error", rel, 0.04)
        chk.count(len(f))
    h, w = 16, 20
    yy, xx = np.mgrid[:h, :w]
    inside = (yy - 8) ** 2 + (xx - 8) ** 2 < 36
    img = np.where(inside[..., None], [200.0, 60.0, 50.0], [40.0, 120.0, 190.0]) + rng.normal(0, 6, (h, w, 3))
    feats = np.concatenate([np.stack([yy, xx], -1) / 5.0, img / 20.0], -1).reshape(-1, 5)
    v = rng.random((h * w, 2))
    ref = np.exp(-0.5 * ((feats[:, None] - feats[None]) ** 2).sum(-1)) @ v
    rel = np.abs(Lattice(feats).filter(v) - ref).mean() / np.abs(ref).mean()
    chk.note("lattice, bilateral features of an RGB image (D = 5): mean relative error, raw", rel)
    calibrated = crf._LatticeKernel(np, feats[None])
    rel = np.abs(calibrated.lattice.filter(v) * calibrated.factor - ref).mean() / np.abs(ref).mean()
    chk.within("the same, scale calibrated at 64 pixels (as dense_crf does)", rel, 0.08)
    chk.count(h * w)
    return chk.result()


# ---- S33-S36: ROF ---------------------------------------------------------------------------------------

def _grad(u):
    g = np.zeros((u.ndim,) + u.shape)
    for ax in range(u.ndim):
        sl = [slice(None)] * u.ndim
        sl[ax] = slice(0, -1)
        g[(ax,) + tuple(sl)] = np.diff(u, axis=ax)
    return g


def _div(p):
    """Negative adjoint of _grad: <grad u, p> = -<u, div p>."""
    d = np.zeros(p.shape[1:])
    for ax in range(p.shape[0]):
        comp = np.moveaxis(p[ax], ax, 0)
        out = np.moveaxis(d, ax, 0)
        out[:-1] += comp[:-1]
        out[1:] -= comp[:-1]
    return d


def _tv(u, iso=True):
    g = _grad(u)
    return float(np.sqrt((g ** 2).sum(0)).sum() if iso else np.abs(g).sum())


def rof_dual_fista(f, weight, n_iter, iso=True):
    r"""ROF :math:`\min_u w\,\mathrm{TV}(u) + \frac12\|u - f\|^2` by FISTA on the dual
    :math:`\min_{|p| \le w} \frac12 \|f + \operatorname{div} p\|^2` (step :math:`1/(4\,\mathrm{ndim})`).

    An accelerated solver independent of Chambolle's iteration; returns ``(u, gap)`` with the duality gap.
    """
    step = 1.0 / (4.0 * f.ndim)
    p = np.zeros((f.ndim,) + f.shape)
    z, t = p.copy(), 1.0
    for _ in range(n_iter):
        pn = z + step * _grad(f + _div(z))
        pn = _project(pn, weight, iso)
        tn = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = pn + ((t - 1) / tn) * (pn - p)
        p, t = pn, tn
    u = f + _div(p)
    return u, rof_gap(f, weight, u, iso)


def _project(p, w, iso):
    if not iso:
        return np.clip(p, -w, w)
    return p / np.maximum(1.0, np.sqrt((p ** 2).sum(0)) / w)


def rof_gap(f, weight, u, iso=True):
    r"""Duality gap of ROF at :math:`u = f + \operatorname{div} p`: primal :math:`w\mathrm{TV}(u) + \frac12\|u-f\|^2`
    minus dual :math:`\frac12\|f\|^2 - \frac12\|u\|^2` (non-negative when :math:`|p| \le w`)."""
    return weight * _tv(u, iso) + 0.5 * ((u - f) ** 2).sum() - 0.5 * (f ** 2).sum() + 0.5 * (u ** 2).sum()


def _disk_image(n, radius, offset):
    yy, xx = np.mgrid[:n, :n] + 0.5
    r = np.sqrt((yy - n / 2 - offset[0]) ** 2 + (xx - n / 2 - offset[1]) ** 2)
    return (r < radius).astype(float), r


def verify_rof_disk(seed=0):
    r"""S33: ROF of :math:`f = 1_{B_R}` is :math:`(1 - 2/(\lambda R))_+` inside; on a bounded domain the
    two-level values are :math:`c_\mathrm{in} = 1 - \mathrm{Per}/(\lambda|B|)`,
    :math:`c_\mathrm{out} = \mathrm{Per}/(\lambda|\Omega\setminus B|)`.

    A 128x128 square, :math:`R = 30`, :math:`\lambda = 0.1` (:math:`c_\mathrm{in} = 1/3`), solved by FISTA
    on the dual to a small duality gap; the medians away from the circle are compared with the formulas
    (within 0.03 and 0.01: isotropic forward differences overestimate the perimeter of a digital disc by a
    few per cent).  Below :math:`\lambda R = 2` the disk disappears (u constant).  And the warning:
    :func:`segmath.tv_denoise` stopped after 3000 iterations at :math:`\lambda = 0.1` is still far from the
    minimiser (skimage's relative-energy rule would stop even earlier).
    """
    from .. import tv_denoise
    chk = Checker("ROF on a disk: (1 - 2/(lambda R))_+ inside; two-level values on a bounded domain",
                  0.0, "S33")
    rng = np.random.default_rng(seed)
    offset = rng.uniform(-0.5, 0.5, 2)
    n, radius, lam = 128, 30.0, 0.1
    f, r = _disk_image(n, radius, offset)
    u, gap = rof_dual_fista(f, 1 / lam, 1200)
    area_b, per = np.pi * radius ** 2, 2 * np.pi * radius
    c_in, c_out = 1 - per / (lam * area_b), per / (lam * (n * n - area_b))
    got_in, got_out = float(np.median(u[r < radius - 3])), float(np.median(u[r > radius + 3]))
    chk.within("duality gap per pixel (FISTA, 1200 steps)", gap / f.size, 5e-3)
    chk.within("|c_in - (1 - 2/(lambda R))|", abs(got_in - c_in), 0.03)
    chk.within("|c_out - Per/(lambda |Omega \\ B|)|", abs(got_out - c_out), 0.01)
    chk.note("c_in measured / predicted", [got_in, c_in])
    chk.note("c_out measured / predicted", [got_out, c_out])
    # lambda R < 2: the disk is removed entirely (the two-level contrast would be negative)
    f2, r2 = _disk_image(48, 8.0, offset)
    u2, _ = rof_dual_fista(f2, 1 / 0.2, 600)
    chk.within("lambda R = 1.6: contrast left (in - out)",
               abs(float(np.median(u2[r2 < 5]) - np.median(u2[r2 > 11]))), 0.02)
    # Chambolle's iteration after 3000 steps at lambda = 0.1 is not converged
    u3000 = tv_denoise(f, 1 / lam, eps=1e-300, max_num_iter=3000)
    gap3000 = rof_gap(f, 1 / lam, u3000)
    dev = float(np.abs(np.median(u3000[r < radius - 3]) - got_in))
    chk.condition("3000 Chambolle iterations are not enough at lambda = 0.1 (c_in off by > 0.02)", dev > 0.02)
    chk.note("after 3000 Chambolle iterations: c_in, gap per pixel", [float(np.median(u3000[r < radius - 3])),
                                                                      gap3000 / f.size])
    chk.count(3)
    return chk.result()


def verify_coarea(seed=0, cases=10):
    r"""S34: for anisotropic discrete TV, :math:`\mathrm{TV}(u) = \int \mathrm{Per}(\{u > t\})\,dt` exactly.

    The integral is a finite sum over the sorted values of ``u`` (the level sets only change there);
    Per counts the grid edges cut, 2-D and 3-D.  Isotropic TV breaks it (noted, not judged).
    """
    from .. import postprocess
    chk = Checker("Coarea formula for anisotropic discrete TV (exact)", 1e-9, "S34")
    rng = np.random.default_rng(seed)
    iso_gap = 0.0
    for c in range(cases):
        shape = (7, 8) if c % 2 == 0 else (4, 5, 3)
        u = rng.standard_normal(shape)
        if c % 3 == 0:
            u = np.round(u, 1)                       # ties: flat regions
        levels = np.unique(u)
        integral = sum((hi - lo) * _tv((u > lo).astype(float), iso=False) for lo, hi in zip(levels[:-1], levels[1:]))
        tv = float(postprocess.tv.total_variation(u, tv="anisotropic"))
        chk.error("|TV(u) - sum_t Per({u > t}) dt| / TV(u)", abs(tv - integral) / tv)
        chk.error("package total_variation vs the formula here", abs(tv - _tv(u, iso=False)) / tv)
        iso_gap = max(iso_gap, abs(_tv(u) - integral) / integral)
        chk.count(1)
    chk.note("isotropic TV: relative gap to the coarea integral (not exact)", iso_gap)
    return chk.result()


def _all_subsets_objective(f, t, lam):
    """Per(E) + lam * sum_{i in E} (t - f_i) for every subset E of the 4x4 grid (bitmask order)."""
    h, w = f.shape
    nbits = h * w
    sets = ((np.arange(2 ** nbits)[:, None] >> np.arange(nbits)) & 1).astype(bool).reshape(-1, h, w)
    per = (sets[:, 1:, :] != sets[:, :-1, :]).sum((1, 2)) + (sets[:, :, 1:] != sets[:, :, :-1]).sum((1, 2))
    data = (sets * (t - f)).sum((1, 2))
    return per + lam * data


def verify_thresholding_theorem(seed=0, cases=5, tv="anisotropic"):
    r"""S35: the level sets :math:`\{u^* > t\}` of the anisotropic ROF minimiser solve
    :math:`\min_E \mathrm{Per}(E) + \lambda \sum_{i \in E} (t - f_i)` (Chambolle 2005).

    ``u*`` from :func:`segmath.tv_denoise` (``tv="anisotropic"``, run to convergence) on random 4x4 images;
    the minimum over all :math:`2^{16}` subsets by enumeration, at thresholds between the values of u*.
    (``tv="isotropic"`` makes the check fail: there the level sets solve a different perimeter.)
    """
    from .. import tv_denoise
    chk = Checker("Level sets of the anisotropic ROF minimiser solve the binary Potts problems", 1e-7, "S35")
    rng = np.random.default_rng(seed)
    for _ in range(cases):
        f = np.round(rng.random((4, 4)) * 4) / 4 + 0.1 * rng.standard_normal((4, 4))
        lam = float(rng.uniform(1.5, 4.0))
        u = tv_denoise(f, 1 / lam, eps=1e-300, max_num_iter=20000, tv=tv)
        values = np.unique(np.round(u, 6))
        ts = list((values[:-1] + values[1:]) / 2) + [float(values.min()) - 0.3, float(values.max()) + 0.3]
        for t in ts:
            obj = _all_subsets_objective(f, t, lam)
            level = (u > t).ravel()
            idx = int((level.astype(np.int64) << np.arange(16)).sum())
            chk.error("objective of {u* > t} minus the minimum over all sets", obj[idx] - obj.min())
            chk.count(1)
    return chk.result()


def verify_chambolle_step(seed=0):
    r"""S36: Chambolle's dual iteration with :math:`\tau \le 1/8` (2-D) keeps :math:`|p| \le w`, never
    lowers the dual objective, and drives the duality gap to 0.

    Random 24x24 images: the dual objective :math:`\frac12\|f\|^2 - \frac12\|f - \operatorname{div} p_n\|^2`
    is non-decreasing step by step for :math:`\tau = 1/8`, the gap after 2000 steps is small, and the limit agrees
    with the FISTA solution.  :func:`segmath.tv_denoise` (skimage's :math:`\tau = 1/4`, outside the
    proof) equals :func:`~segmath.postprocess.tv.chambolle_dual` with that step; the gaps at
    :math:`\tau = 1/4` are reported beside those at 1/8 (an exercise: it converges here too, faster).
    """
    from .. import tv_denoise
    from ..postprocess.tv import chambolle_dual
    chk = Checker("Chambolle's projection algorithm converges for tau <= 1/8", 1e-6, "S36")
    rng = np.random.default_rng(seed)
    f = (rng.random((24, 24)) < 0.5) + 0.3 * rng.standard_normal((24, 24))
    w = 0.5
    ref, ref_gap = rof_dual_fista(f, w, 3000)
    gaps = {}
    for tau in (1 / 8, 1 / 4):
        u, p = f, None
        prev, worst_drop, feasible, done = -np.inf, 0.0, True, 0
        gaps[tau] = []
        for n in (5, 20, 80, 320, 2000):
            while done < n:                   # one step at a time: the dual objective after every step
                u, p = chambolle_dual(f, w, 1, tau=tau, p=p)
                done += 1
                dual = 0.5 * (f ** 2).sum() - 0.5 * (u ** 2).sum()
                worst_drop = max(worst_drop, prev - dual)
                prev = dual
                feasible &= float(np.sqrt(p[0] ** 2 + p[1] ** 2).max()) <= w * (1 + 1e-12)
            gaps[tau].append(rof_gap(f, w, u))
        if tau == 1 / 8:
            chk.error("largest decrease of the dual objective in one step (tau = 1/8)", max(worst_drop, 0.0))
            chk.condition("|p| <= w after every step (tau = 1/8)", feasible)
            chk.within("duality gap per pixel after 2000 steps (tau = 1/8)", gaps[tau][-1] / f.size, 1e-4)
            chk.within("|u_2000 - u_FISTA|_inf (tau = 1/8)", np.abs(u - ref).max(), 2e-2)
    chk.note("gaps at 5/20/80/320/2000 steps, tau = 1/8", gaps[1 / 8])
    chk.note("gaps at 5/20/80/320/2000 steps, tau = 1/4", gaps[1 / 4])
    chk.note("FISTA gap after 3000 steps", float(ref_gap))
    u_sk, _ = chambolle_dual(f, w, 40)
    chk.error("tv_denoise(max_num_iter=41) vs chambolle_dual(40 steps, tau = 1/4)",
              np.abs(tv_denoise(f, w, eps=1e-300, max_num_iter=41) - u_sk).max())
    chk.count(len(gaps) * 5)
    return chk.result()
