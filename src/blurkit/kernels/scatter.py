"""Placeholder: filled in by the scatter kernel family work."""

__all__: list[str] = []
