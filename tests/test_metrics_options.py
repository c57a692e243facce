"""Options mean what users expect (issue 9 section 3), against scikit-learn, MONAI and brute force."""
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, fbeta_score, jaccard_score, precision_score, recall_score

import segmath
from conftest import to_torch
from segmath.metrics import ConfusionState
from segmath.validation import value_checks


def case(seed, n=3, c=4, spatial=(6, 7)):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c) + spatial), rng.integers(0, c, size=(n,) + spatial)


def flat_labels(x, y):
    return y.ravel(), x.argmax(1).ravel()


# -- average=None is scikit-learn's per-class score -------------------------------------

SKLEARN = {"precision": precision_score, "recall": recall_score, "dice_score": f1_score, "iou": jaccard_score}


@pytest.mark.parametrize("name", sorted(SKLEARN))
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_average_none_is_per_class_like_sklearn(name, backend):
    x, y = case(0)
    t, p = flat_labels(x, y)
    expected = SKLEARN[name](t, p, average=None, labels=range(4), zero_division=0)
    args = (x, y) if backend == "numpy" else to_torch((x, y))
    got = getattr(segmath, name)(*args, average=None, aggregate="dataset")
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12)


def test_average_none_for_specificity_and_volume_difference_is_per_class():
    x, y = case(1)
    t, p = flat_labels(x, y)
    for c in range(4):   # brute force: specificity of class c is the recall of "not c"
        spec = recall_score(t != c, p != c)
        assert np.isclose(segmath.specificity(x, y, average=None, aggregate="dataset")[c], spec, rtol=1e-12)
        rvd = abs(int((p == c).sum()) - int((t == c).sum())) / int((t == c).sum())
        assert np.isclose(segmath.volume_difference(x, y, average=None, aggregate="dataset")[c], rvd, rtol=1e-12)


def test_average_none_through_the_state_is_per_class():
    x, y = case(2)
    state = ConfusionState(4).update(x, y)
    t, p = flat_labels(x, y)
    np.testing.assert_allclose(state.compute("fbeta_score", beta=2.0, average=None, aggregate="dataset"),
                               fbeta_score(t, p, beta=2.0, average=None),
                               rtol=1e-12)


@pytest.mark.parametrize("option", ["aggregate", "empty"])
@pytest.mark.parametrize("value", [None, "mean"])
def test_aggregate_and_empty_are_always_validated(option, value):
    x, y = case(3)
    for fn in (segmath.iou, segmath.mean_iou, segmath.mcc, segmath.balanced_accuracy):
        with pytest.raises(ValueError, match=option):
            fn(x, y, **{option: value})
    with pytest.raises(ValueError, match=option):
        ConfusionState(4).update(x, y).compute("dice_score", **{option: value})
    if option == "aggregate":
        with pytest.raises(ValueError, match="aggregate"):
            segmath.brier_score(x, y, aggregate=value)


# -- volume difference: spacing is checked, and the state knows the rank ----------------

@pytest.mark.parametrize("relative", [True, False])
@pytest.mark.parametrize("spacing", [-1.0, 0.0, (1.0, 2.0, 3.0), "1.5"])
def test_volume_difference_checks_spacing(relative, spacing):
    x, y = case(4)
    state = ConfusionState(4).update(x, y)
    for call in (lambda: segmath.volume_difference(x, y, spacing=spacing, relative=relative, average="macro"),
                 lambda: state.compute("volume_difference", spacing=spacing, relative=relative, average="macro")):
        with pytest.raises((ValueError, TypeError), match="spacing"):
            call()


def test_volume_difference_spacing_scales_absolute_and_cancels_in_relative():
    x, y = case(5)
    t, p = flat_labels(x[:1], y[:1])
    brute = abs(int((p == 1).sum()) - int((t == 1).sum())) * 0.5 * 3.0
    got = segmath.volume_difference(x[:1], y[:1], relative=False, spacing=(0.5, 3.0), average="none")
    assert np.isclose(got[1], brute)
    state = ConfusionState(4).update(x[:1], y[:1])
    assert np.isclose(state.compute("volume_difference", relative=False, spacing=(0.5, 3.0), average="none")[1], brute)
    rel = segmath.volume_difference(x, y, average="macro")
    np.testing.assert_allclose(segmath.volume_difference(x, y, average="macro", spacing=(0.5, 3.0)), rel)


