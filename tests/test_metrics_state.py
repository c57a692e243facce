"""Streaming confusion state: batches, merge and distributed sync equal the one-shot functions."""
import numpy as np
import pytest
import torch.distributed as dist

import segmath
from segmath import primitives as P
from conftest import to_torch
from segmath.metrics import ConfusionState
from segmath.metrics.confusion import counts_metrics
from oracles.distributed import run_ranks


def make_case(*args, **kwargs):
    # imported lazily: the spawned DDP workers import this module and need not load scikit-learn
    from oracles import make_case
    return make_case(*args, **kwargs)


def _ddp_case():
    """Five images for the two-process test, without scikit-learn in the workers."""
    rng = np.random.default_rng(46)
    x = rng.standard_normal((5, 4, 6, 7))
    y = rng.integers(0, 4, size=(5, 6, 7))
    y[rng.random(y.shape) < 0.15] = 255
    x[:, 3] -= 1.0 * (np.arange(5) % 2)[:, None, None]       # some images rarely predict class 3
    return x, y

OPTIONS = {  # metric -> extra options to exercise
    "iou": {"average": "macro"}, "dice_score": {"average": "none"}, "fbeta_score": {"beta": 0.5},
    "precision": {"average": "weighted", "empty": "one"}, "recall": {"average": "micro"},
    "specificity": {}, "pixel_accuracy": {}, "mean_accuracy": {"empty": "zero"}, "balanced_accuracy":
    {"adjusted": True}, "mean_iou": {}, "fw_iou": {}, "mcc": {}, "cohen_kappa": {}, "volume_difference":
    {"average": "none", "signed": True}, "youden_index": {"average": "micro"},
    "likelihood_ratio_positive": {"average": "none"}, "net_benefit": {"threshold_probability": 0.1},
}


