"""cluster_embeddings recovers instances exactly where S27 says it must, and the pipeline scores PQ 1."""
import numpy as np
import pytest
import torch

import segmath
from segmath.instances import cluster_embeddings, match_instances


def configuration(rng, k=4, f=3, dv=0.5, dd=1.5, shape=(6, 8)):
    """Ids on a grid, embeddings within dv of centres 2 dd apart (the discriminative loss at zero)."""
    y = rng.integers(1, k + 1, shape)
    centres = [rng.normal(0, 1, f)]
    while len(centres) < k:
        c = rng.normal(0, 6, f)
        if all(np.linalg.norm(c - o) >= 2 * dd for o in centres):
            centres.append(c)
    u = rng.normal(size=shape + (f,))
    u *= rng.uniform(0, dv, shape + (1,)) / np.linalg.norm(u, axis=-1, keepdims=True)
    x = np.array(centres)[y - 1] + u
    return np.moveaxis(x, -1, 0)[None], y[None]


@pytest.mark.parametrize("seed", range(10))
def test_exact_recovery_when_the_loss_is_zero(seed):
    rng = np.random.default_rng(seed)
    x, y = configuration(rng)
    lab = cluster_embeddings(x, bandwidth=1.5, seed=seed)
    m = match_instances(lab[0], y[0])
    assert m.tp == len(np.unique(y)) and m.fp == 0 and np.allclose(m.matched_scores, 1.0)
    pan = lambda l: np.stack([np.ones_like(l), l], 1)  # noqa: E731
    assert float(segmath.panoptic_quality(pan(lab), pan(y), things=(1,), stuffs=())["pq"]) == 1.0


def test_mask_min_size_and_torch():
    x = np.array([[[[0.0, 0.1, 3.0, 3.1, 9.0]]]])
    mask = np.array([[[True, True, True, False, True]]])
    assert cluster_embeddings(x, mask=mask, min_size=2).tolist() == [[[1, 1, 0, 0, 0]]]
    t = cluster_embeddings(torch.from_numpy(x))
    assert isinstance(t, torch.Tensor) and t.tolist() == [[[1, 1, 2, 2, 3]]]
    with pytest.raises(ValueError, match="bandwidth"):
        cluster_embeddings(x, bandwidth=0.0)
    with pytest.raises(ValueError, match="mask"):
        cluster_embeddings(x, mask=mask[..., :2])
    with pytest.raises(ValueError, match="input"):
        cluster_embeddings(x * np.nan)


# ---- cluster_spatial_embeddings ----------------------------------------------------------------------

from segmath.instances import cluster_spatial_embeddings  # noqa: E402
from segmath.teaching import data  # noqa: E402


def brute_force(offsets, sigma, seed, threshold=0.5, foreground=0.5, mask=None, min_size=1, pixel_size=None):
    """The procedure as the paper describes it, pixel by pixel in Python (float64)."""
    offsets, sigma, seed = (np.asarray(a, np.float64) for a in (offsets, sigma, seed))
    n, d = offsets.shape[:2]
    spatial = offsets.shape[2:]
    h = 1.0 / max(spatial) if pixel_size is None else pixel_size
    out = np.zeros((n,) + spatial, np.int64)
    coords = list(np.ndindex(*spatial))
    for i in range(n):
        emb = {c: np.array(c, float) * h + offsets[(i, slice(None)) + c] for c in coords}
        fg = {c: (seed[(i, 0) + c] > foreground) if mask is None else bool(mask[(i,) + c]) for c in coords}
        free = {c for c in coords if fg[c]}
        label = 0
        while free:
            start = max(sorted(free), key=lambda c: seed[(i, 0) + c])    # first in raster order on ties
            if not seed[(i, 0) + start] > threshold:
                break
            centre, width = emb[start], sigma[(i, slice(None)) + start]
            members = {c for c in free
                       if np.exp(-np.sum((emb[c] - centre) ** 2 / (2 * width ** 2))) > 0.5}
            free -= members
            if len(members) >= min_size:
                label += 1
                for c in members:
                    out[(i,) + c] = label
    return out


