"""Shared settings of the property-based (hypothesis) suite over the public API.

Every test here runs under a memory cap (``resource.setrlimit(RLIMIT_AS)``), so an
allocation sized by an unchecked argument fails the test with ``MemoryError`` (or a
RuntimeError from torch's allocator) instead of taking the machine. The cap leaves
room for torch, numpy and OpenCV themselves (address space, not resident memory).

Profiles: ``ci`` (the default; few examples per test so the suite stays around a
minute) and ``thorough`` (``HYPOTHESIS_PROFILE=thorough``, for a campaign).
"""

from __future__ import annotations

import os
import resource

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: address-space cap for the property tests, above what torch + numba + OpenCV map at import
MEMORY_CAP_BYTES = int(float(os.environ.get("BLURKIT_TEST_MEMORY_CAP_GB", "16")) * 2**30)


@pytest.fixture(autouse=True)
def memory_cap():
    """Cap the address space while a property test runs; restore it afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = MEMORY_CAP_BYTES if hard == resource.RLIM_INFINITY else min(MEMORY_CAP_BYTES, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield cap
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
