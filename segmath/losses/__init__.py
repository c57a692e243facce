"""Losses: distribution-based, region-based, Lovász and compound.  (Boundary losses: segmath.distance.)"""
from . import compound, distribution, lovasz, region
from .compound import *  # noqa: F401,F403
from .distribution import *  # noqa: F401,F403
from .lovasz import *  # noqa: F401,F403
from .region import *  # noqa: F401,F403

__all__ = distribution.__all__ + region.__all__ + lovasz.__all__ + compound.__all__
