"""The lab's embedding network, trainer and format glue (segmath.teaching.instances)."""
import numpy as np
import pytest
import torch

import segmath
from segmath.instances import cluster_spatial_embeddings, match_instances
from segmath.teaching import data, instances as I


def small(n=8, size=32):
    x, _, ids = data.touching(n, size, count=2, seed=0)
    return x, ids


def test_network_shapes_coordinates_and_bias():
    net = I.EmbeddingNet(1, 4, bias=(0.0, 0.0, -1.0, 0.5))
    assert net(torch.zeros(2, 1, 16, 16)).shape == (2, 4, 16, 16)
    assert net.unet.enc1[0].in_channels == 3 and torch.equal(net.unet.head.bias.detach(),
                                                            torch.tensor([0.0, 0.0, -1.0, 0.5]))
    assert I.EmbeddingNet(1, 2, coords=False).unet.enc1[0].in_channels == 1
    c = I._coordinates(torch.zeros(1, 1, 3, 5))
    assert torch.equal(c[0, 1, :, 0], torch.tensor([-1.0, 0.0, 1.0])) and torch.equal(c[0, 2, 0], torch.linspace(-1, 1, 5))
    with pytest.raises(ValueError, match="bias"):
        I.EmbeddingNet(1, 4, bias=(0.0, 1.0))
    with pytest.raises(TypeError, match="coords"):
        I.EmbeddingNet(1, 4, coords=1)


@pytest.mark.parametrize("loss, channels, kw", [("discriminative", 2, {}),
                                                ("spatial_embedding", 4, {"w_seed": 10.0})])
def test_training_is_deterministic_and_learns(loss, channels, kw):
    x, ids = small()
    runs = [I.train_embeddings(loss, x, ids, channels=channels, epochs=4, lr=5e-3, seed=s, loss_kwargs=kw)
            for s in (0, 0, 1)]
    assert [e["loss"] for e in runs[0].epochs] == [e["loss"] for e in runs[1].epochs]
    assert all(torch.equal(a, b) for a, b in zip(runs[0].model.state_dict().values(),
                                                 runs[1].model.state_dict().values()))
    assert runs[0].column("loss")[0] != runs[2].column("loss")[0]
    assert runs[0].column("loss")[-1] < runs[0].column("loss")[0]
    assert np.isfinite(runs[0].column("loss")).all() and "epochs=4" in repr(runs[0])
    assert I.embed(runs[0].model, x[:3]).shape == (3, channels) + x.shape[2:]


def test_training_bad_input():
    x, ids = small()
    for kwargs, name in (({"channels": 0}, "channels"), ({"channels": 2, "epochs": 0}, "epochs"),
                         ({"channels": 2, "batch_size": 0}, "batch_size")):
        with pytest.raises(ValueError, match=name):
            I.train_embeddings("discriminative", x, ids, **kwargs)
    with pytest.raises(ValueError, match="instances"):
        I.train_embeddings("discriminative", x, ids[:, :4], channels=2)
    with pytest.raises(ValueError, match="instances"):
        I.train_embeddings("discriminative", x, ids.astype(float), channels=2)
    with pytest.raises(ValueError, match="images"):
        I.train_embeddings("discriminative", x[:, 0], ids, channels=2)
    with pytest.raises(ValueError, match="loss"):
        I.train_embeddings("no_such_loss", x, ids, channels=2)


def test_spatial_outputs_follow_the_losses_conventions():
    """A hand-made output that points every pixel at its instance's centre: the loss is near its floor and
    the seed clustering of spatial_outputs(...) with default pixel_size recovers the instances."""
    _, _, ids = data.touching(2, 32, count=3, seed=3)
    n, h, w = ids.shape
    grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij")).astype(float) / max(h, w)
    out = np.zeros((n, 4, h, w))
    out[:, 2] = np.log(0.05)                                     # sigma = 0.05 image sides
    out[:, 3] = np.where(ids > 0, 4.0, -4.0)                     # seed logits
    for i in range(n):
        for k in range(1, ids[i].max() + 1):
            m = ids[i] == k
            out[i, :2][:, m] = np.arctanh(grid[:, m].mean(1)[:, None] - grid[:, m])
    out = torch.from_numpy(out)
    off, sig, seed = I.spatial_outputs(out)
    assert torch.allclose(off, torch.tanh(out[:, :2])) and torch.allclose(sig, torch.full_like(sig, 0.05))
    assert torch.allclose(seed, torch.sigmoid(out[:, 3:]))
    loss = float(segmath.spatial_embedding(out, torch.from_numpy(ids), w_seed=0.0))
    assert loss < 1e-3
    lab = cluster_spatial_embeddings(off, sig, seed).numpy()
    for i in range(n):
        m = match_instances(lab[i], ids[i])
        assert m.tp == ids[i].max() and m.fp == 0 and np.allclose(m.matched_scores, 1.0)
    with pytest.raises(ValueError, match="output"):
        I.spatial_outputs(out[:, :3])


def test_panoptic_maps_and_detections():
    ids = np.array([[[0, 2, 2], [5, 5, 0]], [[0, 0, 0], [0, 0, 0]]])
    pan = I.panoptic_maps(ids)
    assert pan.shape == (2, 2, 2, 3) and np.array_equal(pan[:, 1], ids) and np.array_equal(pan[:, 0], ids > 0)
    assert np.array_equal(I.panoptic_maps(torch.from_numpy(ids), category=3)[:, 0], 3 * (ids > 0))
    scores = np.arange(12, dtype=float).reshape(ids.shape) / 12
    d = I.detections(ids, scores)
    assert [x["masks"].shape for x in d] == [(2, 2, 3), (0, 2, 3)]
    assert np.array_equal(d[0]["masks"][0], ids[0] == 2) and np.array_equal(d[0]["masks"][1], ids[0] == 5)
    assert d[0]["scores"].tolist() == [2 / 12, 4 / 12] and d[0]["labels"].tolist() == [1, 1]
    assert I.detections(ids)[0]["scores"].tolist() == [1.0, 1.0]
    r = segmath.instance_ap(d, I.detections(ids))
    assert float(r["map_50"]) == pytest.approx(1.0, abs=1e-9)
    pq = segmath.panoptic_quality(pan, pan, things=(1,), stuffs=(0,))
    assert float(pq["pq_things"]) == 1.0
    with pytest.raises(ValueError, match="scores"):
        I.detections(ids, scores[:, :1])
    with pytest.raises(ValueError, match="instances"):
        I.panoptic_maps(-ids)
