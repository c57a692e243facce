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
