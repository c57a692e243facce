"""mask_classification against a loop over images, queries and all one-to-one assignments (brute force)."""
import itertools

import numpy as np
import pytest
import torch

import segmath


def brute(masks, y, class_logits, labels, wc=2.0, wm=5.0, wd=5.0, eos=0.1):
    out = []
    for z, yi, cl, lab in zip(masks, y, class_logits, labels):
        q = z.shape[0]
        zf = z.reshape(q, -1)
        ks = [k for k in np.unique(yi) if k != 0]
        ms = [(yi.ravel() == k).astype(float) for k in ks]
        logp = cl - np.log(np.exp(cl).sum(1, keepdims=True))

        def bce(a, m):
            return np.mean(np.log1p(np.exp(a)) - a * m)

        def dice(a, m):
            p = 1 / (1 + np.exp(-a))
            return 1 - (2 * np.sum(p * m) + 1) / (p.sum() + m.sum() + 1)
        cost = np.array([[-wc * np.exp(logp[i, lab[k]]) + wm * bce(zf[i], m) + wd * dice(zf[i], m)
                          for k, m in zip(ks, ms)] for i in range(q)]).reshape(q, len(ks))
        best, best_pairs = np.inf, ()
        r = min(q, len(ks))
        for inst in itertools.combinations(range(len(ks)), r):          # which instances are matched
            for perm in itertools.permutations(range(q), r):            # and to which queries
                c = sum(cost[i, j] for i, j in zip(perm, inst))
                if c < best - 1e-12:
                    best, best_pairs = c, tuple(zip(perm, inst))
        cls = [logp.shape[1] - 1] * q
        for i, j in best_pairs:
            cls[i] = lab[ks[j]]
        w = np.array([eos if c == logp.shape[1] - 1 else 1.0 for c in cls])
        ce = -np.sum(w * logp[np.arange(q), cls]) / w.sum()
        pairs = [(wm * bce(zf[i], ms[j]) + wd * dice(zf[i], ms[j])) for i, j in best_pairs]
        out.append(wc * ce + (np.mean(pairs) if pairs else 0.0))
    return np.array(out)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("q", [2, 4])
def test_equals_brute_force(seed, q):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, (2, 5, 6))
    masks = rng.normal(0, 2, (2, q, 5, 6))
    cl = rng.normal(0, 1, (2, q, 4))
    labels = rng.integers(0, 3, (2, 4))
    got = segmath.mask_classification(masks, y, class_logits=cl, labels=labels, max_id=3, reduction="none")
    np.testing.assert_allclose(got, brute(masks, y, cl, labels), rtol=1e-10)
    t = segmath.mask_classification(torch.from_numpy(masks), torch.from_numpy(y), class_logits=torch.from_numpy(cl),
                                    labels=torch.from_numpy(labels), max_id=3, reduction="none")
    np.testing.assert_allclose(t.numpy(), got, rtol=1e-12)


def test_gradient_at_fixed_matching_and_bad_extras():
    rng = np.random.default_rng(0)
    y = torch.from_numpy(rng.integers(0, 3, (1, 4, 4)))
    cl = torch.tensor(rng.normal(size=(1, 3, 3)), requires_grad=True)
    x = torch.tensor(rng.normal(size=(1, 3, 4, 4)), requires_grad=True)
    lab = torch.tensor([[0, 1, 0]])
    assert torch.autograd.gradcheck(lambda a, b: segmath.mask_classification(a, y, class_logits=b, labels=lab),
                                    (x, cl))
    with pytest.raises(ValueError, match="class_logits"):
        segmath.mask_classification(x, y, class_logits=cl[:, :2], labels=lab)
    with pytest.raises(ValueError, match="labels"):
        segmath.mask_classification(x, y, class_logits=cl, labels=lab[:, :2])
    with pytest.raises(ValueError, match="labels"):
        segmath.mask_classification(x, y, class_logits=cl, labels=lab + 5)
