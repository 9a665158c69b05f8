"""Placeholder: filled in by the motion kernel family work."""

__all__: list[str] = []
