"""match_instances, instance_dice, detection_f1 against brute force (all one-to-one assignments) and SciPy."""
import itertools

import numpy as np
import pytest
import torch

from segmath.instances import detection_f1, instance_dice, match_instances


def random_partition(rng, shape=(8, 9), k=5):
    """Random instance maps by nearest of k random seeds (a partition), with some background."""
    ys, xs = np.mgrid[:shape[0], :shape[1]]
    seeds = rng.uniform(0, shape[0], (k, 2))
    d = (ys[..., None] - seeds[:, 0]) ** 2 + (xs[..., None] - seeds[:, 1]) ** 2
    lab = d.argmin(-1) + 1
    lab[rng.random(shape) < 0.15] = 0
    return lab


def brute_scores(p, t, localization):
    pi, ti = [i for i in np.unique(p) if i != 0], [i for i in np.unique(t) if i != 0]
    s = np.zeros((len(pi), len(ti)))
    for a, i in enumerate(pi):
        for b, j in enumerate(ti):
            inter = np.sum((p == i) & (t == j))
            s[a, b] = inter / (np.sum((p == i) | (t == j)) if localization == "iou" else np.sum(t == j))
    return s


def best_total(s, thr):
    """The largest total score of a one-to-one set of pairs above thr, by enumeration."""
    k, l = s.shape
    best = 0.0
    for r in range(min(k, l) + 1):
        for rows in itertools.permutations(range(k), r):
            for cols in itertools.combinations(range(l), r):
                for perm in itertools.permutations(cols):
                    if all(s[a, b] > thr for a, b in zip(rows, perm)):
                        best = max(best, sum(s[a, b] for a, b in zip(rows, perm)))
    return best


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("localization", ["iou", "ior"])
def test_scores_and_hungarian_optimum(seed, localization):
    rng = np.random.default_rng(seed)
    p, t = random_partition(rng, k=4), random_partition(rng, k=4)
    m = match_instances(p, t, localization=localization, assignment="hungarian", threshold=0.3)
    np.testing.assert_allclose(m.scores, brute_scores(p, t, localization), rtol=1e-12)
    assert m.matched_scores.sum() == pytest.approx(best_total(m.scores, 0.3), abs=1e-12)
    assert len(set(m.pairs[:, 0])) == len(m.pairs) == len(set(m.pairs[:, 1]))


@pytest.mark.parametrize("seed", range(20))
def test_greedy_equals_hungarian_above_half(seed):
    rng = np.random.default_rng(seed)
    t = random_partition(rng)
    p = t.copy()
    noise = rng.random(t.shape) < 0.25
    p[noise] = rng.integers(0, 7, noise.sum())
    g = match_instances(p, t, assignment="greedy")
    h = match_instances(p, t, assignment="hungarian")
    np.testing.assert_array_equal(g.pairs, h.pairs)
    assert g.tp > 0


def test_exactly_half_is_not_a_match_and_greedy_can_differ_below():
    t = np.array([[1, 1, 2, 2]])
    p = np.array([[5, 5, 5, 5]])                 # IoU 1/2 with each half
    assert match_instances(p, t).tp == 0
    m = match_instances(p, t, threshold=0.49)
    assert m.tp == 1 and m.fn == 1
    # IoR: one prediction covers two references; Hungarian takes the pair of largest total
    s = np.array([[0.9, 0.8], [0.85, 0.0]])
    from segmath.instances import assign
    assert assign(s, 0.5, "greedy").tolist() == [[0, 0]]
    assert assign(s, 0.5, "hungarian").tolist() == [[0, 1], [1, 0]]


def test_instance_dice_and_f1_by_hand():
    t = np.array([[1, 1, 1, 1, 2, 2, 0, 0]])
    p = np.array([[3, 3, 3, 0, 0, 0, 4, 4]])
    np.testing.assert_allclose(instance_dice(p, t), [2 * 3 / 7, 0.0])
    assert detection_f1(p, t) == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))
    assert detection_f1(np.zeros((2, 2), int), np.zeros((2, 2), int)) == 1.0
    assert np.isnan(detection_f1(np.zeros((2, 2), int), np.zeros((2, 2), int), empty=float("nan")))


def test_background_none_and_torch():
    t = np.array([[0, 0, 1, 1]])
    assert match_instances(t, t, background=None).tp == 2
    m = match_instances(torch.from_numpy(t), torch.from_numpy(t))
    assert m.tp == 1


@pytest.mark.parametrize("kw,match", [({"localization": "dice"}, "localization"),
                                      ({"assignment": "lp"}, "assignment"),
                                      ({"threshold": 1.0}, "threshold"), ({"background": "0"}, "background")])
def test_bad_options(kw, match):
    t = np.array([[0, 1]])
    with pytest.raises((ValueError, TypeError), match=match):
        match_instances(t, t, **kw)


def test_bad_maps():
    with pytest.raises(TypeError, match="pred"):
        match_instances(np.zeros((2, 2)), np.zeros((2, 2), int))
    with pytest.raises(ValueError, match="target"):
        match_instances(np.zeros((2, 2), int), np.zeros((2, 3), int))


def test_centre_distance_brute_force():
    rng = np.random.default_rng(11)
    for _ in range(10):
        p, t = random_partition(rng, k=4), random_partition(rng, k=4)
        pi, ti = [i for i in np.unique(p) if i], [i for i in np.unique(t) if i]
        com = lambda lab, i: np.argwhere(lab == i).mean(0)  # noqa: E731
        d = np.array([[np.linalg.norm(com(p, i) - com(t, j)) for j in ti] for i in pi])
        for assignment in ("greedy", "hungarian"):
            m = match_instances(p, t, localization="centre_distance", threshold=3.0, assignment=assignment)
            np.testing.assert_allclose(m.scores, d, rtol=1e-12)
            assert np.all(m.matched_scores < 3.0)
        h = match_instances(p, t, localization="centre_distance", threshold=3.0, assignment="hungarian")
        assert (3.0 - h.matched_scores).sum() == pytest.approx(best_total(3.0 - d, 0.0), abs=1e-9)
