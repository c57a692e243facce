"""Boundary and distance losses against MONAI and brute-force formulas written here."""
import warnings

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

import segmath
from oracles import monai_losses, one_hot, softmax

warnings.filterwarnings("ignore", category=UserWarning)


def labels_with_regions(seed, n=2, shape=(12, 13), c=3):
    """Labels with every class present and no class filling an image."""
    rng = np.random.default_rng(seed)
    y = np.zeros((n,) + shape, np.int64)
    for img in y:
        while len(np.unique(img)) < c:
            img[...] = 0
            for k in range(1, c):
                lo = [int(rng.integers(0, s - 4)) for s in shape]
                img[tuple(slice(a, a + int(rng.integers(2, 6))) for a in lo)] = k
    return y


def logits(seed, shape):
    return 2.0 * np.random.default_rng(seed + 7).standard_normal(shape)


def brute_dist(mask_from, mask_to, spacing):
    """For every element, the distance to the nearest element of ``mask_to`` (inf if none)."""
    pts = np.argwhere(np.ones_like(mask_to)) * np.asarray(spacing)
    d = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    return np.where(mask_to.ravel()[None, :], d, np.inf).min(1).reshape(mask_to.shape)


def test_hausdorff_dt_vs_monai():
    y = labels_with_regions(0)
    x = logits(0, (2, 3) + y.shape[1:])
    ours = segmath.hausdorff_dt(torch.from_numpy(x), torch.from_numpy(y), alpha=2.0)
    ref = monai_losses.HausdorffDTLoss(alpha=2.0, include_background=True, softmax=True)(
        torch.from_numpy(x), torch.from_numpy(one_hot(y, 3)))
    assert float(ours) == pytest.approx(float(ref), rel=1e-5)
    np.testing.assert_allclose(float(segmath.hausdorff_dt(x, y)), float(ours), rtol=1e-10)


def test_boundary_loss_vs_monai_and_identity():
    y = labels_with_regions(1)
    x = logits(1, (2, 3) + y.shape[1:])
    ours = segmath.boundary_loss(torch.from_numpy(x), torch.from_numpy(y))
    ref = monai_losses.BoundaryLoss(softmax=True)(torch.from_numpy(x), torch.from_numpy(one_hot(y, 3)))
    assert float(ours) == pytest.approx(float(ref), rel=1e-5)
    # brute force with the exact convention: phi = d_out outside, -d_in inside
    p = softmax(x)
    total = 0.0
    for n in range(2):
        for k in range(3):
            g = y[n] == k
            phi = np.where(g, -brute_dist(g, ~g, (1.0, 2.0)), brute_dist(~g, g, (1.0, 2.0)))
            total += (phi * p[n, k]).mean()
    ours = segmath.boundary_loss(x, y, convention="exact", spacing=(1.0, 2.0))
    assert float(ours) == pytest.approx(total / 6, rel=1e-10)


@pytest.mark.parametrize("alpha", [None, 0.3])
def test_cldice_vs_monai(alpha):
    rng = np.random.default_rng(2)
    y = (rng.random((2, 16, 15)) < 0.4).astype(np.int64)
    x = logits(2, (2, 1, 16, 15))
    kw = dict(iter_=3, smooth_nr=1.0, smooth_dr=1.0, smooth=1e-12, sigmoid=True)
    if alpha is None:
        ref = monai_losses.SoftclDiceLoss(**kw)
    else:
        ref = monai_losses.SoftDiceclDiceLoss(alpha=alpha, **kw)
    ref = float(ref(torch.from_numpy(x), torch.from_numpy(y[:, None].astype(float))))
    ours = segmath.cldice(torch.from_numpy(x), torch.from_numpy(y), iterations=3, smooth=1.0, alpha=alpha)
    assert float(ours) == pytest.approx(ref, rel=1e-8)
    assert float(segmath.cldice(x, y, alpha=alpha)) == pytest.approx(float(ours), rel=1e-10)


def test_boundary_distance_mse_brute_force():
    y = labels_with_regions(3)
    x = logits(3, (2, 3) + y.shape[1:])
    p, t = softmax(x), one_hot(y, 3)
    expected = 0.0
    for n in range(2):
        edge = np.zeros(y.shape[1:], bool)
        for k in range(3):
            g = y[n] == k
            edge |= g & ~ndi.binary_erosion(g, border_value=0)
        d = brute_dist(None, edge, (1.0, 1.0))
        dn = (d - d.min()) / (d.max() - d.min())
        expected += ((1 - dn) ** 1.5 * ((p[n] - t[n]) ** 2).sum(0)).sum()
    ours = segmath.boundary_distance_mse(torch.from_numpy(x), torch.from_numpy(y), alpha=1.5, reduction="sum")
    assert float(ours) == pytest.approx(expected, rel=1e-10)


