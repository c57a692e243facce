"""MONAI as an oracle (pinned in requirements.txt, so imported plainly: a missing MONAI is an error, not a skip)."""
import warnings

import torch
import torch.nn.functional as F
from monai import losses as monai_losses
from monai import metrics as monai_metrics

__all__ = ["monai_losses", "monai_metrics", "monai_softmax_loss"]


def monai_softmax_loss(cls, x, y, **kw):
    """MONAI loss ``cls`` on logits ``x`` with ``softmax=True`` and a float64 one-hot of labels ``y``.

    MONAI's own ``to_onehot_y`` makes a float32 target; building it here keeps the comparison in float64.
    """
    target = F.one_hot(y, x.shape[1]).movedim(-1, 1).to(torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(softmax=True, **kw)(x, target)
