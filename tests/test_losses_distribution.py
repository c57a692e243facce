"""Distribution-based losses against independent oracles.

Oracles: torch.nn.functional.cross_entropy / binary_cross_entropy(_with_logits), MONAI's FocalLoss,
and brute-force NumPy formulas written here from
the papers (balanced CE / HED, top-k, sensitivity-specificity, Lin et al.'s focal loss).
"""
import doctest

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

import segmath
import segmath.losses.distribution as dist
from oracles import one_hot, smp_losses, softmax
from segmath.primitives.select import topk_mask

RNG = np.random.default_rng(12345)
SHAPES = [(2, 3, 5, 6), (2, 4, 3, 4, 5)]  # 2-D and 3-D
IGNORE = -100


def case(shape, seed=0, ignore=False, scale=2.0):
    """Float64 logits and int labels (some set to IGNORE) as torch tensors."""
    r = np.random.default_rng(seed)
    x = scale * r.standard_normal(shape)
    y = r.integers(0, shape[1], size=(shape[0],) + shape[2:])
    if ignore:
        y[r.random(y.shape) < 0.2] = IGNORE
    return torch.from_numpy(x), torch.from_numpy(y)


def close(a, b, tol=1e-10):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=tol, atol=tol)


# -- cross-entropy and weighted cross-entropy vs torch ------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_weighted_ce_matches_torch_labels(shape, reduction):
    x, y = case(shape, ignore=True)
    w = torch.from_numpy(RNG.uniform(0.1, 3.0, shape[1]))
    ours = segmath.weighted_cross_entropy(x, y, weight=w, ignore_index=IGNORE, reduction=reduction)
    ref = F.cross_entropy(x, y, weight=w, ignore_index=IGNORE, reduction=reduction)
    close(ours, ref)
    close(segmath.cross_entropy(x, y, weight=w, ignore_index=IGNORE, reduction=reduction), ref)


@pytest.mark.parametrize("shape", SHAPES)
def test_weighted_ce_pixels_normalisation(shape):
    x, y = case(shape, ignore=True)
    w = torch.tensor([0.5, 2.0] + [1.0] * (shape[1] - 2), dtype=torch.float64)
    ours = segmath.weighted_cross_entropy(x, y, weight=w, ignore_index=IGNORE, normalize="pixels")
    ref = F.cross_entropy(x, y, weight=w, ignore_index=IGNORE, reduction="sum") / (y != IGNORE).sum()
    close(ours, ref)


@pytest.mark.parametrize("shape", SHAPES)
def test_soft_targets_against_torch_and_brute_force(shape):
    x, _ = case(shape)
    t = torch.from_numpy(softmax(RNG.standard_normal(shape)))
    w = torch.from_numpy(RNG.uniform(0.1, 3.0, shape[1]))
    # torch's probability-target cross-entropy divides by the pixel count: our "pixels" normalisation
    close(segmath.cross_entropy(x, t), F.cross_entropy(x, t))
    close(segmath.weighted_cross_entropy(x, t, weight=w, normalize="pixels"), F.cross_entropy(x, t, weight=w))
    # default: divide by the soft weight sum_i sum_k w_k y_ik
    logp = np.log(softmax(x.numpy()))
    wy = w.numpy().reshape((1, -1) + (1,) * (len(shape) - 2)) * t.numpy()
    close(segmath.weighted_cross_entropy(x, t, weight=w), -(wy * logp).sum() / wy.sum())


def test_weighted_ce_one_hot_equals_labels():
    x, y = case((2, 3, 5, 6))
    w = [0.3, 1.0, 4.0]
    dense = torch.from_numpy(one_hot(y.numpy(), 3))
    close(segmath.weighted_cross_entropy(x, dense, weight=w), F.cross_entropy(x, y, weight=torch.tensor(w, dtype=torch.float64)))


