"""Placeholder: spatially varying blur (depth maps, zoom, product convolution)."""

__all__: list[str] = []