def perfect(ids, jitter=0.0, radius=4.0, seed=0):
    """Offsets pointing every pixel of an instance to (near) its centre, in pixel units."""
    rng = np.random.default_rng(seed)
    n, h, w = ids.shape
    grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij")).astype(float)
    off = np.zeros((n, 2, h, w))
    for i in range(n):
        for k in np.unique(ids[i])[1:]:
            m = ids[i] == k
            c = grid[:, m].mean(1)
            u = rng.normal(size=(2, m.sum()))
            u *= rng.uniform(0, jitter, m.sum()) / np.linalg.norm(u, axis=0)
            off[i][:, m] = c[:, None] - grid[:, m] + u
    sigma = np.full((n, 1, h, w), radius / np.sqrt(2 * np.log(2)))
    score = np.where(ids > 0, rng.uniform(0.6, 1.0, ids.shape), rng.uniform(0, 0.4, ids.shape))[:, None]
    return off, sigma, score


@pytest.mark.parametrize("jitter", [0.0, 1.5])
def test_spatial_exact_recovery_on_perfect_embeddings(jitter):
    # centres of touching disks 2 r (1 - overlap) >= 9 pixels apart; members within 2 * jitter = 3 < 4 of
    # the seed's embedding, other instances at least 9 - 3 = 6 > 4 away: each cluster is one instance
    _, _, ids = data.touching(4, 48, count=3, seed=1)
    off, sig, score = perfect(ids, jitter)
    lab = cluster_spatial_embeddings(off, sig, score, pixel_size=1.0)
    for i in range(len(ids)):
        m = match_instances(lab[i], ids[i])
        assert m.tp == 3 and m.fp == 0 and m.fn == 0 and np.all(m.matched_scores == 1.0)
    assert np.array_equal(lab > 0, ids > 0)


def random_case(rng, shape=(2, 7, 9), d_sigma=1):
    n, spatial = shape[0], shape[1:]
    d = len(spatial)
    off = rng.normal(0, 0.15, (n, d) + spatial)
    sigma = rng.uniform(0.05, 0.2, (n, d_sigma) + spatial)
    seed = rng.uniform(0, 1, (n, 1) + spatial)
    return off, sigma, seed