@pytest.mark.parametrize("shape", [(2, 1, 5, 6), (2, 1, 3, 4, 5)])
def test_weighted_ce_binary_is_two_class_softmax(shape):
    """C = 1 with weight (w0, w1) is the 2-class weighted CE on logits (0, x)."""
    x, _ = case(shape)
    r = np.random.default_rng(3)
    y = torch.from_numpy(r.integers(0, 2, size=(shape[0],) + shape[2:]))
    y[0, 0] = IGNORE
    w = torch.tensor([1.0, 4.0], dtype=torch.float64)
    two = torch.cat([torch.zeros_like(x), x], dim=1)
    for reduction in ("mean", "sum", "none"):
        close(segmath.weighted_cross_entropy(x, y, weight=w, ignore_index=IGNORE, reduction=reduction),
              F.cross_entropy(two, y, weight=w, ignore_index=IGNORE, reduction=reduction))


def test_weighted_ce_binary_needs_two_weights():
    x, y = case((2, 1, 4, 4))
    with pytest.raises(ValueError, match="weight"):
        segmath.weighted_cross_entropy(x, (y > 0).long(), weight=[2.0])
    with pytest.raises(ValueError, match="normalize"):
        segmath.weighted_cross_entropy(*case((2, 3, 4, 4)), weight=[1, 1, 1], normalize="count")


# -- binary cross-entropy vs torch --------------------------------------------

