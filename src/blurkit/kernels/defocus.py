"""Placeholder: filled in by the defocus kernel family work."""

__all__: list[str] = []
