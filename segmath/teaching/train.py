"""A small U-Net and a seeded training loop: train with any catalogue loss on CPU in about a minute.

The point is comparison, not state of the art: the same network, data, optimiser and seed, only the
loss changes, and the validation metrics of Jadon (2020) — Dice, IoU, HD95, sensitivity, specificity —
are recorded every epoch.  Runs are reproducible bit for bit on one machine: the seed fixes the weights
and the batch order, ``torch.use_deterministic_algorithms(True)`` forbids non-deterministic kernels,
and the number of intra-op threads is fixed (the order of floating-point sums depends on it).

Example:
    >>> from segmath.teaching import data, train
    >>> x, y = data.shapes(16, 32, foreground=0.2, seed=0)
    >>> h = train.train("dice", (x[:12], y[:12], x[12:], y[12:]), epochs=2, progress=False)
    >>> len(h.epochs), sorted(h.epochs[-1])[:3]
    (2, ['dice', 'epoch', 'hd95'])
"""
from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .losses import resolve_loss

__all__ = ["UNet", "train", "predict", "evaluate", "History", "results_table", "deterministic",
           "METRICS"]

# name shown in tables -> catalogue metric id
METRICS = {"dice": "dice_score", "iou": "iou", "hd95": "hd95", "sensitivity": "recall",
           "specificity": "specificity"}


# ----------------------------------------------------------------------------------------------
# the network

def _block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """A two-level U-Net (Ronneberger et al. 2015) with ``width``, ``2 width``, ``4 width`` channels.

    Input ``(N, in_channels, H, W)`` with H and W divisible by 4; output logits ``(N, classes, H, W)``.
    With ``width=8`` it has about 30 thousand parameters: small enough to train on a CPU in seconds.

    Example:
        >>> import torch
        >>> UNet(1, 3)(torch.zeros(2, 1, 16, 16)).shape
        torch.Size([2, 3, 16, 16])
    """

    def __init__(self, in_channels=1, classes=2, width=8):
        super().__init__()
        w = width
        self.enc1, self.enc2, self.mid = _block(in_channels, w), _block(w, 2 * w), _block(2 * w, 4 * w)
        self.up2, self.dec2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2), _block(4 * w, 2 * w)
        self.up1, self.dec1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2), _block(2 * w, w)
        self.head = nn.Conv2d(w, classes, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"input height and width must be divisible by 4, got {tuple(x.shape[-2:])}")
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        m = self.mid(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


# ----------------------------------------------------------------------------------------------
# determinism

@contextlib.contextmanager
def deterministic(seed=0, num_threads=1):
    """Seed torch, force deterministic kernels and fix the thread count; restore all on exit.

    The global torch RNG state is forked, so a training run does not disturb the caller's stream.
    """
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(num_threads)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(det)


# ----------------------------------------------------------------------------------------------
# history

@dataclass
class History:
    """What :func:`train` returns: per-epoch records and the trained model.

    ``epochs[k]`` is a dict with ``epoch``, ``loss`` (mean training loss), and the validation metrics
    ``dice``, ``iou``, ``hd95``, ``sensitivity``, ``specificity`` (foreground classes, mean over
    validation images and classes).  ``seconds`` is the wall time (not reproducible; not in tables).
    """
    loss: str
    epochs: list = field(default_factory=list)
    model: nn.Module | None = None
    seconds: float = 0.0

    def column(self, key):
        return np.array([e[key] for e in self.epochs], dtype=float)

    @property
    def final(self):
        return self.epochs[-1] if self.epochs else {}

    def __repr__(self):
        last = ", ".join(f"{k}={v:.3f}" for k, v in self.final.items() if k != "epoch")
        return f"History(loss={self.loss!r}, epochs={len(self.epochs)}, {last})"


def results_table(histories, keys=("loss", *METRICS), digits=3):
    """Final-epoch results of several runs as a fixed-width text table (rounded: stable under nbval)."""
    names = [h.loss for h in histories]
    wid = max(8, *(len(n) for n in names)) + 2
    lines = ["".ljust(wid) + "".join(k.rjust(12) for k in keys)]
    for h in histories:
        row = [h.final.get(k, float("nan")) for k in keys]
        lines.append(h.loss.ljust(wid) + "".join(f"{v:12.{digits}f}" for v in row))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# evaluation

def predict(model, images, batch_size=64):
    """Logits of ``model`` on ``images`` (NumPy or tensor), in eval mode, without gradients."""
    x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images, dtype=torch.float32)
    was = model.training
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was)
    return out


