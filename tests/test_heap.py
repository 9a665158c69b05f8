"""blurkit._heap: the glibc malloc_trim call between evaluation batches."""

import platform

import pytest

from blurkit import _heap


@pytest.fixture(autouse=True)
def _fresh_lookup():
    _heap._malloc_trim.cache_clear()
    yield
    _heap._malloc_trim.cache_clear()


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="needs glibc"
)
def test_trim_runs_on_glibc():
    assert _heap.heap_trim_available()
    assert _heap.release_free_heap() is True


@pytest.mark.parametrize("off", ["0", "off", "false"])
def test_trim_turned_off_by_environment(monkeypatch, off):
    monkeypatch.setenv("BLURKIT_MALLOC_TRIM", off)
    assert not _heap.heap_trim_available()
    assert _heap.release_free_heap() is False


def test_trim_absent_is_a_no_op(monkeypatch):
    monkeypatch.setattr(_heap.ctypes, "CDLL", lambda *a, **k: (_ for _ in ()).throw(OSError("x")))
    assert _heap.release_free_heap() is False
