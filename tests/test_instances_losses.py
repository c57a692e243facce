"""Embedding losses against brute-force NumPy loops of the papers' / seed's formulas, NumPy vs torch,
gradcheck and whole-graph tracing with value checks off."""
import numpy as np
import pytest
import torch

import segmath


def instances(y, background):
    return [k for k in np.unique(y).tolist() if background is None or k != background]


def brute_discriminative(x, y, dv=0.5, dd=1.5, a=1.0, b=1.0, g=0.001, variance="instance", reg="mean",
                         background=0):
    """De Brabandere et al. 2017, eqs. (1)-(4), one image at a time, one instance at a time."""
    out = []
    for xi, yi in zip(x, y):
        e = xi.reshape(xi.shape[0], -1).T          # (S, F)
        lab = yi.ravel()
        ks = instances(lab, background)
        mus = {k: e[lab == k].mean(0) for k in ks}
        c = len(ks)
        if c == 0:
            out.append(0.0)
            continue
        if variance == "instance":
            var = np.mean([np.mean([max(np.linalg.norm(mus[k] - v) - dv, 0) ** 2 for v in e[lab == k]]) for k in ks])
        else:
            var = np.mean([max(np.linalg.norm(mus[k] - v) - dv, 0) ** 2 for k in ks for v in e[lab == k]])
        dist = 0.0
        if c > 1:
            dist = sum(max(2 * dd - np.linalg.norm(mus[i] - mus[j]), 0) ** 2 for i in ks for j in ks if i != j)
            dist /= c * (c - 1)
        r = sum(np.linalg.norm(mus[k]) for k in ks)
        r = r / c if reg == "mean" else r
        out.append(a * var + b * dist + g * r)
    return np.array(out)


def brute_push_pull(x, y, attract, repel, alpha, background=0):
    out = []
    for xi, yi in zip(x, y):
        e = xi.reshape(xi.shape[0], -1).T
        lab = yi.ravel()
        ks = instances(lab, background)
        terms = []
        for k in ks:
            fg = lab != background if background is not None else np.ones(len(lab), bool)
            mu = e[(lab == k) & fg].mean(0)
            inside = [attract(np.linalg.norm(mu - v)) for v in e[lab == k]]
            outside = [repel(np.linalg.norm(mu - v)) for v in e[lab != k]]
            terms.append(alpha * np.mean(inside) + (np.mean(outside) if outside else 0.0))
        out.append(np.mean(terms) if terms else 0.0)
    return np.array(out)


def case(seed, f=4, shape=(5, 6), k=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, (2,) + shape)
    x = rng.normal(0, 1.2, (2, f) + shape)
    return x, y


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("opts", [{}, {"variance": "pixel"}, {"reg": "sum"}, {"background": None},
                                  {"delta_v": 0.1, "delta_d": 3.0, "gamma": 0.5}])
def test_discriminative_brute_force(seed, opts):
    x, y = case(seed)
    got = segmath.discriminative(x, y, reduction="none", **opts)
    map_ = {"delta_v": "dv", "delta_d": "dd", "gamma": "g"}
    ref = brute_discriminative(x, y, **{map_.get(k, k): v for k, v in opts.items()})
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    assert ref.min() > 0


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("background", [0, None])
def test_push_pull_brute_force(seed, background):
    x, y = case(seed)
    got = segmath.push_pull_centroid(x, y, alpha=0.7, background=background, reduction="none")
    ref = brute_push_pull(x, y, lambda d: d, lambda d: -d, 0.7, background)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-10)
    got = segmath.push_pull_balls(x, y, r_a=0.3, r_r=2.0, alpha=2.0, background=background, reduction="none")
    ref = brute_push_pull(x, y, lambda d: max(d - 0.3, 0), lambda d: max(2.0 - d, 0), 2.0, background)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-10)


LOSSES = [segmath.discriminative, segmath.push_pull_centroid, segmath.push_pull_balls]


