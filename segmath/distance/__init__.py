"""Distance transforms, surface metrics and boundary losses (being written)."""
__all__ = []
