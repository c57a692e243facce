"""compound losses (being written)."""
__all__ = []
