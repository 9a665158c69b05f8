"""Placeholder: the five ImageNet-C blur families."""

__all__: list[str] = []
