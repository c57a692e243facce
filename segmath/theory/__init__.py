"""Closed forms and verify_* checks behind the book's theorems (being written)."""