@pytest.mark.parametrize("fn", LOSSES, ids=lambda f: f.__name__)
def test_3d_numpy_torch_gradcheck(fn):
    x, y = case(7, f=2, shape=(3, 4, 3), k=3)
    a = fn(x, y)
    t = torch.tensor(x, requires_grad=True)
    b = fn(t, torch.from_numpy(y))
    assert abs(float(a) - float(b)) < 1e-10
    assert torch.autograd.gradcheck(lambda v: fn(v, torch.from_numpy(y)), (t,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("fn", LOSSES, ids=lambda f: f.__name__)
def test_traces_whole_with_checks_off(fn):
    x, y = case(3)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    torch._dynamo.reset()
    with segmath.value_checks(False):
        eager = fn(x, y, max_id=3)
        traced = torch.compile(fn, backend="eager", fullgraph=True)(x, y, max_id=3)
    torch.testing.assert_close(traced, eager, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", LOSSES, ids=lambda f: f.__name__)
def test_no_instance_costs_zero_and_bad_ids(fn):
    x = np.random.default_rng(0).normal(size=(1, 3, 4, 4))
    assert float(fn(x, np.zeros((1, 4, 4), np.int64))) == 0.0
    with pytest.raises(ValueError, match="target"):
        fn(x, -np.ones((1, 4, 4), np.int64))
    with pytest.raises(ValueError, match="target"):
        fn(x, np.ones((1, 4, 4), np.int64) * 5, max_id=3)
    with pytest.raises(ValueError, match="target"):
        fn(x, np.ones((1, 4, 5), np.int64))


def test_discriminative_zero_when_constraints_hold():
    """Every embedding within delta_v of its centre and centres 2 delta_d apart: only L_reg is left."""
    y = np.array([[[1, 1, 2, 2, 3, 3]]])
    x = np.array([[[[0.0, 0.4, 3.2, 3.6, 6.4, 6.8]]]])
    got = float(segmath.discriminative(x, y, gamma=0.0))
    assert got == 0.0
    assert float(segmath.discriminative(x, y, gamma=0.0, delta_d=2.0)) > 0


def brute_fathi(x, y, background=0, sizes=None):
    """Fathi et al. 2017 over all instance pixels (or with per-instance counts ``sizes`` as weights)."""
    out = []
    for xi, yi in zip(x, y):
        e = xi.reshape(xi.shape[0], -1).T
        lab = yi.ravel()
        keep = [i for i in range(len(lab)) if background is None or lab[i] != background]
        total = 0.0
        for p in keep:
            size = np.sum(lab[keep] == lab[p]) if sizes is None else sizes[lab[p]]
            for q in keep:
                sig = 2 / (1 + np.exp(np.sum((e[p] - e[q]) ** 2)))
                total += (np.log(sig) if lab[p] == lab[q] else np.log(1 - sig)) / size
        out.append(-total / len(keep) if keep else 0.0)
    return np.array(out)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("background", [0, None])
def test_pairwise_similarity_exhaustive_brute_force(seed, background):
    x, y = case(seed, f=3, shape=(3, 4))
    got = segmath.pairwise_similarity(x, y, samples="all", background=background, reduction="none")
    np.testing.assert_allclose(got, brute_fathi(x, y, background), rtol=1e-10)
    big = segmath.pairwise_similarity(x, y, samples=12, background=background, reduction="none")
    np.testing.assert_allclose(big, got, rtol=1e-12)      # every instance smaller than 12: all sampled


@pytest.mark.parametrize("k", [1, 2, 3])
def test_pairwise_similarity_sampling_counts(k):
    """Constant embeddings per instance: the value depends only on how many pixels each instance gives,
    min(k, |m|), which the brute force takes as weights and multiplicities."""
    rng = np.random.default_rng(k)
    y = rng.integers(0, 4, (1, 5, 6))
    centres = rng.normal(0, 0.8, (4, 2))
    x = np.moveaxis(centres[y], -1, 1).copy()
    got = float(segmath.pairwise_similarity(x, y, samples=k, seed=3))
    sizes = {j: min(k, int(np.sum(y == j))) for j in range(4)}
    # brute force on a representative set: sizes[j] copies of centre j
    lab = np.concatenate([[j] * sizes[j] for j in range(1, 4)])
    xs = centres[lab].T[None, :, :, None]
    ref = brute_fathi(xs, lab[None, :, None], background=0)
    assert got == pytest.approx(float(ref[0]), rel=1e-12)
    t = segmath.pairwise_similarity(torch.from_numpy(x), torch.from_numpy(y), samples=k, seed=3)
    assert float(t) == pytest.approx(got, rel=1e-12)


def test_pairwise_similarity_seeded_and_traced():
    x, y = case(5, f=3, shape=(6, 6))
    a = segmath.pairwise_similarity(x, y, samples=2, seed=1)
    assert a == segmath.pairwise_similarity(x, y, samples=2, seed=1)
    assert a != segmath.pairwise_similarity(x, y, samples=2, seed=2)
    xt, yt = torch.tensor(x, requires_grad=True), torch.from_numpy(y)
    assert torch.autograd.gradcheck(lambda v: segmath.pairwise_similarity(v, yt, samples=2, seed=1), (xt,))
    torch._dynamo.reset()
    with segmath.value_checks(False):
        eager = segmath.pairwise_similarity(xt.detach(), yt, samples=2, max_id=3)
        traced = torch.compile(segmath.pairwise_similarity, backend="eager", fullgraph=True)(
            xt.detach(), yt, samples=2, max_id=3)
    torch.testing.assert_close(traced, eager, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 3.0])
def test_smooth_l1_equals_torch(beta):
    rng = np.random.default_rng(int(beta * 10))
    t = rng.normal(0, 2, (3, 2, 4, 5, 2))
    x = t + rng.normal(0, 1.5, t.shape)
    got = segmath.smooth_l1(x, t, beta=beta, reduction="none")
    ref = torch.nn.functional.smooth_l1_loss(torch.from_numpy(x), torch.from_numpy(t), beta=beta,
                                             reduction="none").sum((1, 2, 3, 4)).numpy() / 40
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    xt = torch.tensor(x, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: segmath.smooth_l1(v, torch.from_numpy(t), beta=beta), (xt,))


def brute_lovasz_hinge(logits, labels):
    """Berman et al.'s Lovasz hinge of one mask, from the sorted errors and the Jaccard increments."""
    signs = 2 * labels - 1
    err = 1 - logits * signs
    order = np.argsort(-err, kind="stable")
    e, g = err[order], labels[order]
    inter = g.sum() - np.cumsum(g)
    union = g.sum() + np.cumsum(1 - g)
    jac = 1 - inter / union
    grad = np.concatenate([jac[:1], jac[1:] - jac[:-1]])
    return float(np.dot(np.maximum(e, 0), grad))


def brute_spatial(x, y, w=(1.0, 10.0, 1.0), pixel_size=None, background=0):
    out = []
    d = y.ndim - 1
    spatial = y.shape[1:]
    h = 1.0 / max(spatial) if pixel_size is None else pixel_size
    grid = np.stack(np.meshgrid(*[np.arange(n) * h for n in spatial], indexing="ij")).reshape(d, -1)
    for xi, yi in zip(x, y):
        flat = xi.reshape(d + 2, -1)
        emb = grid + np.tanh(flat[:d])
        s, seed = flat[d], 1 / (1 + np.exp(-flat[d + 1]))
        lab = yi.ravel()
        ks = instances(lab, background)
        inst, var, seed_target = [], [], np.zeros(lab.size)
        for k in ks:
            m = lab == k
            c, sbar = emb[:, m].mean(1), s[m].mean()
            phi = np.exp(-np.sum((emb - c[:, None]) ** 2, 0) / (2 * np.exp(sbar) ** 2))
            inst.append(brute_lovasz_hinge(2 * phi - 1, m.astype(float)))
            var.append(np.mean((s[m] - sbar) ** 2))
            seed_target[m] = phi[m]
        seed_l = np.mean((seed - seed_target) ** 2)
        out.append((w[0] * np.mean(inst) + w[1] * np.mean(var) if ks else 0.0) + w[2] * seed_l)
    return np.array(out)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("opts", [{}, {"pixel_size": 0.3, "w_var": 1.0}, {"background": None}])
def test_spatial_embedding_brute_force(seed, opts):
    rng = np.random.default_rng(seed)
    shape = (5, 6) if seed < 3 else (3, 4, 3)
    y = rng.integers(0, 4, (2,) + shape)
    x = rng.normal(0, 1, (2, len(shape) + 2) + shape)
    got = segmath.spatial_embedding(x, y, reduction="none", **opts)
    w = (1.0, opts.get("w_var", 10.0), 1.0)
    ref = brute_spatial(x, y, w, opts.get("pixel_size"), opts.get("background", 0))
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    t = segmath.spatial_embedding(torch.from_numpy(x), torch.from_numpy(y), reduction="none", **opts)
    np.testing.assert_allclose(t.numpy(), got, rtol=1e-10)


def test_spatial_embedding_traced_and_detached_gradient():
    rng = np.random.default_rng(9)
    y = torch.from_numpy(rng.integers(0, 3, (2, 5, 6)))
    x = torch.tensor(rng.normal(0, 1, (2, 4, 5, 6)), requires_grad=True)
    torch._dynamo.reset()
    with segmath.value_checks(False):
        eager = segmath.spatial_embedding(x.detach(), y, max_id=2)
        traced = torch.compile(segmath.spatial_embedding, backend="eager", fullgraph=True)(x.detach(), y, max_id=2)
    torch.testing.assert_close(traced, eager, rtol=1e-12, atol=1e-12)
    # detached: the seed channel gets no gradient from phi, so the offsets' gradient differs from detach=False
    (g1,) = torch.autograd.grad(segmath.spatial_embedding(x, y), x)
    (g2,) = torch.autograd.grad(segmath.spatial_embedding(x, y, detach=False), x)
    assert torch.allclose(g1[:, 3], g2[:, 3]) and not torch.allclose(g1[:, :2], g2[:, :2])


@pytest.mark.parametrize("name", ["push_pull_centroid", "push_pull_balls"])
def test_push_pull_losses_keep_their_digits_under_a_shift(name):
    """Distances are translation invariant; the Gram form used to lose ~half the digits (8e-6 at alpha = 100)."""
    rng = np.random.default_rng(3)
    fn = getattr(segmath, name)
    for _ in range(20):
        x, t = rng.normal(size=(2, 3, 6, 5)), rng.integers(0, 4, (2, 6, 5))
        base = fn(x, t, alpha=100.0)
        assert abs(float(fn(x + 7.0, t, alpha=100.0)) - float(base)) <= 1e-11 * max(1.0, abs(float(base)))
