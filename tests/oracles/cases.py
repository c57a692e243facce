"""Shared synthetic cases, and the flat (target, prediction) views that scikit-learn expects."""
import numpy as np


def make_case(seed, n=3, c=4, spatial=(6, 7), ignore_index=None):
    """Logits (N, C, *spatial) and labels (N, *spatial) with absent classes in some images.

    Each image's target uses a random subset of the classes; predictions are right about
    60% of the time and one class is suppressed in the prediction of each image, so
    "both empty", "empty target with false positives" and "missed class" all occur.
    """
    rng = np.random.default_rng(seed)
    y = np.empty((n,) + tuple(spatial), dtype=np.int64)
    for i in range(n):
        present = rng.choice(c, size=rng.integers(1, c + 1), replace=False)
        y[i] = rng.choice(present, size=spatial)
    x = rng.standard_normal((n, c) + tuple(spatial))
    x += 2.5 * np.moveaxis(np.eye(c)[y], -1, 1) * (rng.random((n, 1) + tuple(spatial)) < 0.6)
    x[np.arange(n), rng.integers(0, c, size=n)] -= 20.0
    if ignore_index is not None:
        y[rng.random(y.shape) < 0.15] = ignore_index
        y.reshape(n, -1)[:, 0] = 0          # every image keeps a counted pixel
    return x, y


def pooled(x, y, ignore_index=None):
    """Flat (target, prediction) over the counted pixels: the scikit-learn view of a batch."""
    pred = x.argmax(1)
    keep = np.ones(y.shape, bool) if ignore_index is None else y != ignore_index
    return y[keep], pred[keep]


def per_image(x, y, ignore_index=None):
    """:func:`pooled` for each image separately."""
    return [pooled(x[i:i + 1], y[i:i + 1], ignore_index) for i in range(y.shape[0])]
