"""One small registry for everything blurkit names: kernels, corruptions, models, measures
and blur families.

Modelled on timm's ``register_model``: entries are registered where they are defined
(a decorator or one call at module level), looked up by name with a typed error that
suggests the closest names ("did you mean"), listed sorted, and may carry metadata.
A :class:`Registry` is a read-only mapping, so ``registry[name]``, ``in`` and
iteration (in registration order) work as on a dict.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from ._checks import BlurkitError, ParameterError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Entries by name.

    Args:
        label: the prefix of error messages (the parameter that names an entry, e.g.
            ``"kernel"``).
        what: how an unknown name is called in the error (``"unknown family 'x'"``).
        known: how the list of registered names is introduced in the error.
        hint: text appended to the unknown-name error (other accepted spellings).
        error: the typed error raised for an unknown name.

    Example:
        >>> r = Registry("colour", what="colour")
        >>> @r.register("red", hex="#f00")
        ... def red():
        ...     return "red"
        >>> r["red"](), r.metadata("red"), r.names()
        ('red', {'hex': '#f00'}, ['red'])
        >>> r.get_entry("rde")
        Traceback (most recent call last):
        ...
        blurkit._checks.ParameterError: colour: unknown colour 'rde' (did you mean 'red'?); known: red
    """

    def __init__(
        self,
        label: str,
        *,
        what: str = "name",
        known: str = "known",
        hint: str = "",
        error: type[BlurkitError] = ParameterError,
    ) -> None:
        self.label, self.what, self.known, self.hint, self.error = label, what, known, hint, error
        self._entries: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    # -- registration --------------------------------------------------------
    def add(self, name: str, entry: T, **metadata: Any) -> T:
        """Register ``entry`` under ``name`` (again with the same entry is a no-op).

        Raises:
            ParameterError: ``name`` is not a non-empty string, or is taken by another entry.
        """
        if not isinstance(name, str) or not name:
            raise ParameterError(f"{self.label}: expected a non-empty name, got {name!r}")
        if name in self._entries and self._entries[name] is not entry:
            raise ParameterError(f"{self.label}: the name {name!r} is already registered")
        self._entries[name] = entry
        self._meta[name] = dict(metadata)
        return entry

    def register(self, name: str | None = None, **metadata: Any) -> Callable[[T], T]:
        """Decorator form of :meth:`add` (``name`` defaults to the object's ``__name__``)."""

        def deco(entry: T) -> T:
            self.add(name if name is not None else entry.__name__, entry, **metadata)
            return entry

        return deco

    def pop(self, name: str, *default: Any) -> T:
        """Remove and return an entry (tests registering temporary entries clean up with it)."""
        self._meta.pop(name, None)
        return self._entries.pop(name, *default)

    # -- lookup --------------------------------------------------------------
    def get_entry(self, name: str) -> T:
        """The entry registered under ``name``; an unknown name raises the typed error,
        suggesting the closest registered names."""
        if isinstance(name, str) and name in self._entries:
            return self._entries[name]
        raise self.error(self.unknown_message(name))

    def unknown_message(self, name: object) -> str:
        """The message of the unknown-name error for ``name``."""
        names = self.names()
        close = (
            difflib.get_close_matches(name, names, n=3, cutoff=0.6) if isinstance(name, str) else []
        )
        maybe = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        return (
            f"{self.label}: unknown {self.what} {name!r}{maybe}; "
            f"{self.known}: {', '.join(names)}{self.hint}"
        )

    def names(self, where: Callable[[T], bool] | None = None) -> list[str]:
        """Registered names, sorted (those whose entry satisfies ``where``)."""
        return sorted(n for n, e in self._entries.items() if where is None or where(e))

    def metadata(self, name: str) -> dict[str, Any]:
        """A copy of the metadata given at registration."""
        self.get_entry(name)
        return dict(self._meta[name])

    # -- Mapping -------------------------------------------------------------
    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.label!r}, {self.names()})"