def test_distance_penalized_ce_brute_force():
    y = labels_with_regions(4)
    x = logits(4, (2, 3) + y.shape[1:])
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    total = 0.0
    for n in range(2):
        phi = np.zeros(y.shape[1:])
        for k in range(3):
            g = y[n] == k
            d = brute_dist(g, ~g, (1.0, 1.0))
            phi[g] = 1 - d[g] / d[g].max()
        ce = -np.take_along_axis(logp[n], y[n][None], 0)[0]
        total += ((1 + phi) * ce).sum()
    ours = segmath.distance_penalized_ce(torch.from_numpy(x), torch.from_numpy(y))
    assert float(ours) == pytest.approx(total / y.size, rel=1e-10)


def test_unet_weight_map_brute_force():
    y = np.zeros((1, 14, 16), np.int64)
    y[0, 2:6, 2:7] = 1
    y[0, 2:6, 8:12] = 1        # touching-ish cells, one pixel apart
    y[0, 9:12, 4:9] = 1
    x = logits(5, (1, 1, 14, 16))
    comp, ncomp = ndi.label(y[0])
    per = np.sort(np.stack([brute_dist(None, comp == k, (1.0, 1.0)) for k in range(1, ncomp + 1)]), 0)
    fg = y[0] == 1
    wc = np.where(fg, y.size / (2 * fg.sum()), y.size / (2 * (~fg).sum()))
    w = wc + np.where(~fg, 10.0 * np.exp(-(per[0] + per[1]) ** 2 / (2 * 5.0 ** 2)), 0.0)
    p = 1 / (1 + np.exp(-x[0, 0]))
    ce = -(fg * np.log(p) + (~fg) * np.log(1 - p))
    ours = segmath.unet_weighted_ce(torch.from_numpy(x), torch.from_numpy(y))
    assert float(ours) == pytest.approx((w * ce).mean(), rel=1e-10)
    assert float(segmath.unet_weighted_ce(x, y)) == pytest.approx(float(ours), rel=1e-10)


def test_shape_aware_brute_force():
    y = labels_with_regions(6)
    x = logits(6, (2, 3) + y.shape[1:])
    pred = x.argmax(1)
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    total = 0.0
    for n in range(2):
        gap = np.zeros(3)
        for k in range(3):
            cp = (pred[n] == k) & ~ndi.binary_erosion(pred[n] == k, border_value=0)
            ct = (y[n] == k) & ~ndi.binary_erosion(y[n] == k, border_value=0)
            if cp.any() and ct.any():
                gap[k] = brute_dist(None, ct, (1.0, 1.0))[cp].mean()
        ce = -np.take_along_axis(logp[n], y[n][None], 0)[0]
        total += ((1 + gap[y[n]]) * ce).sum()
    ours = segmath.shape_aware(torch.from_numpy(x), torch.from_numpy(y))
    assert float(ours) == pytest.approx(total / y.size, rel=1e-10)


def test_structural_similarity_brute_force():
    y = labels_with_regions(7)
    x = logits(7, (2, 3) + y.shape[1:])
    p, t = softmax(x), one_hot(y, 3)

    def standardised(v):
        # local statistics over in-image pixels of a 3x3 window, with SciPy's uniform filter
        cnt = ndi.uniform_filter(np.ones_like(v), 3, mode="constant")
        mu = ndi.uniform_filter(v, 3, mode="constant") / cnt
        var = ndi.uniform_filter(v * v, 3, mode="constant") / cnt - mu ** 2
        return (v - mu + 0.01) / (np.sqrt(np.clip(var, 0, None)) + 0.01)

    num, m = 0.0, 0
    for n in range(2):
        e = np.stack([np.abs(standardised(t[n, k]) - standardised(p[n, k])) for k in range(3)])
        f = e > 0.1 * e.max()
        num += (e * f * -t[n] * np.log(p[n])).sum()
        m += f.sum()
    ours = segmath.structural_similarity(torch.from_numpy(x), torch.from_numpy(y))
    assert float(ours) == pytest.approx(num / m, rel=1e-8)


def test_losses_decrease_towards_the_target():
    """A sanity property every loss here shares: the perfect prediction beats a blurred one."""
    y = labels_with_regions(8)
    good = one_hot(y, 3) * 0.98 + 0.01 / 1.5
    bad = np.full_like(good, 1 / 3)
    for fn in (segmath.hausdorff_dt, segmath.boundary_distance_mse, segmath.boundary_loss,
               segmath.distance_penalized_ce, segmath.unet_weighted_ce, segmath.shape_aware, segmath.cldice):
        kw = {"weight": [0, 1, 1]} if fn in (segmath.boundary_loss, segmath.cldice) else {}
        if fn is segmath.unet_weighted_ce:
            kw = {"weight": [1.0, 1.0, 1.0]}
        assert float(fn(good, y, from_logits=False, **kw)) < float(fn(bad, y, from_logits=False, **kw)), fn


def test_ignore_index_drops_pixels():
    y = labels_with_regions(9)
    x = logits(9, (2, 3) + y.shape[1:])
    yi = y.copy()
    yi[:, :2] = -100
    for fn in (segmath.distance_penalized_ce, segmath.shape_aware, segmath.unet_weighted_ce):
        per = fn(x, yi, ignore_index=-100, reduction="none")
        assert (per[:, :2] == 0).all() and (per[:, 2:] != 0).any()
