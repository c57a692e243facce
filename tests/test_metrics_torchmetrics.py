"""segmath against torchmetrics where the definitions coincide (classification and segmentation metrics)."""
import numpy as np
import pytest
import torch
from torchmetrics import classification as tmc
from torchmetrics import segmentation as tmseg
from torchmetrics.functional import segmentation as tms

import segmath
from conftest import to_torch
from oracles import make_case

C = 4


@pytest.mark.parametrize("average", ["none", "macro", "micro", "weighted"])
@pytest.mark.parametrize("spatial", [(6, 7), (3, 4, 5)])
def test_dataset_iou_matches_multiclass_jaccard_index(average, spatial):
    x, y = make_case(20, n=4, spatial=spatial, ignore_index=255)
    xt, yt = to_torch((x, y))
    metric = tmc.MulticlassJaccardIndex(num_classes=C, average=average, ignore_index=255)
    metric.update(xt, yt)                    # float (N, C, ...) input: torchmetrics takes the arg-max
    ours = segmath.iou(xt, yt, ignore_index=255, average=average, aggregate="dataset")
    np.testing.assert_allclose(ours, metric.compute().double(), rtol=1e-6)


def test_confusion_matrix_matches_torchmetrics():
    x, y = make_case(21, n=3, ignore_index=255)
    xt, yt = to_torch((x, y))
    ref = tmc.MulticlassConfusionMatrix(num_classes=C, ignore_index=255)(xt, yt)
    torch.testing.assert_close(segmath.confusion_matrix(xt, yt, ignore_index=255), ref)


def test_image_iou_matches_torchmetrics_segmentation_mean_iou():
    """torchmetrics' segmentation mean_iou is per image (and -1 where the union is empty)."""
    x, y = make_case(22, n=5, spatial=(8, 9))
    pred = torch.from_numpy(x.argmax(1))
    yt = torch.from_numpy(y)
    ref = tms.mean_iou(pred, yt, num_classes=C, per_class=True, input_format="index")
    ours = segmath.iou(pred, yt, num_classes=C, aggregate="none")
    torch.testing.assert_close(ours.nan_to_num(-1.0).float(), ref.float())
    ref_mean = tms.mean_iou(pred, yt, num_classes=C, input_format="index")
    torch.testing.assert_close(segmath.mean_iou(pred, yt, num_classes=C, aggregate="none").float(), ref_mean.float())


def test_per_class_image_mean_matches_torchmetrics_mean_iou_class():
    x, y = make_case(27, n=5, spatial=(8, 9))
    pred, yt = torch.from_numpy(x.argmax(1)), torch.from_numpy(y)
    metric = tmseg.MeanIoU(num_classes=C, per_class=True, input_format="index")
    metric.update(pred[:2], yt[:2])
    metric.update(pred[2:], yt[2:])
    ours = segmath.iou(pred, yt, num_classes=C, average="none", aggregate="image")
    torch.testing.assert_close(ours.float(), metric.compute().float())


def test_dice_matches_torchmetrics_dice_score_per_sample():
    x, y = make_case(23, n=4, spatial=(8, 9))
    pred = torch.from_numpy(x.argmax(1))
    yt = torch.from_numpy(y)
    ref = tms.dice_score(pred, yt, num_classes=C, average="none", input_format="index",
                                      aggregation_level="samplewise")
    ours = segmath.dice_score(pred, yt, num_classes=C, average="none", aggregate="none")
    both = ~torch.isnan(ours)                # torchmetrics' value where the union is empty is its own choice
    torch.testing.assert_close(ours[both].float(), ref[both].float())


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
@pytest.mark.parametrize("n_bins", [5, 15])
def test_multiclass_ece_matches_torchmetrics(norm, n_bins):
    x, y = make_case(24, n=3, spatial=(10, 12), ignore_index=255)
    xt, yt = to_torch((x, y))
    prob = torch.softmax(xt, dim=1)
    ref = tmc.MulticlassCalibrationError(num_classes=C, n_bins=n_bins, norm=norm, ignore_index=255)(prob, yt)
    ours = segmath.expected_calibration_error(xt, yt, n_bins=n_bins, norm=norm, ignore_index=255)
    np.testing.assert_allclose(float(ours), float(ref), rtol=1e-5, atol=1e-7)
    ours_p = segmath.expected_calibration_error(prob, yt, n_bins=n_bins, norm=norm, ignore_index=255,
                                                from_logits=False)
    np.testing.assert_allclose(float(ours_p), float(ref), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_binary_ece_matches_torchmetrics(norm):
    rng = np.random.default_rng(25)
    x = torch.from_numpy(1.5 * rng.standard_normal((3, 1, 5, 6, 7)))
    y = torch.from_numpy((rng.random((3, 5, 6, 7)) < 0.35).astype(np.int64))
    ref = tmc.BinaryCalibrationError(n_bins=10, norm=norm)(torch.sigmoid(x[:, 0]), y)
    ours = segmath.expected_calibration_error(x, y, n_bins=10, norm=norm)
    np.testing.assert_allclose(float(ours), float(ref), rtol=1e-5, atol=1e-7)


def test_per_image_ece_is_torchmetrics_per_image():
    x, y = make_case(26, n=3, spatial=(10, 12))
    xt, yt = to_torch((x, y))
    prob = torch.softmax(xt, dim=1)
    ref = [float(tmc.MulticlassCalibrationError(num_classes=C, n_bins=15)(prob[i:i + 1], yt[i:i + 1]))
           for i in range(3)]
    np.testing.assert_allclose(segmath.expected_calibration_error(xt, yt, aggregate="none"), ref, rtol=1e-5)
    np.testing.assert_allclose(float(segmath.expected_calibration_error(xt, yt, aggregate="image")), np.mean(ref),
                               rtol=1e-5)