def _batches(x, y, cuts=(0, 1, 4, 6)):
    return [(x[a:b], y[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]


def test_every_counts_metric_is_covered():
    assert set(OPTIONS) | {"confusion_matrix", "expected_cost"} == set(counts_metrics())


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_expected_cost_streams_for_the_dataset_only(backend):
    """The per-image state keeps tp/fp/fn, not the matrices: EC of the dataset streams, per image it says so."""
    x, y = make_case(41, n=6, ignore_index=255)
    if backend == "torch":
        x, y = to_torch((x, y))
    state = ConfusionState(4, ignore_index=255)
    for xb, yb in _batches(x, y):
        state.update(xb, yb)
    costs = np.arange(16.0).reshape(4, 4) % 5
    for normalize in (False, True):
        one_shot = segmath.expected_cost(x, y, ignore_index=255, aggregate="dataset", costs=costs, normalize=normalize)
        np.testing.assert_allclose(float(state.compute("expected_cost", aggregate="dataset", costs=costs,
                                                       normalize=normalize)), float(one_shot), rtol=1e-12)
    with pytest.raises(ValueError, match="full per-image confusion matrices"):
        state.compute("expected_cost", aggregate="image")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("aggregate", ["image", "dataset", "none"])
def test_streaming_equals_one_shot(backend, aggregate):
    x, y = make_case(40, n=6, ignore_index=255)
    if backend == "torch":
        x, y = to_torch((x, y))
    state = ConfusionState(4, ignore_index=255)
    for xb, yb in _batches(x, y):
        state.update(xb, yb)
    for name, options in OPTIONS.items():
        fn = getattr(segmath, name)
        one_shot = fn(x, y, ignore_index=255, aggregate=aggregate, **options)
        np.testing.assert_allclose(np.asarray(state.compute(name, aggregate=aggregate, **options)),
                                   np.asarray(one_shot), rtol=1e-12, err_msg=name)
    np.testing.assert_array_equal(np.asarray(state.compute("confusion_matrix")),
                                  np.asarray(segmath.confusion_matrix(x, y, ignore_index=255)))
    weighted = segmath.cohen_kappa(x, y, ignore_index=255, weighting="quadratic", aggregate="dataset")
    np.testing.assert_allclose(np.asarray(state.compute("cohen_kappa", weighting="quadratic", aggregate="dataset")),
                               np.asarray(weighted), rtol=1e-12)


def test_default_aggregate_follows_the_function():
    x, y = make_case(41, n=4)
    state = ConfusionState(4).update(x, y)
    np.testing.assert_allclose(state.compute("mean_iou"), segmath.mean_iou(x, y), rtol=1e-12)
    np.testing.assert_array_equal(state.compute("confusion_matrix"), segmath.confusion_matrix(x, y))


def test_merge_equals_single_state():
    x, y = make_case(42, n=6)
    a, b = ConfusionState(4), ConfusionState(4)
    a.update(x[:2], y[:2])
    b.update(x[2:], y[2:])
    whole = ConfusionState(4).update(x, y)
    a.merge(b)
    for aggregate in ("image", "dataset"):
        np.testing.assert_allclose(a.compute("mean_iou", aggregate=aggregate),
                                   whole.compute("mean_iou", aggregate=aggregate), rtol=1e-12)
    merged_empty = ConfusionState(4).merge(whole)
    np.testing.assert_array_equal(merged_empty.matrix, whole.matrix)


def test_binary_one_channel_state_and_reset():
    rng = np.random.default_rng(43)
    x = rng.standard_normal((4, 1, 5, 5))
    y = (rng.random((4, 5, 5)) < 0.4).astype(np.int64)
    state = ConfusionState(2, threshold=0.7)
    state.update(x[:3], y[:3]).update(x[3:], y[3:])
    np.testing.assert_allclose(state.compute("dice_score", average="binary"),
                               segmath.dice_score(x, y, threshold=0.7, average="binary"), rtol=1e-12)
    state.reset()
    with pytest.raises(ValueError, match="empty"):
        state.compute("iou")


def test_state_errors():
    x, y = make_case(44, n=2)
    state = ConfusionState(4, per_image=False).update(x, y)
    with pytest.raises(ValueError, match="per_image"):
        state.compute("iou")                                  # image aggregation needs per-image counts
    np.testing.assert_allclose(state.compute("iou", aggregate="dataset"), segmath.iou(x, y, aggregate="dataset"))
    with pytest.raises(ValueError, match="metric"):
        state.compute("hausdorff")
    with pytest.raises(ValueError, match="weighted kappa"):
        ConfusionState(4).update(x, y).compute("cohen_kappa", weighting="linear")
    with pytest.raises(ValueError, match="num_classes"):
        ConfusionState(3).update(x, y)
    with pytest.raises(ValueError, match="num_classes"):
        ConfusionState(4).merge(ConfusionState(3))
    with pytest.raises(TypeError, match="NumPy or torch"):
        ConfusionState(4).update(x, y).update(*to_torch((x, y)))
    with pytest.raises(ValueError, match="num_classes"):
        ConfusionState(1)


def test_sync_is_a_no_op_without_a_process_group():
    x, y = make_case(45, n=2)
    state = ConfusionState(4).update(x, y)
    assert not dist.is_initialized()
    assert state.sync() is state


def _ddp_worker(rank, world, out_dir):
    x, y = _ddp_case()
    mine = slice(0, 2) if rank == 0 else slice(2, 5)        # uneven shares: 2 and 3 images
    results = []
    for backend in ("numpy", "torch"):
        xs, ys = x[mine], y[mine]
        if backend == "torch":
            xs, ys = to_torch((xs, ys))
        state = ConfusionState(4, ignore_index=255).update(xs, ys)
        synced = state.sync()
        assert synced is not state
        assert int(np.asarray(state.matrix).sum()) == int((ys != 255).sum())   # the local state is untouched
        assert P.is_torch(synced.matrix) == (backend == "torch")
        results += [float(synced.compute("mean_iou", aggregate=a)) for a in ("image", "dataset")]
        results.append(float(synced.compute("mcc", aggregate="image")))
    np.save(f"{out_dir}/rank{rank}.npy", np.array(results))


def test_sync_over_two_processes_equals_one_shot(tmp_path):
    # fork: the workers inherit the imported modules (spawn would re-import torch in each)
    run_ranks(_ddp_worker, 2, tmp_path)
    x, y = _ddp_case()
    ref = [segmath.mean_iou(x, y, ignore_index=255), segmath.mean_iou(x, y, ignore_index=255, aggregate="dataset"),
           segmath.mcc(x, y, ignore_index=255)] * 2
    for rank in range(2):
        np.testing.assert_allclose(np.load(tmp_path / f"rank{rank}.npy"), ref, rtol=1e-12)
