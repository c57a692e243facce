"""Instance segmentation in the course: an embedding network, a seeded training loop for the embedding
losses, and the glue from label maps to the panoptic and detection formats the metrics take.

The network is :class:`segmath.teaching.train.UNet` with two coordinate channels appended to the image
(CoordConv, Liu et al. 2018).  A fully convolutional network maps two identical-looking disks to the same
output, so a loss that wants *different* embeddings for different instances (the discriminative
family) needs to know where a pixel is; the spatial-embedding loss adds the coordinate itself
(:func:`segmath.spatial_embedding`), and the channels do no harm there.

Training is deterministic on one machine (:func:`segmath.teaching.train.deterministic`: fixed seed,
deterministic kernels, one thread).

Example:
    >>> from segmath.teaching import data, instances
    >>> x, _, ids = data.touching(8, 32, count=2, seed=0)
    >>> h = instances.train_embeddings("discriminative", x, ids, channels=2, epochs=2)
    >>> len(h.epochs), instances.embed(h.model, x[:2]).shape
    (2, torch.Size([2, 2, 32, 32]))
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .losses import resolve_loss
from .train import History, UNet, deterministic, predict

__all__ = ["EmbeddingNet", "EmbeddingHistory", "train_embeddings", "embed", "spatial_outputs", "panoptic_maps",
           "detections"]


def _coordinates(x):
    """``x`` ``(N, C, H, W)`` with two channels appended: the row and column coordinates in [-1, 1]."""
    n, _, h, w = x.shape
    rows = torch.linspace(-1.0, 1.0, h, dtype=x.dtype, device=x.device)
    cols = torch.linspace(-1.0, 1.0, w, dtype=x.dtype, device=x.device)
    yy, xx = torch.meshgrid(rows, cols, indexing="ij")
    return torch.cat([x, yy.expand(n, 1, h, w), xx.expand(n, 1, h, w)], 1)


class EmbeddingNet(nn.Module):
    r"""The lab's :class:`~segmath.teaching.train.UNet` with ``channels`` outputs and, when ``coords``, two
    coordinate input channels; ``bias`` (one number per output channel, or ``None``) sets the initial bias
    of the output layer (e.g. a spatial-embedding bandwidth channel starting at :math:`\log\sigma_0`
    rather than at :math:`\sigma = e^0`, a ball larger than the image).

    Example:
        >>> import torch
        >>> EmbeddingNet(1, 4)(torch.zeros(2, 1, 16, 16)).shape
        torch.Size([2, 4, 16, 16])
    """

    def __init__(self, in_channels=1, channels=2, width=8, coords=True, bias=None):
        super().__init__()
        if not isinstance(coords, bool):
            raise TypeError(f"coords must be True or False, got {coords!r}")
        self.coords = coords
        self.unet = UNet(in_channels + 2 * coords, channels, width)
        if bias is not None:
            b = torch.as_tensor(bias, dtype=torch.float32)
            if b.shape != (channels,) or not bool(torch.isfinite(b).all()):
                raise ValueError(f"bias must hold one finite number per output channel ({channels}), got {bias!r}")
            with torch.no_grad():
                self.unet.head.bias.copy_(b)

    def forward(self, x):
        return self.unet(_coordinates(x) if self.coords else x)


@dataclass(repr=False)
class EmbeddingHistory(History):
    """What :func:`train_embeddings` returns: ``epochs[k]`` = ``{"epoch", "loss"}`` (the mean training
    loss), the trained ``model`` and the wall time ``seconds`` (not reproducible)."""

    def __repr__(self):
        last = f", loss={self.epochs[-1]['loss']:.3f}" if self.epochs else ""
        return f"EmbeddingHistory(loss={self.loss!r}, epochs={len(self.epochs)}{last})"


def _check_int(value, name, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def train_embeddings(loss, images, instances, *, channels, epochs=20, batch_size=8, lr=3e-3, seed=0,
                     loss_kwargs=None, width=8, coords=True, bias=None, num_threads=1, name=None):
    """Train an :class:`EmbeddingNet` with an embedding loss on instance ids.

    Args:
        loss: a catalogue loss id (``"discriminative"``, ``"spatial_embedding"``, ``"push_pull_balls"`` ...),
            an ``Entry`` or a callable ``loss(output, instances, **loss_kwargs) -> scalar``.
        images: float ``(N, C, H, W)`` (H, W divisible by 4).
        instances: int ``(N, H, W)`` instance ids, 0 = background.
        channels: the network's output channels (``F`` for the discriminative family; ``D + 2 = 4`` for
            :func:`segmath.spatial_embedding` on 2-D images).
        epochs, batch_size, lr: Adam over shuffled batches, the learning rate decaying from ``lr`` to 0 on
            a cosine schedule.
        seed: fixes the initial weights and the batch order.
        loss_kwargs: extra keyword arguments of the loss (``max_id`` defaults to the largest id, so the
            loss does not read it from every batch).
        width, coords, bias: the network (see :class:`EmbeddingNet`).
        num_threads: torch intra-op threads during training (fixed for reproducibility).
        name: label of the run (default: the loss id).

    Returns:
        :class:`EmbeddingHistory`.
    """
    from ..validation import value_checks
    label, fn = resolve_loss(loss)
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(instances))
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(x.shape)}")
    if y.dtype in (torch.bool,) or y.is_floating_point() or tuple(y.shape) != (x.shape[0],) + tuple(x.shape[2:]):
        raise ValueError(f"instances must be integer ids of shape (N, H, W) = {(x.shape[0],) + tuple(x.shape[2:])}, "
                         f"got {tuple(y.shape)} {y.dtype}")
    channels = _check_int(channels, "channels", 1)
    epochs = _check_int(epochs, "epochs", 1)
    batch_size = _check_int(batch_size, "batch_size", 1)
    kwargs = dict(loss_kwargs or {})
    kwargs.setdefault("max_id", int(y.max()))
    hist = EmbeddingHistory(name or label)
    start = time.perf_counter()
    with deterministic(seed, num_threads):
        model = EmbeddingNet(x.shape[1], channels, width, coords, bias)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * math.ceil(len(x) / batch_size))
        order = torch.Generator().manual_seed(seed)
        for ep in range(1, epochs + 1):
            model.train()
            total = 0.0
            perm = torch.randperm(len(x), generator=order)
            for i in range(0, len(x), batch_size):
                idx = perm[i:i + batch_size]
                with value_checks(ep == 1 and i == 0):       # validate the first batch, then trust the data
                    out = fn(model(x[idx]), y[idx], **kwargs)
                opt.zero_grad(set_to_none=True)
                out.backward()
                opt.step()
                sched.step()
                total += float(out.detach()) * len(idx)
            rec = {"epoch": ep, "loss": total / len(x)}
            if not math.isfinite(rec["loss"]):
                raise FloatingPointError(f"{hist.loss}: the training loss became {rec['loss']} at epoch {ep}")
            hist.epochs.append(rec)
    hist.model = model
    hist.seconds = time.perf_counter() - start
    return hist


def embed(model, images, batch_size=64):
    """The network's outputs on ``images`` (eval mode, no gradients), a float32 tensor: the lab's name for
    :func:`segmath.teaching.train.predict`."""
    return predict(model, images, batch_size)


def spatial_outputs(output):
    """``(offsets, sigma, seed)`` from a :func:`segmath.spatial_embedding` network output ``(N, D + 2, *spatial)``:
    :math:`\\tanh` of the ``D`` offset channels, :math:`\\exp` of the bandwidth channel and the sigmoid of the
    seed logit, the arguments :func:`segmath.instances.cluster_spatial_embeddings` takes.

    Example:
        >>> import torch
        >>> o, s, q = spatial_outputs(torch.zeros(1, 4, 2, 2))
        >>> o.shape, float(s.max()), float(q.max())
        (torch.Size([1, 2, 2, 2]), 1.0, 0.5)
    """
    d = output.ndim - 2
    if output.ndim < 3 or output.shape[1] != d + 2:
        raise ValueError(f"output must have D + 2 channels (D offsets, a bandwidth, a seed logit) for D-D images, "
                         f"got shape {tuple(output.shape)}")
    return torch.tanh(output[:, :d]), torch.exp(output[:, d:d + 1]), torch.sigmoid(output[:, d + 1:d + 2])


def panoptic_maps(instances, category=1):
    """Panoptic maps ``(N, 2, *spatial)`` from instance ids ``(N, *spatial)``: every instance pixel in thing
    ``category``, the rest in the stuff category 0 (score with ``things=(category,), stuffs=(0,)``).

    Example:
        >>> panoptic_maps(np.array([[0, 2, 2]]))[0].tolist()
        [[0, 1, 1], [0, 2, 2]]
    """
    ids = np.asarray(instances.cpu() if torch.is_tensor(instances) else instances).astype(np.int64)
    if ids.ndim < 2 or (ids < 0).any():
        raise ValueError(f"instances must be non-negative ids of shape (N, *spatial), got shape {ids.shape}")
    return np.stack([np.where(ids > 0, category, 0), ids], 1)


def detections(instances, scores=None, label=1):
    """One :func:`segmath.instance_ap` dict per image from instance ids ``(N, *spatial)``: the masks of the
    ids in increasing order, ``labels`` all ``label``, and as ``scores`` the largest value of ``scores``
    ``(N, *spatial)`` inside each mask (for :func:`~segmath.instances.cluster_spatial_embeddings` that is the
    seed score that started the cluster), or 1 without ``scores``.  The targets' dicts come from the same
    call (their scores are ignored).

    Example:
        >>> d = detections(np.array([[0, 1, 2]]), np.array([[0.1, 0.7, 0.4]]))[0]
        >>> d["masks"].tolist(), d["scores"].tolist()
        ([[False, True, False], [False, False, True]], [0.7, 0.4])
    """
    ids = np.asarray(instances.cpu() if torch.is_tensor(instances) else instances).astype(np.int64)
    sc = None if scores is None else np.asarray(scores.cpu() if torch.is_tensor(scores) else scores, np.float64)
    if sc is not None and sc.shape != ids.shape:
        raise ValueError(f"scores must have the shape of instances {ids.shape}, got {sc.shape}")
    out = []
    for i in range(len(ids)):
        keys = np.unique(ids[i])
        keys = keys[keys > 0]
        masks = ids[i][None] == keys.reshape((-1,) + (1,) * (ids.ndim - 1))
        s = np.ones(len(keys)) if sc is None else np.array([sc[i][m].max() for m in masks])
        out.append({"masks": masks, "scores": s, "labels": np.full(len(keys), label, np.int64)})
    return out
