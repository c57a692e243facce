"""Distance transforms, surface metrics and boundary-aware losses (chapter 09_boundaries)."""
from . import boundary_metrics, losses, surface, transforms
from .boundary_metrics import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .surface import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403

__all__ = transforms.__all__ + surface.__all__ + boundary_metrics.__all__ + losses.__all__