def evaluate(logits, labels):
    """Validation metrics of ``logits`` ``(N, C, H, W)`` against int ``labels`` ``(N, H, W)``.

    Each metric is the catalogue metric of the hard prediction (arg-max; threshold 0.5 for one
    sigmoid channel) per image and foreground class (class 0, the background, is left out), then the
    mean over the (image, class) pairs where it is defined (the catalogue's ``empty="skip"``: e.g.
    recall is undefined on an image without that class).  HD95 follows :func:`segmath.hd95`'s
    defaults: the largest distance in the image (its diagonal) when exactly one of prediction and
    target is empty, so a missed object is penalised rather than dropped.
    """
    import segmath
    labels = torch.as_tensor(labels)
    out = {}
    for name, mid in METRICS.items():
        fn = segmath.get(mid).fn
        if name == "hd95":
            table = fn(logits, labels, reduction="none")                 # (N, C - 1), background excluded
        else:
            table = fn(logits, labels, average="none", aggregate="none")[:, 1:]
        table = torch.as_tensor(table).double()
        ok = ~torch.isnan(table)
        out[name] = float(table[ok].mean()) if bool(ok.any()) else float("nan")
    return out


# ----------------------------------------------------------------------------------------------
# training

def _split(data, seed):
    if data is None:
        from . import data as D
        x, y = D.shapes(96, 64, foreground=0.05, seed=seed)
        return x[:64], y[:64], x[64:], y[64:]
    if len(data) != 4:
        raise ValueError("data must be (x_train, y_train, x_val, y_val)")
    return data


def train(loss="cross_entropy", data=None, *, epochs=15, batch_size=8, lr=3e-3, seed=0, loss_kwargs=None,
          classes=None, width=8, num_threads=1, progress=True, name=None):
    """Train a :class:`UNet` with ``loss`` and record validation metrics after every epoch.

    Args:
        loss: a catalogue loss id (``"focal"``, ``"dice"``, ...), a catalogue ``Entry``, or a callable
            ``loss(logits, labels, **loss_kwargs) -> scalar`` (a ``functools.partial`` too); see
            :func:`segmath.teaching.losses.resolve_loss`.
        data: ``(x_train, y_train, x_val, y_val)`` NumPy arrays (images float ``(N, C, H, W)``, labels
            int ``(N, H, W)``); default: 64 + 32 images of :func:`segmath.teaching.data.shapes` with 5%
            foreground.
        epochs, batch_size, lr: Adam for ``epochs`` passes over the shuffled training set, the
            learning rate decaying from ``lr`` to 0 on a cosine schedule.
        seed: fixes the initial weights and the batch order.
        loss_kwargs: extra keyword arguments for the loss (e.g. ``{"weight": [1, 10]}``).
        classes: output channels (default: the largest label + 1; 1 means a sigmoid output).
        width: channels of the first U-Net level.
        num_threads: torch intra-op threads during training (fixed for reproducibility).
        progress: show a tqdm bar on stderr (``False`` in notebooks kept under nbval).
        name: label for tables (default: the loss id).

    Returns:
        :class:`History` with per-epoch ``loss``, ``dice``, ``iou``, ``hd95``, ``sensitivity``,
        ``specificity`` and the trained ``model``.
    """
    from tqdm.auto import tqdm
    from ..validation import value_checks
    loss_id, fn = resolve_loss(loss)
    xtr, ytr, xva, yva = _split(data, seed)
    xtr, ytr = torch.as_tensor(np.asarray(xtr), dtype=torch.float32), torch.as_tensor(np.asarray(ytr))
    classes = classes or int(max(ytr.max(), int(np.max(yva)))) + 1
    kwargs = dict(loss_kwargs or {})
    hist = History(name or loss_id)
    start = time.perf_counter()
    with deterministic(seed, num_threads):
        model = UNet(xtr.shape[1], classes, width)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        # cosine decay to zero over all steps: the last epochs settle instead of oscillating,
        # so the final-epoch metrics compare losses rather than where the noise happened to land
        steps = epochs * math.ceil(len(xtr) / batch_size)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
        order = torch.Generator().manual_seed(seed)
        bar = tqdm(range(1, epochs + 1), desc=hist.loss, disable=not progress, file=sys.stderr,
                   leave=False)
        for ep in bar:
            model.train()
            total, count = 0.0, 0
            perm = torch.randperm(len(xtr), generator=order)
            for i in range(0, len(xtr), batch_size):
                idx = perm[i:i + batch_size]
                # the loss validates the labels on the very first batch; after that the syncing
                # value checks are off (the data do not change)
                with value_checks(ep == 1 and i == 0):
                    out = fn(model(xtr[idx]), ytr[idx], **kwargs)
                opt.zero_grad(set_to_none=True)
                out.backward()
                opt.step()
                sched.step()
                total += float(out.detach()) * len(idx)
                count += len(idx)
            rec = {"epoch": ep, "loss": total / count, **evaluate(predict(model, xva), yva)}
            if not math.isfinite(rec["loss"]):
                raise FloatingPointError(f"{hist.loss}: the training loss became {rec['loss']} at epoch {ep}")
            hist.epochs.append(rec)
            bar.set_postfix(loss=f"{rec['loss']:.3f}", dice=f"{rec['dice']:.3f}")
        bar.close()
    hist.model = model
    hist.seconds = time.perf_counter() - start
    return hist
