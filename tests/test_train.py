"""segmath.teaching.train: the U-Net, the seeded training loop and its validation metrics."""
import functools

import numpy as np
import pytest
import torch

import segmath
from segmath.teaching import data, train
from segmath.teaching.losses import loss_label, resolve_loss


@pytest.fixture(scope="module")
def tiny():
    x, y = data.shapes(24, 32, foreground=0.2, noise=0.1, seed=0)
    return x[:16], y[:16], x[16:], y[16:]


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_unet_shapes():
    net = train.UNet(3, 4, width=4)
    assert net(torch.zeros(2, 3, 24, 16)).shape == (2, 4, 24, 16)
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.zeros(1, 3, 18, 16))


@pytest.mark.slow
def test_two_epochs_decrease_the_loss_and_reproduce_bit_for_bit(tiny):
    a = train.train("cross_entropy", tiny, epochs=2, batch_size=4, progress=False)
    b = train.train("cross_entropy", tiny, epochs=2, batch_size=4, progress=False)
    assert a.epochs[1]["loss"] < a.epochs[0]["loss"]
    assert a.epochs == b.epochs                      # every float identical
    sa, sb = _state(a.model), _state(b.model)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    c = train.train("cross_entropy", tiny, epochs=2, batch_size=4, progress=False, seed=1)
    assert c.epochs != a.epochs


def test_training_leaves_global_state_alone(tiny):
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(123)
    expect = torch.rand(3)
    torch.manual_seed(123)
    train.train("dice", tiny, epochs=1, progress=False, num_threads=1)
    assert torch.equal(torch.rand(3), expect)
    assert torch.get_num_threads() == threads and torch.are_deterministic_algorithms_enabled() == det


def test_loss_by_id_callable_and_kwargs(tiny):
    h = train.train(lambda x, y: segmath.cross_entropy(x, y), tiny, epochs=1, progress=False, name="mine")
    ref = train.train("cross_entropy", tiny, epochs=1, progress=False)
    assert h.loss == "mine" and h.epochs == ref.epochs
    w = train.train("weighted_cross_entropy", tiny, epochs=1, progress=False, loss_kwargs={"weight": [1.0, 4.0]})
    assert np.isfinite(w.final["loss"])
    with pytest.raises(ValueError, match="metric"):
        train.train("iou", tiny, epochs=1, progress=False)
    with pytest.raises(ValueError, match="no_such_loss"):
        train.train("no_such_loss", tiny, epochs=1, progress=False)


def test_loss_by_entry_and_partial_train_alike(tiny):
    ref = train.train("focal", tiny, epochs=1, progress=False, loss_kwargs={"gamma": 3.0})
    by_entry = train.train(segmath.get("focal"), tiny, epochs=1, progress=False, loss_kwargs={"gamma": 3.0})
    by_partial = train.train(functools.partial(segmath.focal, gamma=3.0), tiny, epochs=1, progress=False)
    assert by_entry.loss == "focal" and by_partial.loss == "focal(gamma=3.0)"
    assert by_entry.epochs == ref.epochs == by_partial.epochs


# ---- resolve_loss: the forms a student names a loss in -----------------------------------------

def _mine(x, y):
    return segmath.dice(x, y)


@pytest.mark.parametrize("given, label, fn", [
    ("cross_entropy", "cross_entropy", segmath.cross_entropy),
    (segmath.get("dice"), "dice", segmath.dice),
    (segmath.lovasz_softmax, "lovasz_softmax", segmath.lovasz_softmax),
    (_mine, "_mine", _mine),
])
def test_resolve_loss_forms(given, label, fn):
    assert resolve_loss(given) == (label, fn)


def test_resolve_loss_partial_lambda_and_module():
    p = functools.partial(segmath.focal, gamma=3.0, alpha=0.25)
    label, fn = resolve_loss(p)
    assert fn is p and label == "focal(gamma=3.0, alpha=0.25)"
    assert loss_label(functools.partial(_mine)) == "_mine()"
    assert resolve_loss(lambda x, y: 0)[0] == "lambda"
    import segmath.nn as snn
    module = next(getattr(snn, n) for n in dir(snn) if n.endswith("Loss") and isinstance(getattr(snn, n), type))
    assert isinstance(resolve_loss(module())[0], str)


def test_resolve_loss_every_catalogue_loss_by_id_and_entry():
    for entry in segmath.catalogue("loss"):
        assert resolve_loss(entry.id) == resolve_loss(entry) == (entry.id, entry.fn)


@pytest.mark.parametrize("bad, err, match", [
    ("iou", ValueError, "'iou' is a metric"),
    (segmath.get("edt"), ValueError, "'edt' is a transform"),
    ("cross-entropy", ValueError, "no catalogue entry 'cross-entropy'.*cross_entropy"),
    (None, TypeError, "surrogate must be"),
    (0.5, TypeError, "got float"),
])
def test_resolve_loss_refuses_clearly(bad, err, match):
    with pytest.raises(err, match=match):
        resolve_loss(bad, argument="surrogate")


@pytest.mark.slow
def test_sigmoid_output(tiny):
    h = train.train("lovasz_hinge", tiny, epochs=1, classes=1, progress=False)
    assert h.model.head.out_channels == 1 and np.isfinite(h.final["dice"])


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_evaluate_against_independent_formulas():
    from monai.metrics import compute_hausdorff_distance
    r = np.random.default_rng(0)
    _, y = data.shapes(4, 32, foreground=0.2, noise=0, seed=1)
    pred = y.copy()
    pred[0] = np.roll(pred[0], 2, axis=1)
    pred[1] = 0
    pred[1, 5:9, 5:9] = 1                             # wrong place entirely
    pred[2] = ((y[2] == 1) | (r.random((32, 32)) < 0.02)).astype(int)
    logits = torch.from_numpy(np.stack([1 - pred, pred], 1).astype(np.float64) * 4 - 2)
    got = train.evaluate(logits, torch.from_numpy(y))
    p, t = pred == 1, y == 1
    tp, fp = (p & t).sum((1, 2)), (p & ~t).sum((1, 2))
    fn, tn = (~p & t).sum((1, 2)), (~p & ~t).sum((1, 2))
    assert got["dice"] == pytest.approx(np.mean(2 * tp / (2 * tp + fp + fn)), abs=1e-12)
    assert got["iou"] == pytest.approx(np.mean(tp / (tp + fp + fn)), abs=1e-12)
    assert got["sensitivity"] == pytest.approx(np.mean(tp / (tp + fn)), abs=1e-12)
    assert got["specificity"] == pytest.approx(np.mean(tn / (tn + fp)), abs=1e-12)
    hd = compute_hausdorff_distance(torch.from_numpy(p[:, None]), torch.from_numpy(t[:, None]), percentile=95)
    assert got["hd95"] == pytest.approx(float(hd.mean()), rel=1e-6)   # MONAI computes in float32


def test_results_table(tiny):
    h = train.train("dice", tiny, epochs=1, progress=False)
    text = train.results_table([h])
    assert text.splitlines()[0].split() == ["loss", "dice", "iou", "hd95", "sensitivity", "specificity"]
    assert f"{h.final['dice']:.3f}" in text
