"""segmath.teaching.widgets.shapes: the deformed prediction, its metrics (against set operations and SciPy).

The explorer's latency is measured by ``benchmarks/widgets.py``, not asserted here (it depends on the machine).
"""
import matplotlib
import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import directed_hausdorff
from skimage.morphology import disk, dilation, erosion

from segmath.teaching.widgets import shapes as S

matplotlib.use("Agg")


def _boundary(m):
    # inner contour: pixels with a face neighbour outside (the image border counts as outside)
    return np.argwhere(m & ~ndimage.binary_erosion(m, border_value=0))


def _oracle(pred, target):
    inter, union = (pred & target).sum(), (pred | target).sum()
    bp, bt = _boundary(pred), _boundary(target)
    hd = max(directed_hausdorff(bp, bt)[0], directed_hausdorff(bt, bp)[0])
    return {"dice": 2 * inter / (pred.sum() + target.sum()), "iou": inter / union, "hd": hd}


@pytest.mark.parametrize("params", [{}, {"dx": 5}, {"dy": -3, "scale": 0.9}, {"grow": 2}, {"grow": -2},
                                    {"outlier": 3}, {"dx": 2, "outlier": 5, "target": "blob"}])
def test_metrics_match_set_operations_and_scipy(params):
    s = S.shape_state(**params)
    ref = _oracle(s.pred, s.target)
    for k in ("dice", "iou", "hd"):
        assert s.metrics[k] == pytest.approx(ref[k], abs=1e-9), k
    assert 0 <= s.metrics["hd95"] <= s.metrics["hd"] + 1e-12


def test_identity_is_perfect():
    s = S.shape_state()
    assert np.array_equal(s.pred, s.target)
    assert s.metrics["dice"] == 1 and s.metrics["iou"] == 1 and s.metrics["hd"] == 0 and s.metrics["hd95"] == 0


def test_deformations_are_what_they_say():
    t = S._target("disk")
    # integer shifts of a shape away from the border are np.roll
    assert np.array_equal(S._deform(t, 3, -2, 1.0, 0, 0), np.roll(t, (-2, 3), axis=(0, 1)))
    # grow/erode by r are the morphological dilation/erosion by a disk of radius r (skimage)
    assert np.array_equal(S._deform(t, 0, 0, 1.0, 2, 0), dilation(t, disk(2)))
    assert np.array_equal(S._deform(t, 0, 0, 1.0, -2, 0), erosion(t, disk(2)))
    # scaling about the centroid: the area scales by about scale^2
    assert S._deform(t, 0, 0, 1.2, 0, 0).sum() / t.sum() == pytest.approx(1.44, rel=0.05)
    # the outlier is a separate component
    assert ndimage.label(S._deform(t, 0, 0, 1.0, 0, 3))[1] == 2


def test_outlier_moves_hd_not_dice():
    base, out = S.shape_state(), S.shape_state(outlier=2)
    assert out.metrics["dice"] > 0.99
    assert out.metrics["hd"] > 20 and out.metrics["hd95"] == base.metrics["hd95"] == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="target"):
        S.shape_state(target="zebra")
    with pytest.raises(ValueError, match="scale"):
        S.shape_state(scale=0)


def test_figure_and_explorer():
    fig = S.shape_figure(dx=4, outlier=3)
    assert len(fig.axes) == 3
    box = S.shape_explorer()
    before = box.children[1].value
    box.children[0].children[1].value = 6.0          # the dx slider
    assert box.state.params["dx"] == 6.0
    assert box.children[1].value != before
    box.children[0].children[0].value = "disk"       # switching the target rebuilds the view
    assert box.view.target == "disk" and box.state.params["dx"] == 6.0 and box.state.params["target"] == "disk"


def test_explorer_renders_the_next_step_ahead_and_shows_the_same_frame():
    """The frame the background worker rendered ahead (dx one more step) is the frame a fresh view draws."""
    import time
    box = S.shape_explorer()
    dx = box.children[0].children[1]
    dx.value = 1.0
    dx.value = 2.0                                     # the next step, 3.0, is now rendered ahead
    view = S.ShapeView(blit=True, live=True, dpi=S.LIVE_DPI)
    view.update(dx=3.0, dy=0.0, scale=1.0, grow=0, outlier=0)
    expected = view.png()
    deadline = time.time() + 60
    while time.time() < deadline:
        with box.source.lock:
            ahead = any(dict(k).get("dx") == 3.0 for k in box.source.cache.frames)
        if ahead:
            break
        time.sleep(0.05)
    assert ahead
    dx.value = 3.0
    assert box.children[1].value == expected and box.state.params["dx"] == 3.0