@pytest.mark.parametrize("shape", [(2, 1, 5, 6), (2, 3, 5, 6), (2, 4, 3, 4, 5)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_matches_torch_with_pos_weight(shape, reduction):
    x, _ = case(shape)
    t = torch.from_numpy(RNG.uniform(0, 1, shape))          # soft multi-label targets
    c = shape[1]
    pw = torch.from_numpy(RNG.uniform(0.5, 4.0, c))
    w = torch.from_numpy(RNG.uniform(0.1, 2.0, c))
    view = (1, c) + (1,) * (len(shape) - 2)
    ref = F.binary_cross_entropy_with_logits(x, t, weight=w.view(view), pos_weight=pw.view(view),
                                             reduction=reduction)
    close(segmath.binary_cross_entropy(x, t, pos_weight=pw, weight=w, reduction=reduction), ref)
    # NumPy arrays give the same value
    close(segmath.binary_cross_entropy(x.numpy(), t.numpy(), pos_weight=pw.numpy(), weight=w.numpy(),
                                       reduction=reduction), ref)


def test_bce_labels_ignore_index_and_probabilities():
    x, _ = case((2, 1, 6, 7))
    y = torch.from_numpy(np.random.default_rng(1).integers(0, 2, size=(2, 6, 7)))
    y[1, :2] = 255
    valid = (y != 255)
    per = F.binary_cross_entropy_with_logits(x[:, 0], y.clamp(max=1).double(), pos_weight=torch.tensor(3.0).double(),
                                             reduction="none")
    close(segmath.binary_cross_entropy(x, y, ignore_index=255, pos_weight=3.0), per[valid].mean())
    p = torch.sigmoid(x)
    close(segmath.binary_cross_entropy(p, y.clamp(max=1), from_logits=False),
          F.binary_cross_entropy(p[:, 0], y.clamp(max=1).double()), tol=1e-9)


def test_bce_rejects_labels_for_multilabel_and_bad_pos_weight():
    x, y = case((2, 3, 4, 4))
    with pytest.raises(ValueError, match="target"):
        segmath.binary_cross_entropy(x, y)
    with pytest.raises(ValueError, match="pos_weight"):
        segmath.binary_cross_entropy(x, torch.zeros_like(x), pos_weight=-1.0)
    with pytest.raises(ValueError, match="activation"):
        segmath.binary_cross_entropy(x, torch.zeros_like(x), activation="softmax")
    close(segmath.binary_cross_entropy(x, torch.zeros_like(x), activation=None),
          segmath.binary_cross_entropy(x, torch.zeros_like(x)))


# -- focal loss ---------------------------------------------------------------

def focal_np(x, y, gamma, alpha=None):
    """Lin et al. (2017), sigmoid, hard targets, per element: -alpha_t (1 - p_t)^gamma log p_t."""
    p = 1.0 / (1.0 + np.exp(-x))
    p_t = np.where(y == 1, p, 1.0 - p)
    a_t = 1.0 if alpha is None else np.where(y == 1, alpha, 1.0 - alpha)
    return -a_t * (1.0 - p_t) ** gamma * np.log(p_t)


@pytest.mark.parametrize("shape", [(2, 1, 5, 6), (2, 3, 3, 4, 5)])
@pytest.mark.parametrize("gamma,alpha", [(2.0, 0.25), (0.5, None), (3.0, 0.7)])
def test_focal_sigmoid_matches_monai_and_lin(shape, gamma, alpha):
    from monai.losses import FocalLoss
    x, _ = case(shape, scale=1.5)
    t = torch.from_numpy((RNG.random(shape) < 0.3).astype(float))
    ours = segmath.focal(x, t, gamma=gamma, alpha=alpha, activation="sigmoid", reduction="none")
    monai = FocalLoss(gamma=gamma, alpha=alpha, reduction="none")(x, t)   # (N, C, ...) float32
    close(ours, monai.double().sum(1), tol=2e-6)
    close(ours, focal_np(x.numpy(), t.numpy(), gamma, alpha).sum(1))
    # means: MONAI averages over channels too, we sum them
    close(segmath.focal(x, t, gamma=gamma, alpha=alpha, activation="sigmoid"),
          shape[1] * FocalLoss(gamma=gamma, alpha=alpha)(x, t).double(), tol=2e-6)


def test_focal_sigmoid_matches_smp():
    """smp's FocalLoss: multilabel = mean over channels of per-channel means; binary drops ignored pixels."""
    FocalLoss = smp_losses().FocalLoss
    x, _ = case((2, 3, 5, 6))
    t = torch.from_numpy((RNG.random(x.shape) < 0.3).astype(float))
    ref = FocalLoss("multilabel", alpha=0.25, gamma=2.0)(x, t)
    close(segmath.focal(x, t, gamma=2.0, alpha=0.25, activation="sigmoid"), 3 * ref)
    xb, _ = case((2, 1, 5, 6), seed=1)
    y = torch.from_numpy(np.random.default_rng(2).integers(0, 2, size=(2, 5, 6)))
    y[0, 0] = -1
    ref = FocalLoss("binary", alpha=0.6, gamma=1.0, ignore_index=-1)(xb, y[:, None])
    close(segmath.focal(xb, y, gamma=1.0, alpha=0.6, ignore_index=-1), ref)


@pytest.mark.parametrize("shape", SHAPES)
def test_focal_softmax_matches_monai(shape):
    from monai.losses import FocalLoss
    x, y = case(shape, ignore=True)
    c = shape[1]
    # mean with ignored pixels: MONAI divides by the counted pixels, as we do
    monai = FocalLoss(to_onehot_y=True, use_softmax=True, gamma=2.0, ignore_index=IGNORE)(x, y[:, None])
    close(segmath.focal(x, y, gamma=2.0, ignore_index=IGNORE), monai.double(), tol=2e-6)
    # per-class alpha sequence (MONAI) == weight (here); compare the unnormalised sums
    w = RNG.uniform(0.2, 2.0, c)
    yc = y.clamp(min=0)
    per = FocalLoss(to_onehot_y=True, use_softmax=True, gamma=1.5, alpha=list(w), reduction="none")(x, yc[:, None])
    close(segmath.focal(x, yc, gamma=1.5, weight=w, reduction="sum"), per.double().sum(), tol=2e-6)
    # soft targets: -sum_k w_k y_k (1 - p_k)^gamma log p_k
    t = softmax(RNG.standard_normal(shape))
    p = softmax(x.numpy())
    wv = w.reshape((1, -1) + (1,) * (len(shape) - 2))
    brute = -(wv * t * (1 - p) ** 1.5 * np.log(p)).sum(1).mean()
    close(segmath.focal(x, torch.from_numpy(t), gamma=1.5, weight=w), brute)


@pytest.mark.parametrize("activation,c", [("softmax", 3), ("sigmoid", 1), ("sigmoid", 3)])
def test_focal_gamma_zero_is_cross_entropy_and_focal_below_it(activation, c):
    x, y = case((2, c, 6, 5))
    t = torch.from_numpy((RNG.random(x.shape) < 0.5).astype(float)) if activation == "sigmoid" else y
    w = RNG.uniform(0.2, 2.0, c)
    ce = segmath.cross_entropy(x, t, activation=activation, weight=w, reduction="none")
    close(segmath.focal(x, t, gamma=0.0, activation=activation, weight=w, reduction="none"), ce)
    for gamma in (0.5, 2.0):
        fl = segmath.focal(x, t, gamma=gamma, activation=activation, weight=w, reduction="none")
        assert torch.all(fl <= ce + 1e-15)
    # reference values: torch's cross-entropy
    if activation == "softmax":
        close(segmath.focal(x, y, gamma=0.0, weight=w), F.cross_entropy(x, y, weight=torch.from_numpy(w)))


@pytest.mark.parametrize("activation,c", [("softmax", 3), ("sigmoid", 1)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_focal_gradient_finite_when_saturated_for_small_gamma(activation, c, dtype):
    """d/dp (1-p)^gamma = -gamma (1-p)^(gamma-1) is infinite at p = 1 for gamma < 1."""
    y = torch.zeros((1, 4), dtype=torch.long) if activation == "softmax" else torch.ones((1, 1, 4))
    x = torch.zeros((1, c, 4), dtype=dtype)
    x[:, 0] = torch.tensor([30.0, 800.0, 1e4, 2.0], dtype=dtype)   # p_t -> 1 (exactly 1 in floating point)
    x.requires_grad_(True)
    loss = segmath.focal(x, y.to(dtype) if activation == "sigmoid" else y, gamma=0.5, activation=activation)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    assert float(loss.detach()) > 0  # the unsaturated pixel still counts


def test_focal_option_errors():
    x, y = case((2, 3, 4, 4))
    with pytest.raises(ValueError, match="alpha"):
        segmath.focal(x, y, alpha=0.25)
    with pytest.raises(ValueError, match="gamma"):
        segmath.focal(x, y, gamma=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        segmath.focal(x[:, :1], (y > 0).long(), alpha=1.5)


# -- balanced cross-entropy ---------------------------------------------------

def balanced_ce_np(x, y, c, ignore=None):
    """Brute force, labels, softmax: w_k = (1/n_k) / sum_present (1/n_j); weighted mean."""
    logp = np.log(softmax(x))
    valid = np.ones(y.shape, bool) if ignore is None else (y != ignore)
    counts = np.array([np.sum((y == k) & valid) for k in range(c)], float)
    inv = np.array([1.0 / n if n > 0 else 0.0 for n in counts])
    w = inv / inv.sum()
    num = den = 0.0
    for idx in zip(*np.nonzero(valid)):
        k = y[idx]
        num += -w[k] * logp[(idx[0], k) + idx[1:]]
        den += w[k]
    return num / den


@pytest.mark.parametrize("shape", SHAPES)
def test_balanced_ce_brute_force_and_class_mean_identity(shape):
    x, y = case(shape, ignore=True)
    c = shape[1]
    ours = segmath.balanced_cross_entropy(x, y, ignore_index=IGNORE)
    close(ours, balanced_ce_np(x.numpy(), y.numpy(), c, IGNORE))
    # equivalently: the mean over present classes of each class's mean cross-entropy
    ce = F.cross_entropy(x, y, ignore_index=IGNORE, reduction="none")
    means = [ce[y == k].mean() for k in range(c) if (y == k).any()]
    close(ours, torch.stack(means).mean())


def test_balanced_ce_binary_is_hed_per_image():
    """Xie & Tu (2015): -beta sum_{Y+} log p - (1 - beta) sum_{Y-} log(1 - p), beta = |Y-|/|Y|."""
    x, _ = case((3, 1, 7, 8))
    y = torch.from_numpy((np.random.default_rng(5).random((3, 7, 8)) < 0.15).astype(np.int64))
    xn, yn = x.numpy()[:, 0], y.numpy()
    hed, means = 0.0, []
    for n in range(3):
        pos, neg = yn[n] == 1, yn[n] == 0
        beta = neg.sum() / yn[n].size
        lp, lq = -np.logaddexp(0, -xn[n]), -np.logaddexp(0, xn[n])   # log p, log(1 - p)
        hed += -beta * lp[pos].sum() - (1 - beta) * lq[neg].sum()
        means.append(0.5 * (-lp[pos].mean() - lq[neg].mean()))
    close(segmath.balanced_cross_entropy(x, y, aggregate="image", reduction="sum"), hed)
    close(segmath.balanced_cross_entropy(x, y, aggregate="image"), np.mean(means))


def test_balanced_ce_empty_target_is_plain_bce():
    """Empty policy: no positives -> the negatives carry all the weight (HED would give 0)."""
    x, _ = case((2, 1, 5, 5))
    y = torch.zeros((2, 5, 5), dtype=torch.long)
    ref = F.binary_cross_entropy_with_logits(x[:, 0], y.double())
    close(segmath.balanced_cross_entropy(x, y), ref)
    close(segmath.balanced_cross_entropy(x, y, aggregate="image"), ref)
    # softmax: a class absent from the batch gets weight 0; one class present -> plain CE
    x3, _ = case((2, 3, 4, 4))
    close(segmath.balanced_cross_entropy(x3, torch.zeros((2, 4, 4), dtype=torch.long)),
          F.cross_entropy(x3, torch.zeros((2, 4, 4), dtype=torch.long)))
    # every pixel ignored: 0, not NaN
    assert float(segmath.balanced_cross_entropy(x3, torch.full((2, 4, 4), IGNORE), ignore_index=IGNORE)) == 0.0


def test_balanced_ce_soft_targets_brute_force():
    shape = (2, 3, 4, 5)
    x, _ = case(shape)
    t = softmax(RNG.standard_normal(shape))
    pi = t.sum(axis=(0, 2, 3))
    w = (1 / pi) / (1 / pi).sum()
    wy = w.reshape(1, -1, 1, 1) * t
    brute = -(wy * np.log(softmax(x.numpy()))).sum() / wy.sum()
    close(segmath.balanced_cross_entropy(x.numpy(), t), brute)


# -- top-k cross-entropy ------------------------------------------------------

def topk_np(ce, valid, k):
    """Brute force per row: mean of the ceil(k n) largest counted values (k n computed exactly)."""
    out = []
    for row, v in zip(ce, valid):
        vals = np.sort(row[v])[::-1]
        m = int(np.ceil(round(k * len(vals), 9)))
        out.append(vals[:m].mean())
    return np.mean(out)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("k", [0.1, 0.25, 0.5, 1.0])
def test_topk_matches_brute_force(shape, k):
    x, y = case(shape, ignore=True)
    n = shape[0]
    ce = F.cross_entropy(x, y, ignore_index=IGNORE, reduction="none").reshape(n, -1).numpy()
    valid = (y != IGNORE).reshape(n, -1).numpy()
    close(segmath.topk_cross_entropy(x, y, k=k, ignore_index=IGNORE), topk_np(ce, valid, k))
    close(segmath.topk_cross_entropy(x, y, k=k, ignore_index=IGNORE, aggregate="batch"),
          topk_np(ce.reshape(1, -1), valid.reshape(1, -1), k))


def test_topk_batch_is_nnunet_topk_and_k1_is_ce():
    x, y = case((2, 3, 10, 10))
    ce = F.cross_entropy(x, y, reduction="none")
    # nnU-Net TopKLoss(k=10): torch.topk over the flattened batch, int(numel * k / 100) voxels
    ref = torch.topk(ce.view(-1), int(ce.numel() * 10 / 100))[0].mean()
    close(segmath.topk_cross_entropy(x, y, k=0.1, aggregate="batch"), ref)
    close(segmath.topk_cross_entropy(x, y, k=1.0), F.cross_entropy(x, y))


def test_topk_count_is_exact_and_none_map_marks_the_hardest():
    x, y = case((2, 3, 5, 6))                       # 30 pixels per image; 0.1 * 30 = 3.0000000000000004
    m = segmath.topk_cross_entropy(x, y, k=0.1, reduction="none")
    assert m.shape == (2, 5, 6)
    assert [int((m[n] != 0).sum()) for n in range(2)] == [3, 3]
    ce = F.cross_entropy(x, y, reduction="none").reshape(2, -1)
    for n in range(2):
        top = set(torch.topk(ce[n], 3).indices.tolist())
        assert set(torch.nonzero(m[n].reshape(-1)).flatten().tolist()) == top
    close(segmath.topk_cross_entropy(x, y, k=0.1, reduction="sum"), m.sum())


def test_topk_weight_and_errors():
    x, y = case((2, 3, 5, 6))
    w = np.array([0.5, 2.0, 1.0])
    ce = (w[y.numpy()] * F.cross_entropy(x, y, reduction="none").numpy()).reshape(2, -1)
    close(segmath.topk_cross_entropy(x, y, k=0.3, weight=w), topk_np(ce, np.ones_like(ce, bool), 0.3))
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="k"):
            segmath.topk_cross_entropy(x, y, k=bad)


def test_topk_mask_primitive_agrees_across_backends():
    v = np.random.default_rng(2).standard_normal((4, 50))
    v[0, :10] = 0.5                                   # ties
    counts = np.array([12, 0, 50, 7])
    a = topk_mask(v, counts)
    b = topk_mask(torch.from_numpy(v), torch.from_numpy(counts)).numpy()
    np.testing.assert_array_equal(a.sum(1), counts)
    np.testing.assert_array_equal(b.sum(1), counts)
    for r in range(4):   # the selected values are the largest ones (ties: same values)
        expected = np.sort(v[r])[::-1][:counts[r]]
        np.testing.assert_array_equal(np.sort(v[r][a[r]])[::-1], expected)
        np.testing.assert_array_equal(np.sort(v[r][b[r]])[::-1], expected)
    for m in (0, 1, 13, 50):   # one count for every row: the partial-selection path
        for mask in (topk_mask(v, m), topk_mask(torch.from_numpy(v), m).numpy()):
            assert mask.shape == v.shape and np.all(mask.sum(1) == m)
            for r in range(4):
                np.testing.assert_array_equal(np.sort(v[r][mask[r]]), np.sort(v[r])[v.shape[1] - m:])


# -- sensitivity-specificity --------------------------------------------------

def ss_np(p, y, r, smooth, valid=None):
    """Brute force, per image and class, from the (N, C, ...) probabilities and targets."""
    n, c = p.shape[:2]
    if valid is None:
        valid = np.ones((n,) + p.shape[2:], bool)
    table = np.zeros((n, c))
    for i in range(n):
        v = valid[i]
        for k in range(c):
            pk, yk = p[i, k][v], y[i, k][v]
            sens = ((yk - pk) ** 2 * yk).sum() / (yk.sum() + smooth) if yk.sum() + smooth > 0 else 0.0
            spec = ((yk - pk) ** 2 * (1 - yk)).sum() / ((1 - yk).sum() + smooth)
            table[i, k] = r * sens + (1 - r) * spec
    return table


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("r,smooth", [(0.05, 1e-5), (0.5, 0.0), (0.9, 1.0)])
def test_sensitivity_specificity_brute_force(shape, r, smooth):
    x, y = case(shape, ignore=True)
    c = shape[1]
    p = softmax(x.numpy())
    yv = y.numpy()
    valid = yv != IGNORE
    table = ss_np(p, one_hot(np.where(valid, yv, 0), c), r, smooth, valid)
    out = segmath.sensitivity_specificity(x, y, r=r, smooth=smooth, ignore_index=IGNORE, reduction="none")
    close(out, table)
    close(segmath.sensitivity_specificity(x.numpy(), yv, r=r, smooth=smooth, ignore_index=IGNORE), table.mean())
    w = np.arange(1.0, c + 1)
    close(segmath.sensitivity_specificity(x, y, r=r, smooth=smooth, ignore_index=IGNORE, weight=w),
          np.mean((table * w).sum(1) / w.sum()))


def test_sensitivity_specificity_soft_batch_and_binary():
    shape = (3, 1, 6, 6)
    x, _ = case(shape)
    t = RNG.uniform(0, 1, shape)
    p = 1 / (1 + np.exp(-x.numpy()))
    # batch aggregate: pool all images into one
    pooled = ss_np(np.moveaxis(p, 0, 2).reshape(1, 1, -1), np.moveaxis(t, 0, 2).reshape(1, 1, -1), 0.2, 1e-5)
    close(segmath.sensitivity_specificity(x, torch.from_numpy(t), r=0.2, aggregate="batch", reduction="none"),
          pooled)
    # binary labels with ignored pixels (the sigmoid path with a mask)
    y = np.random.default_rng(4).integers(0, 2, size=(3, 6, 6))
    y[:, 0] = 7
    valid = y != 7
    table = ss_np(p, np.where(valid, y, 0)[:, None].astype(float), 0.05, 1e-5, valid)
    close(segmath.sensitivity_specificity(x, torch.from_numpy(y), ignore_index=7, reduction="none"), table)


def test_sensitivity_specificity_absent_class():
    """A class absent from the target: sensitivity term 0, specificity term = mean of p^2."""
    x, _ = case((1, 3, 4, 4))
    y = torch.zeros((1, 4, 4), dtype=torch.long)
    y[0, :2] = 1                                        # class 2 absent
    out = segmath.sensitivity_specificity(x, y, r=0.3, smooth=0.0, reduction="none")
    p2 = torch.softmax(x, 1)[0, 2]
    close(out[0, 2], 0.7 * (p2 ** 2).mean())


# -- properties (hypothesis) --------------------------------------------------

LOSSES = {
    "cross_entropy": lambda x, y, **k: segmath.cross_entropy(x, y, **k),
    "binary_cross_entropy": None,  # sigmoid only: tested separately below
    "weighted_cross_entropy": lambda x, y, **k: segmath.weighted_cross_entropy(x, y, weight=[0.5, 2.0, 1.0], **k),
    "balanced_cross_entropy": lambda x, y, **k: segmath.balanced_cross_entropy(x, y, **k),
    "focal": lambda x, y, **k: segmath.focal(x, y, gamma=2.0, **k),
    "topk_cross_entropy": lambda x, y, **k: segmath.topk_cross_entropy(x, y, k=0.3, **k),
    "sensitivity_specificity": lambda x, y, **k: segmath.sensitivity_specificity(x, y, **k),
}
SOFTMAX_LOSSES = [k for k, v in LOSSES.items() if v is not None]


@st.composite
def problems(draw):
    n, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2 ** 31 - 1))
    scale = draw(st.sampled_from([0.1, 1.0, 10.0, 50.0]))
    r = np.random.default_rng(seed)
    return scale * r.standard_normal((n, 3, h, w)), r.integers(0, 3, size=(n, h, w)), r


@settings(max_examples=40, deadline=None)
@given(problems())
def test_properties_non_negative_and_focal_below_ce(problem):
    x, y, r = problem
    for name in SOFTMAX_LOSSES:
        assert float(LOSSES[name](x, y)) >= 0.0, name
    t = (r.random(x.shape) < 0.5).astype(float)
    assert float(segmath.binary_cross_entropy(x, t, pos_weight=2.0)) >= 0.0
    ce = segmath.cross_entropy(x, y, reduction="none")
    for gamma in (0.25, 1.0, 2.0):
        assert np.all(segmath.focal(x, y, gamma=gamma, reduction="none") <= ce + 1e-12)
    np.testing.assert_allclose(segmath.focal(x, y, gamma=0.0, reduction="none"), ce, rtol=1e-12, atol=0)


@settings(max_examples=25, deadline=None)
@given(problems())
def test_properties_zero_at_perfect_one_hot_prediction(problem):
    _, y, r = problem
    p = one_hot(y, 3)
    for name in SOFTMAX_LOSSES:
        assert float(LOSSES[name](p, y, from_logits=False)) == 0.0, name
    t = (r.random((y.shape[0], 2) + y.shape[1:]) < 0.5).astype(float)
    assert float(segmath.binary_cross_entropy(t, t, from_logits=False)) == 0.0
    assert float(segmath.focal(t, t, from_logits=False, activation="sigmoid", alpha=0.25)) == 0.0


def test_docstring_examples_run():
    for module in (dist, segmath.primitives.select):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0


def test_catalogue_metadata():
    expected = {"cross_entropy": "02_balanced", "binary_cross_entropy": "02_balanced",
                "weighted_cross_entropy": "03_imbalanced", "balanced_cross_entropy": "03_imbalanced",
                "focal": "05_focal", "topk_cross_entropy": "05_focal", "sensitivity_specificity": "03_imbalanced"}
    for id_, chapter in expected.items():
        entry = segmath.get(id_)
        assert (entry.chapter or entry.planned_chapter) == chapter and entry.references and entry.formula
    assert "verify_focal_underconfident" in segmath.get("focal").theorems
    assert "verify_weighted_ce_threshold" in segmath.get("weighted_cross_entropy").theorems
    assert set(dist.__all__) == set(expected)


# -- multi-label sigmoid and the empty policy ---------------------------------

def test_multilabel_weighted_and_balanced_brute_force():
    shape = (2, 3, 4, 5)
    x, _ = case(shape)
    t = (RNG.random(shape) < 0.25).astype(float)
    t[:, 2] = 0.0                                       # one channel empty in the whole batch
    lp, lq = -np.logaddexp(0, -x.numpy()), -np.logaddexp(0, x.numpy())
    w0, w1 = 1.0, 5.0
    num = -(w1 * t * lp + w0 * (1 - t) * lq).sum()
    close(segmath.weighted_cross_entropy(x.numpy(), t, weight=[w0, w1], activation="sigmoid"),
          num / (w1 * t + w0 * (1 - t)).sum())
    # balanced: per channel beta_c = fraction of negatives; an empty channel weighs its negatives by 1
    pos = t.sum(axis=(0, 2, 3))
    neg = t[:, 0].size - pos
    beta = np.where(pos > 0, neg / t[:, 0].size, 0.0)
    wneg = np.where(pos > 0, 1 - beta, 1.0)
    b, bn = beta.reshape(1, -1, 1, 1), wneg.reshape(1, -1, 1, 1)
    brute = -(b * t * lp + bn * (1 - t) * lq).sum() / (b * t + bn * (1 - t)).sum()
    close(segmath.balanced_cross_entropy(x.numpy(), t, activation="sigmoid"), brute)


def test_everything_ignored():
    x, _ = case((2, 3, 4, 4))
    y = torch.full((2, 4, 4), IGNORE)
    x.requires_grad_(True)
    for fn, kw in [(segmath.weighted_cross_entropy, {"weight": [1, 2, 3]}), (segmath.balanced_cross_entropy, {}),
                   (segmath.topk_cross_entropy, {}), (segmath.sensitivity_specificity, {}),
                   (segmath.cross_entropy, {}), (segmath.focal, {})]:
        x.grad = None
        loss = fn(x, y, ignore_index=IGNORE, **kw)
        assert float(loss.detach()) == 0.0, fn.__name__
        loss.backward()
        assert torch.all(x.grad == 0), fn.__name__
    # the documented difference: torch.nn.functional.cross_entropy gives NaN here
    assert torch.isnan(F.cross_entropy(x, y, ignore_index=IGNORE))


def test_empty_foreground_binary():
    """No positive pixel: BCE and focal are the plain negative terms (false positives still cost)."""
    x, _ = case((2, 1, 5, 5))
    y = torch.zeros((2, 5, 5), dtype=torch.long)
    ref = F.binary_cross_entropy_with_logits(x[:, 0], y.double(), reduction="none")
    close(segmath.binary_cross_entropy(x, y, pos_weight=3.0), ref.mean())
    p = torch.sigmoid(x[:, 0])
    close(segmath.focal(x, y, gamma=2.0, alpha=0.25), (0.75 * p ** 2 * ref).mean())
    close(segmath.sensitivity_specificity(x, y, r=0.4, smooth=0.0, reduction="none")[:, 0],
          0.6 * (p ** 2).mean(dim=(1, 2)))
