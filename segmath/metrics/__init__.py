"""Overlap and confusion metrics (being written)."""
__all__ = []
