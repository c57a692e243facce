"""lovasz losses (being written)."""
__all__ = []