# -- the streaming state ---------------------------------------------------------------

def test_state_names_the_public_metric_for_a_mistyped_keyword():
    x, y = case(6)
    state = ConfusionState(4).update(x, y)
    with pytest.raises(TypeError, match=r"mean_iou\(\) got an unexpected keyword argument 'averag'"):
        state.compute("mean_iou", averag="macro")
    with pytest.raises(TypeError, match="fixed when the state is created"):
        state.compute("iou", ignore_index=3)
    with pytest.raises(TypeError, match=r"iou\(\) got an unexpected keyword argument 'averag'"):
        segmath.iou(x, y, averag="macro")


@pytest.mark.parametrize("options, name", [({"ignore_index": "x"}, "ignore_index"), ({"threshold": 2.0}, "threshold"),
                                           ({"from_logits": "yes"}, "from_logits"), ({"per_image": 1}, "per_image")])
def test_state_checks_its_options_at_construction(options, name):
    with pytest.raises((TypeError, ValueError), match=name):
        ConfusionState(4, **options)


def test_state_refuses_to_merge_itself_and_mixed_ranks():
    x, y = case(7)
    state = ConfusionState(4).update(x, y)
    with pytest.raises(ValueError, match="itself"):
        state.merge(state)
    with pytest.raises(ValueError, match="spatial dimensions"):
        state.update(x[..., None], y[..., None])
    before = np.asarray(state.compute("confusion_matrix"))
    np.testing.assert_array_equal(before, segmath.confusion_matrix(x, y))


def test_state_lets_nan_through_with_checks_off():
    x, y = case(8)
    x[0, 1, 2, 3] = np.nan
    with value_checks(False):
        state = ConfusionState(4).update(x, y)
        assert np.isnan(state.compute("mean_iou"))
        assert np.isnan(segmath.mean_iou(x, y))
    with pytest.raises(ValueError, match="input"):
        ConfusionState(4).update(x, y)


# -- surface metrics -------------------------------------------------------------------

def labels(spatial, seed=0):
    rng = np.random.default_rng(seed)
    y = np.zeros((1,) + spatial, dtype=np.int64)
    y[(0,) + tuple(slice(1, n - 1) for n in spatial)] = 1
    p = y.copy()
    p.reshape(-1)[rng.integers(0, p.size, size=3)] ^= 1
    return p, y


@pytest.mark.parametrize("spatial", [(12,), (4, 4, 4, 4)])
def test_surfels_are_refused_outside_2d_and_3d(spatial):
    p, y = labels(spatial)
    with pytest.raises(ValueError, match="definition='surface_weighted'"):
        segmath.hd95(p, y, num_classes=2, definition="surface_weighted")
    with pytest.raises(ValueError, match="surface='subvoxel'"):
        segmath.nsd(p, y, num_classes=2, surface="subvoxel")
    # the voxel definitions do support these ranks: a mask against itself is at distance 0
    assert float(segmath.hd95(y, y, num_classes=2)) == 0.0
    assert float(segmath.nsd(y, y, num_classes=2)) == 1.0


@pytest.mark.parametrize("connectivity", [-1, 0, 3, 7, 1.5, None])
def test_surface_metrics_check_connectivity_like_boundary(connectivity):
    p, y = labels((8, 9))
    with pytest.raises((ValueError, TypeError), match="connectivity"):
        segmath.boundary(y, connectivity)
    for fn in (segmath.hausdorff, segmath.hd95, segmath.assd, segmath.nsd, segmath.boundary_f1):
        with pytest.raises((ValueError, TypeError), match="connectivity"):
            fn(p, y, num_classes=2, connectivity=connectivity)