@pytest.mark.parametrize("case", range(8))
def test_spatial_matches_the_brute_force_loop_numpy_and_torch(case):
    rng = np.random.default_rng(case)
    shape = (2, 5, 4, 3) if case == 7 else (2, 7, 9)
    d_sigma = len(shape) - 1 if case % 3 == 1 else 1
    off, sigma, seed = random_case(rng, shape, d_sigma)
    opts = [{}, {"min_size": 3}, {"threshold": 0.8, "foreground": 0.2},
            {"mask": rng.uniform(size=(shape[0],) + shape[1:]) > 0.3, "threshold": 0.1}][case % 4]
    ref = brute_force(off, sigma, seed, **opts)
    got = cluster_spatial_embeddings(off, sigma, seed, **opts)
    assert got.dtype == np.int64 and np.array_equal(got, ref)
    topts = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    t = cluster_spatial_embeddings(*(torch.from_numpy(a) for a in (off, sigma, seed)), **topts)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.int64 and np.array_equal(t.numpy(), ref)
    t32 = cluster_spatial_embeddings(*(torch.from_numpy(a).float() for a in (off, sigma, seed)), **topts)
    assert t32.shape == ref.shape
    # images are clustered independently: the batch gives what each image gives alone
    one = {k: v[1:] if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    assert np.array_equal(cluster_spatial_embeddings(off[1:], sigma[1:], seed[1:], **one), ref[1:])
    assert ref.max() > 0


def test_spatial_empty_images_and_options():
    off, sigma, seed = random_case(np.random.default_rng(0))
    zeros = np.zeros_like(seed)
    assert not cluster_spatial_embeddings(off, sigma, zeros).any()                 # no seed: nothing
    assert not cluster_spatial_embeddings(off, sigma, seed, mask=np.zeros((2, 7, 9), bool)).any()
    assert not cluster_spatial_embeddings(off, sigma, seed, threshold=1.0).any()   # strictly above
    big = cluster_spatial_embeddings(off, sigma, seed, min_size=10 ** 6)
    assert not big.any()
    # one image empty, the other not: the empty one stays 0
    s2 = seed.copy()
    s2[0] = 0
    lab = cluster_spatial_embeddings(off, sigma, s2)
    assert not lab[0].any() and np.array_equal(lab[1], cluster_spatial_embeddings(off, sigma, seed)[1])


def test_spatial_pixel_size_default_is_the_losses():
    # spatial_embedding's centres use coordinates / the longest side; offsets 0 and a huge sigma: one cluster
    off = np.zeros((1, 2, 4, 6))
    lab = cluster_spatial_embeddings(off, np.full((1, 1, 4, 6), 10.0), np.full((1, 1, 4, 6), 0.9))
    assert lab.tolist() == np.ones((1, 4, 6), int).tolist()
    # h = 1/6 and sigma = 0.1: the ball radius 0.1 sqrt(2 ln 2) = 0.118 is below one step, so every pixel
    # is its own cluster
    small = cluster_spatial_embeddings(off, np.full((1, 1, 4, 6), 0.1), np.full((1, 1, 4, 6), 0.9))
    assert small.max() == 24 and np.array_equal(small, brute_force(off, np.full((1, 1, 4, 6), 0.1),
                                                                   np.full((1, 1, 4, 6), 0.9)))


def test_spatial_bad_input():
    off, sigma, seed = random_case(np.random.default_rng(0))
    with pytest.raises(ValueError, match="offsets"):
        cluster_spatial_embeddings(off[:, :1], sigma, seed)
    with pytest.raises(ValueError, match="offsets"):
        cluster_spatial_embeddings(off * np.nan, sigma, seed)
    with pytest.raises(ValueError, match="sigma"):
        cluster_spatial_embeddings(off, sigma[:, :, :3], seed)
    with pytest.raises(ValueError, match="sigma"):
        cluster_spatial_embeddings(off, -sigma, seed)
    with pytest.raises(ValueError, match="sigma"):
        cluster_spatial_embeddings(off, sigma * np.inf, seed)
    with pytest.raises(ValueError, match="seed"):
        cluster_spatial_embeddings(off, sigma, seed + 1.0)
    with pytest.raises(ValueError, match="seed"):
        cluster_spatial_embeddings(off, sigma, seed[:, 0])
    with pytest.raises(ValueError, match="mask"):
        cluster_spatial_embeddings(off, sigma, seed, mask=np.ones((2, 7, 8), bool))
    with pytest.raises(TypeError, match="mask"):
        cluster_spatial_embeddings(off, sigma, seed, mask=np.ones((2, 7, 9)))
    with pytest.raises(TypeError, match="sigma"):
        cluster_spatial_embeddings(off, torch.from_numpy(sigma), seed)
    for name, value in (("threshold", 1.5), ("foreground", -0.1), ("min_size", 0), ("pixel_size", 0.0),
                        ("pixel_size", float("inf"))):
        with pytest.raises(ValueError, match=name):
            cluster_spatial_embeddings(off, sigma, seed, **{name: value})


def test_spatial_one_host_read_per_round(monkeypatch):
    """Two clusters: two rounds and the round that finds no seed, each one read (value checks off)."""
    o = torch.tensor([[[0.0, -1.0, 1.0, 0.0, -1.0]]])
    s, q = torch.ones(1, 1, 5), torch.tensor([[[0.9, 0.6, 0.7, 0.95, 0.8]]])
    reads = []
    original = torch.Tensor.__bool__
    monkeypatch.setattr(torch.Tensor, "__bool__", lambda t: reads.append(1) or original(t))
    with segmath.value_checks(False):
        lab = cluster_spatial_embeddings(o, s, q, pixel_size=1.0)
    assert lab.tolist() == [[2, 2, 1, 1, 1]] and len(reads) == 3
    reads.clear()
    cluster_spatial_embeddings(o, s, q, pixel_size=1.0)
    assert len(reads) == 4                       # + the data checks, read back together once
