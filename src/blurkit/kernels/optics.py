"""Placeholder: filled in by the optics kernel family work."""

__all__: list[str] = []
