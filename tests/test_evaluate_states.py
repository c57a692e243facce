"""SurfaceState and CaseTable: streaming equals one shot, merge/sync over two gloo processes, padding once."""
import pickle

import numpy as np
import pytest
import torch
import torch.distributed as dist

import segmath
from segmath.evaluate import CaseResult, CaseTable, SurfaceState
from oracles.distributed import run_ranks

METRICS = ("hausdorff", "hd95", "assd", "nsd", "boundary_iou")


def batch(seed, n=4, shape=(14, 16), k=3):
    rng = np.random.default_rng(seed)
    y = np.zeros((n,) + shape, np.int64)
    y[:, 2:8, 3:10] = 1
    y[:, 7:12, 9:15] = 2
    p = np.roll(y, 1, axis=1)
    p[rng.random(p.shape) < 0.05] = rng.integers(0, k)
    y[n - 1][y[n - 1] == 2] = 0                  # one image without class 2 in the target
    return p, y


def one_shot(p, y, metric, **kw):
    return np.asarray(segmath.get(metric).fn(p, y, num_classes=3, reduction="none", **kw), dtype=float)


def test_streaming_equals_the_functions_on_the_whole_set():
    p, y = batch(0, n=6)
    s = SurfaceState(METRICS, num_classes=3, spacing=(1.0, 0.5), options={"nsd": {"tolerance": 1.5}})
    s.update(p[:2], y[:2], ids=[0, 1]).update(p[2:], y[2:], ids=[2, 3, 4, 5])
    for m in METRICS:
        kw = {"tolerance": 1.5} if m == "nsd" else {}
        whole = one_shot(p, y, m, spacing=(1.0, 0.5), **kw)
        np.testing.assert_array_equal(s.compute(m, reduction="none"), whole)
        finite = whole[~np.isnan(whole)]
        assert s.compute(m) == pytest.approx(finite.mean(), rel=1e-12)
        assert s.compute(m) == pytest.approx(float(segmath.get(m).fn(p, y, num_classes=3, spacing=(1.0, 0.5),
                                                                     **kw)), rel=1e-12)
        per_class = [np.nanmean(whole[:, k]) for k in range(whole.shape[1])]
        np.testing.assert_allclose(s.compute(m, reduction="class"), per_class, rtol=1e-12)


def test_torch_input_gives_the_numpy_values():
    p, y = batch(1)
    a = SurfaceState(("hd95", "assd"), num_classes=3).update(p, y)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)        # label input: the metric dtype is torch's default
    try:
        b = SurfaceState(("hd95", "assd"), num_classes=3).update(torch.from_numpy(p), torch.from_numpy(y))
    finally:
        torch.set_default_dtype(old)
    for m in ("hd95", "assd"):
        np.testing.assert_allclose(a.compute(m, "none"), b.compute(m, "none"), rtol=1e-10)


def test_merge_pickle_and_padding_duplicates():
    p, y = batch(2, n=5)
    whole = SurfaceState(("hd95", "nsd"), num_classes=3).update(p, y, ids=list("abcde"))
    left = SurfaceState(("hd95", "nsd"), num_classes=3).update(p[:3], y[:3], ids=list("abc"))
    right = SurfaceState(("hd95", "nsd"), num_classes=3).update(p[2:], y[2:], ids=list("cde"))  # "c" twice
    merged = pickle.loads(pickle.dumps(right)).merge(pickle.loads(pickle.dumps(left)))
    assert merged.ids == list("abcde")
    for m in ("hd95", "nsd"):
        np.testing.assert_array_equal(merged.compute(m, "none"), whole.compute(m, "none"))
    with pytest.raises(ValueError, match="twice with different values"):
        merged.update(p[:1], y[:1], ids=["d"])
    with pytest.raises(ValueError, match="same metrics"):
        merged.merge(SurfaceState(("hd95",), num_classes=3))
    auto = SurfaceState("hd95", num_classes=3).update(p, y).update(p, y)   # no ids: every image is new
    assert len(auto) == 10


