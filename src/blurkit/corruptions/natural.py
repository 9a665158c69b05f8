"""Placeholder: natural-blur corruption families."""

__all__: list[str] = []
