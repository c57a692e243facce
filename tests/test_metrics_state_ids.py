"""ConfusionState with sample ids: a repeated sample (DistributedSampler padding) is counted once."""
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler

import segmath
from conftest import to_torch
from segmath.metrics import ConfusionState
from oracles.distributed import run_ranks

OPTIONS = {"iou": {"average": "none"}, "mean_iou": {}, "recall": {"average": "micro"}, "mcc": {},
           "youden_index": {}, "cohen_kappa": {}}


def _case(seed=46, n=5):
    """Labels with an ignore value and a rarely predicted class, without scikit-learn (DDP workers)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4, 6, 7))
    y = rng.integers(0, 4, size=(n, 6, 7))
    y[rng.random(y.shape) < 0.15] = 255
    x[:, 3] -= 1.0 * (np.arange(n) % 2)[:, None, None]
    return x, y


def _assert_equals_one_shot(state, x, y, order=None):
    """Every option of OPTIONS against the one-shot function on (x, y); rows of aggregate='none' in ``order``."""
    order = np.arange(x.shape[0]) if order is None else np.asarray(order)
    for name, options in OPTIONS.items():
        fn = getattr(segmath, name)
        for aggregate in ("image", "dataset", "none"):
            ref = np.asarray(fn(x, y, ignore_index=255, aggregate=aggregate, **options))
            if aggregate == "none":
                ref = ref[order]
            got = np.asarray(state.compute(name, aggregate=aggregate, **options))
            np.testing.assert_allclose(got, ref, rtol=1e-12, err_msg=f"{name} {aggregate}")
    np.testing.assert_array_equal(np.asarray(state.compute("confusion_matrix")),
                                  segmath.confusion_matrix(x, y, ignore_index=255))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_a_repeated_batch_with_the_same_ids_counts_once(backend):
    x, y = _case()
    xs, ys = (x, y) if backend == "numpy" else to_torch((x, y))
    ids = [10, 11, 12, 13, 14] if backend == "numpy" else torch.arange(10, 15)
    state = ConfusionState(4, ignore_index=255).update(xs, ys, ids=ids).update(xs, ys, ids=ids)
    _assert_equals_one_shot(state, x, y)
    assert int(np.asarray(state.matrix).sum()) == int((y != 255).sum())
    twice = ConfusionState(4, ignore_index=255).update(xs, ys).update(xs, ys)   # without ids: counted twice
    assert int(np.asarray(twice.matrix).sum()) == 2 * int((y != 255).sum())


def test_repeats_inside_one_batch_keep_the_first():
    x, y = _case()
    padded = (np.concatenate([x, x[:2]]), np.concatenate([y, y[:2]]))
    state = ConfusionState(4, ignore_index=255).update(*padded, ids=[0, 1, 2, 3, 4, 0, 1])
    _assert_equals_one_shot(state, x, y)
    assert state.ids == [0, 1, 2, 3, 4]


def test_per_image_matrices_are_known_with_ids():
    x, y = _case()
    state = ConfusionState(4, ignore_index=255).update(x[:3], y[:3], ids=[0, 1, 2]).update(x[3:], y[3:], ids=[3, 4])
    np.testing.assert_array_equal(state.compute("confusion_matrix", aggregate="none"),
                                  segmath.confusion_matrix(x, y, ignore_index=255, aggregate="none"))
    np.testing.assert_allclose(state.compute("expected_cost", normalize=True),
                               segmath.expected_cost(x, y, ignore_index=255, normalize=True), rtol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_merge_counts_shared_ids_once(backend):
    x, y = _case()
    xs, ys = (x, y) if backend == "numpy" else to_torch((x, y))
    a = ConfusionState(4, ignore_index=255).update(xs[:3], ys[:3], ids=[0, 1, 2])
    b = ConfusionState(4, ignore_index=255).update(xs[2:], ys[2:], ids=[2, 3, 4])
    b_before = np.asarray(b.matrix).copy()
    a.merge(b)
    _assert_equals_one_shot(a, x, y)
    np.testing.assert_array_equal(np.asarray(b.matrix), b_before)
    a.merge(pickle.loads(pickle.dumps(b)))                   # everything already seen: a no-op
    _assert_equals_one_shot(a, x, y)


def test_id_errors():
    x, y = _case()
    state = ConfusionState(4, ignore_index=255).update(x[:2], y[:2], ids=[0, 1])
    with pytest.raises(ValueError, match="ids must be given in every update"):
        state.update(x[:2], y[:2])
    with pytest.raises(ValueError, match="ids must be given in every update"):
        ConfusionState(4, ignore_index=255).update(x[:2], y[:2]).update(x[:2], y[:2], ids=[0, 1])
    with pytest.raises(ValueError, match="ids must be 2 integers"):
        state.update(x[:2], y[:2], ids=[0, 1, 2])
    with pytest.raises(ValueError, match="ids must be 2 integers"):
        state.update(x[:2], y[:2], ids=[0.0, 1.0])
    with pytest.raises(ValueError, match="if and only if"):
        state.merge(ConfusionState(4, ignore_index=255).update(x[:2], y[:2]))
    with pytest.raises(TypeError, match="either NumPy or torch"):
        state.update(*to_torch((x[2:], y[2:])), ids=[2, 3, 4])
    assert state.ids == [0, 1]                               # a refused update changes nothing


def _ddp_worker(rank, world, out_dir):
    x, y = _case()
    # 5 samples over 2 ranks: the sampler pads rank 1 with sample 0 (3 each)
    mine = list(DistributedSampler(range(5), num_replicas=world, rank=rank, shuffle=False))
    out = {"mine": np.array(mine)}
    for backend in ("numpy", "torch"):
        xs, ys = x[mine], y[mine]
        if backend == "torch":
            xs, ys = to_torch((xs, ys))
        state = ConfusionState(4, ignore_index=255)
        for lo in range(0, len(mine), 2):                 # batches of 2, then 1
            state.update(xs[lo:lo + 2], ys[lo:lo + 2], ids=mine[lo:lo + 2])
        synced = state.sync()
        out[f"{backend}_ids"] = np.array(synced.ids)
        out[f"{backend}_matrix"] = np.asarray(synced.matrix)
        for name, options in OPTIONS.items():
            for aggregate in ("image", "dataset", "none"):
                out[f"{backend}_{name}_{aggregate}"] = np.asarray(
                    synced.compute(name, aggregate=aggregate, **options))
        plain = ConfusionState(4, ignore_index=255).update(xs, ys).sync()
        out[f"{backend}_plain_total"] = np.asarray(plain.matrix).sum()
    np.savez(f"{out_dir}/rank{rank}.npz", **out)


def test_two_process_sync_counts_the_padding_once(tmp_path):
    run_ranks(_ddp_worker, 2, tmp_path)
    x, y = _case()
    counted = int((y != 255).sum())
    for rank in range(2):
        got = np.load(tmp_path / f"rank{rank}.npz")
        assert sorted(np.concatenate([np.load(tmp_path / f"rank{r}.npz")["mine"] for r in range(2)])) \
            == [0, 0, 1, 2, 3, 4]                             # the padding really repeats a sample
        for backend in ("numpy", "torch"):
            order = got[f"{backend}_ids"]
            assert sorted(order.tolist()) == [0, 1, 2, 3, 4]
            np.testing.assert_array_equal(got[f"{backend}_matrix"], segmath.confusion_matrix(x, y, ignore_index=255))
            assert got[f"{backend}_plain_total"] > counted  # without ids the padding is counted twice
            for name, options in OPTIONS.items():
                fn = getattr(segmath, name)
                for aggregate in ("image", "dataset", "none"):
                    ref = np.asarray(fn(x, y, ignore_index=255, aggregate=aggregate, **options))
                    if aggregate == "none":
                        ref = ref[order]
                    np.testing.assert_allclose(got[f"{backend}_{name}_{aggregate}"], ref, rtol=1e-12,
                                               err_msg=f"rank {rank} {backend} {name} {aggregate}")