def test_nan_stays_nan_and_bad_arguments_are_named():
    y = np.zeros((1, 6, 6), np.int64)
    s = SurfaceState(("hd95",), num_classes=2).update(y, y)              # both empty: NaN
    assert np.isnan(s.compute("hd95")) and np.isnan(s.compute("hd95", "none")).all()
    with pytest.raises(ValueError, match="surface metrics"):
        SurfaceState(("dice_score",), num_classes=2)
    with pytest.raises(ValueError, match="reduction"):
        s.compute("hd95", reduction="median")
    with pytest.raises(ValueError, match="ids"):
        s.update(y, y, ids=[1, 2])
    with pytest.raises(ValueError, match="empty"):
        SurfaceState(("hd95",), num_classes=2).compute("hd95")


def _case_result(i):
    return CaseResult(f"c{i}", [[i / 3.0, 1.0 - i / 7.0]])


def _gloo_worker(rank, world, out_dir):
    p, y = batch(3, n=5)
    # DistributedSampler with 5 cases and 2 ranks: rank 0 gets 0, 2, 4; rank 1 gets 1, 3 and 0 (padding)
    mine = [0, 2, 4] if rank == 0 else [1, 3, 0]
    state = SurfaceState(("hd95", "nsd"), num_classes=3).update(p[mine], y[mine], ids=mine)
    synced = state.sync()
    assert len(state) == 3 and len(synced) == 5
    table = CaseTable(("a", "b"), ("1",))
    for i in mine:
        table.add(_case_result(i))
    merged = table.sync()
    np.save(f"{out_dir}/rank{rank}.npy", np.concatenate([synced.compute("hd95", "none").ravel(),
                                                         synced.compute("nsd", "none").ravel()]))
    with open(f"{out_dir}/rank{rank}.csv", "w") as fh:
        fh.write(merged.to_csv())


def test_sync_over_two_gloo_processes_counts_padding_once(tmp_path):
    run_ranks(_gloo_worker, 2, tmp_path)
    p, y = batch(3, n=5)
    expected = np.concatenate([one_shot(p, y, "hd95").ravel(), one_shot(p, y, "nsd").ravel()])
    table = CaseTable(("a", "b"), ("1",))
    for i in range(5):
        table.add(_case_result(i))
    for rank in range(2):
        np.testing.assert_array_equal(np.load(tmp_path / f"rank{rank}.npy"), expected)
        assert (tmp_path / f"rank{rank}.csv").read_text() == table.to_csv()


def _group_worker(rank, world, out_dir):
    from segmath.metrics import ConfusionState
    group = dist.new_group([0, 1])                 # every rank takes part in creating the group
    p, y = batch(6, n=6)
    mine = slice(2 * rank, 2 * rank + 2)
    if rank in (0, 1):                            # rank 2 is not in the group and does not sync
        confusion = ConfusionState(3).update(p[mine], y[mine]).sync(process_group=group)
        surface = SurfaceState(("hd95",), num_classes=3).update(p[mine], y[mine], ids=[2 * rank, 2 * rank + 1])
        surface = surface.sync(process_group=group)
        np.save(f"{out_dir}/rank{rank}.npy", np.concatenate([
            [float(confusion.compute("mean_iou")), float(confusion.compute("mean_iou", aggregate="dataset"))],
            surface.compute("hd95", "none").ravel()]))
    dist.barrier()


def test_sync_over_a_process_group_leaves_other_ranks_out(tmp_path):
    run_ranks(_group_worker, 3, tmp_path)
    p, y = batch(6, n=6)
    p, y = p[:4], y[:4]                                # ranks 0 and 1 only
    expected = [float(segmath.mean_iou(p, y, num_classes=3)),
                float(segmath.mean_iou(p, y, num_classes=3, aggregate="dataset"))]
    expected += one_shot(p, y, "hd95").ravel().tolist()
    for rank in (0, 1):
        np.testing.assert_allclose(np.load(tmp_path / f"rank{rank}.npy"), expected, rtol=1e-12)
    assert not (tmp_path / "rank2.npy").exists()
