"""Losses: distribution-based, region-based, Lovász, compound (and boundary, see segmath.distance)."""
from .distribution import *  # noqa: F401,F403
from .region import *  # noqa: F401,F403
