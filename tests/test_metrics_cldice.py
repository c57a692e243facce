"""cldice_score against the formula on scikit-image skeletons, brute force per image and class; NumPy vs torch."""
import math

import numpy as np
import pytest
import torch
from skimage.morphology import skeletonize

import segmath


def _brute(p, y, classes):
    """Per image and class, Shit et al.'s formula with Python counting on scikit-image skeletons."""
    table = np.full((p.shape[0], len(classes)), np.nan)
    for n in range(p.shape[0]):
        for j, k in enumerate(classes):
            a, b = p[n] == k, y[n] == k
            if not a.any() and not b.any():
                continue
            sa = skeletonize(a) if a.any() else np.zeros_like(a)
            sb = skeletonize(b) if b.any() else np.zeros_like(b)
            prec = (sa & b).sum() / sa.sum() if sa.sum() else 0.0
            sens = (sb & a).sum() / sb.sum() if sb.sum() else 0.0
            table[n, j] = 0.0 if prec + sens == 0 else 2 * prec * sens / (prec + sens)
    return table


def _vessels(seed, shape):
    """Random thick lines: tubular masks whose skeletons are long."""
    rng = np.random.default_rng(seed)
    y = np.zeros(shape, np.int64)
    for k in (1, 2):
        for _ in range(2):
            axis = rng.integers(1, len(shape))
            at = [slice(None)] + [slice(int(i), int(i) + 3) for i in rng.integers(0, np.array(shape[1:]) - 3)]
            at[axis] = slice(None)
            y[tuple(at)] = k
    p = y.copy()
    p[rng.random(shape) < 0.08] = 0                                     # holes break some centre lines
    p[rng.random(shape) < 0.02] = 1
    return p, y


@pytest.mark.parametrize("shape", [(3, 20, 24), (2, 10, 12, 11)])
@pytest.mark.parametrize("include_background", [False, True])
def test_matches_the_formula_on_skimage_skeletons(shape, include_background):
    p, y = _vessels(0, shape)
    classes = [0, 1, 2] if include_background else [1, 2]
    ref = _brute(p, y, classes)
    x = np.moveaxis(np.eye(3)[p], -1, 1)                               # float64 scores: a float64 result
    ours = segmath.cldice_score(x, y, include_background=include_background, reduction="none")
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    assert float(segmath.cldice_score(x, y, include_background=include_background)) == \
        pytest.approx(np.nanmean(ref), rel=1e-12)
    t = segmath.cldice_score(torch.from_numpy(x), torch.from_numpy(y),
                             include_background=include_background, reduction="none")
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), ours, rtol=1e-10)


def test_limits_and_empty_masks():
    y = np.zeros((1, 9, 9), np.int64)
    y[0, 4, 1:8] = 1
    assert float(segmath.cldice_score(y, y, num_classes=2)) == 1.0
    nothing = np.zeros_like(y)
    assert float(segmath.cldice_score(nothing, y, num_classes=2)) == 0.0          # one empty: 0
    assert math.isnan(float(segmath.cldice_score(nothing, nothing, num_classes=2)))
    assert float(segmath.cldice_score(nothing, nothing, num_classes=2, both_empty=1.0)) == 1.0
    # a one-pixel-wide line is its own skeleton: a gap of 2 pixels leaves T_prec = 1, T_sens = 5/7
    p = y.copy()
    p[0, 4, 3:5] = 0
    assert float(segmath.cldice_score(p, y, num_classes=2)) == pytest.approx(2 * (5 / 7) / (1 + 5 / 7), rel=1e-12)


def test_a_broken_vessel_costs_more_than_dice_sees():
    y = np.zeros((1, 9, 40), np.int64)
    y[0, 3:6, 1:39] = 1
    p = y.copy()
    p[0, :, 19:21] = 0                                                  # a 2-pixel break
    dice = float(segmath.dice_score(p, y, num_classes=2, average="binary"))
    assert float(segmath.cldice_score(p, y, num_classes=2)) < dice


def test_bad_input():
    y = np.zeros((1, 5, 5), np.int64)
    with pytest.raises(ValueError, match="both_empty"):
        segmath.cldice_score(y, y, num_classes=2, both_empty="one")
    with pytest.raises(ValueError, match="reduction"):
        segmath.cldice_score(y, y, num_classes=2, reduction="max")
