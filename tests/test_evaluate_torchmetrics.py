"""The torchmetrics adapter: segmath's values through torchmetrics' Metric API, DDP over two gloo processes."""
import numpy as np
import pytest
import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassJaccardIndex

import segmath
from segmath.torchmetrics import ConfusionMetric, SurfaceMetric
from oracles.distributed import run_ranks


def data(seed=0, n=6, c=3, shape=(12, 14)):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, c, (n,) + shape, generator=g)
    logits = torch.randn((n, c) + shape, generator=g, dtype=torch.float64)
    logits += 2.0 * torch.nn.functional.one_hot(y, c).movedim(-1, 1)
    return logits, y


def test_confusion_metric_equals_the_segmath_function_and_torchmetrics():
    x, y = data()
    for options in ({"aggregate": "image"}, {"aggregate": "dataset"}):
        m = ConfusionMetric("mean_iou", num_classes=3, **options)
        for i in range(0, 6, 2):
            m.update(x[i:i + 2], y[i:i + 2])
        expected = segmath.mean_iou(x.numpy(), y.numpy(), **options)
        assert float(m.compute()) == pytest.approx(float(expected), rel=1e-12)
    jaccard = MulticlassJaccardIndex(num_classes=3, average="macro")(x.argmax(1), y)   # dataset mIoU
    m = ConfusionMetric("mean_iou", num_classes=3, aggregate="dataset")
    m.update(x, y)
    assert float(m.compute()) == pytest.approx(float(jaccard), rel=1e-6)


def test_padding_ids_count_once_in_every_aggregate():
    x, y = data(1)
    for metric, options in (("mean_iou", {"aggregate": "dataset"}), ("dice_score", {"average": "macro"}),
                            ("mcc", {})):
        m = ConfusionMetric(metric, num_classes=3, **options)
        m.update(x[:4], y[:4], ids=[0, 1, 2, 3])
        m.update(x[2:], y[2:], ids=[2, 3, 4, 5])       # 2 and 3 again, as a sampler's padding does
        expected = segmath.get(metric).fn(x.numpy(), y.numpy(), **options)
        assert float(m.compute()) == pytest.approx(float(expected), rel=1e-12), metric


def test_collection_forward_and_merge_state():
    x, y = data(2)
    coll = MetricCollection({"miou": ConfusionMetric("mean_iou", num_classes=3),
                             "hd95": SurfaceMetric("hd95", num_classes=3)})
    batch_value = coll(x[:3], y[:3])                   # forward: this batch only
    assert float(batch_value["miou"]) == pytest.approx(float(segmath.mean_iou(x[:3].numpy(), y[:3].numpy())))
    coll.update(x[3:], y[3:])
    out = coll.compute()
    assert float(out["miou"]) == pytest.approx(float(segmath.mean_iou(x.numpy(), y.numpy())), rel=1e-12)
    assert float(out["hd95"]) == pytest.approx(float(segmath.hd95(x.numpy(), y.numpy())), rel=1e-12)
    a, b = SurfaceMetric("assd", num_classes=3), SurfaceMetric("assd", num_classes=3)
    a.update(x[:2], y[:2])
    b.update(x[2:], y[2:])
    a.merge_state(b)
    assert float(a.compute()) == pytest.approx(float(segmath.assd(x.numpy(), y.numpy())), rel=1e-12)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="metric must be one of"):
        ConfusionMetric("hd95", num_classes=3)
    with pytest.raises(ValueError, match="metric must be one of"):
        SurfaceMetric("mean_iou")
    x, y = data(3)
    with pytest.raises(ValueError, match="ids"):
        ConfusionMetric("mean_iou", num_classes=3).update(x, y, ids=[1, 2])


def _ddp_worker(rank, world, out_dir):
    x, y = data(4, n=5)
    mine = [0, 2, 4] if rank == 0 else [1, 3, 0]    # DistributedSampler: 5 images, 2 ranks, 0 padded
    results = []
    for metric in (ConfusionMetric("mean_iou", num_classes=3, aggregate="image"),
                   ConfusionMetric("mean_iou", num_classes=3, aggregate="dataset"),
                   SurfaceMetric("hd95", num_classes=3)):
        metric.update(x[mine], y[mine], ids=mine)
        results.append(float(metric.compute()))     # torchmetrics syncs the states over the group
    np.save(f"{out_dir}/rank{rank}.npy", np.array(results))


def test_two_gloo_processes_equal_one_shot_with_padding_counted_once(tmp_path):
    run_ranks(_ddp_worker, 2, tmp_path)
    x, y = data(4, n=5)
    xn, yn = x.numpy(), y.numpy()
    expected = [segmath.mean_iou(xn, yn), segmath.mean_iou(xn, yn, aggregate="dataset"), segmath.hd95(xn, yn)]
    for rank in range(2):
        np.testing.assert_allclose(np.load(tmp_path / f"rank{rank}.npy"), np.array(expected, float), rtol=1e-12)