def test_valid_connectivity_still_matches_monai():
    from monai.metrics import compute_hausdorff_distance
    p, y = labels((10, 11), seed=3)
    onehot = [torch.nn.functional.one_hot(torch.as_tensor(a), 2).permute(0, 3, 1, 2).float() for a in (p, y)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monai = compute_hausdorff_distance(*onehot).item()
    assert np.isclose(float(segmath.hausdorff(p, y, num_classes=2, connectivity=1)), monai)


@pytest.mark.parametrize("width", [0, 0.5, 1.2])
def test_boundary_iou_width_below_the_spacing_is_refused(width):
    p, y = labels((9, 9))
    with pytest.raises(ValueError, match="width"):
        segmath.boundary_iou(y, y, num_classes=2, width=width, spacing=(1.3, 1.5))


def test_boundary_iou_of_identical_masks_is_one_at_the_smallest_width():
    _, y = labels((9, 9))
    assert float(segmath.boundary_iou(y, y, num_classes=2, width=1.3, spacing=(1.3, 1.5))) == 1.0
    assert float(segmath.boundary_iou(y, y, num_classes=2, width=1.0)) == 1.0


@pytest.mark.parametrize("spacing", ["1.5", b"1", [1.0, "a"], True, {"x": 1}])
def test_spacing_of_the_wrong_type_is_a_type_error_naming_it(spacing):
    p, y = labels((8, 9))
    for call in (lambda: segmath.hausdorff(p, y, num_classes=2, spacing=spacing),
                 lambda: segmath.edt(y.astype(float), spacing=spacing),
                 lambda: segmath.volume_difference(p, y, num_classes=2, spacing=spacing)):
        with pytest.raises(TypeError, match="spacing"):
            call()


def test_monai_returns_nan_for_percentile_hd_and_inf_for_hd_with_one_empty_mask():
    """What the ``empty`` docstring says of MONAI, checked against MONAI."""
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance
    _, y = labels((8, 8))
    onehot = [torch.nn.functional.one_hot(torch.as_tensor(a), 2).permute(0, 3, 1, 2).float()
              for a in (np.zeros_like(y), y)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isinf(compute_hausdorff_distance(*onehot).item())
        assert np.isnan(compute_hausdorff_distance(*onehot, percentile=95).item())
        assert np.isinf(compute_average_surface_distance(*onehot, symmetric=True).item())
    empty = np.zeros_like(y)
    assert np.isinf(float(segmath.hausdorff(empty, y, num_classes=2, empty="inf")))
    assert np.isnan(float(segmath.hd95(empty, y, num_classes=2, empty="nan")))


def test_assd_definitions_are_monai_pooled_and_medpy_mean_of_directed():
    """pooled = MONAI symmetric=True; mean_directed = the mean of the two directed means (MedPy's assd,
    rebuilt here from MONAI's directed distances)."""
    from monai.metrics import compute_average_surface_distance
    y = np.zeros((1, 20, 20), int)
    y[0, 3:15, 3:15] = 1
    p = np.zeros((1, 20, 20), int)
    p[0, 5:9, 6:18] = 1
    oh = [torch.nn.functional.one_hot(torch.as_tensor(a), 2).permute(0, 3, 1, 2).double() for a in (p, y)]
    sym = compute_average_surface_distance(*oh, symmetric=True).item()
    directed = [compute_average_surface_distance(a, b, symmetric=False).item() for a, b in (oh, oh[::-1])]
    assert np.isclose(float(segmath.assd(p, y, num_classes=2)), sym, rtol=1e-6)
    assert np.isclose(float(segmath.assd(p, y, num_classes=2, definition="mean_directed")), np.mean(directed),
                      rtol=1e-6)
    assert not np.isclose(sym, np.mean(directed), rtol=1e-2)   # the case tells the two apart


def test_confusion_matrix_with_nan_scores_and_checks_off():
    """The documented exception: integer counts cannot hold NaN; a normalised matrix is NaN."""
    x, y = case(9)
    x[0, 2, 1, 1] = np.nan
    with value_checks(False):
        counts = segmath.confusion_matrix(x, y)
        rates = segmath.confusion_matrix(x, y, normalize="true")
    assert counts.dtype.kind == "i" and counts.sum() == y.size
    assert np.isnan(rates).all()


def test_the_package_exports_every_public_metric_explicitly():
    from segmath.metrics import agreement, calibration, clinical, confusion, overlap, rates
    names = {n for m in (agreement, calibration, clinical, confusion, overlap, rates) for n in m.__all__}
    assert set(segmath.metrics.__all__) == names | {"ConfusionState"}
    assert set(segmath.metrics.confusion.counts_metrics()) == names - set(calibration.__all__)
