"""Adversarial blur kernels under a fidelity budget (being written)."""

__all__: list[str] = []
