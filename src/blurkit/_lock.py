"""One run per output folder: the ``OUT/.lock`` file of the commands that write ``--out``.

``blurkit evaluate``, ``train``, ``study`` and ``attack`` take the lock before they write.
The lock file holds the owner's pid, host name and command as JSON. Another run that
finds the lock is refused with :class:`OutputLockedError`, naming the owner. A lock left
by a process that is gone (same host, pid not alive) is stale: it is taken over with a
warning. The lock is removed when its holder releases it (at the end of the command,
also after an error).

Taking the lock is race-free on a local file system: the check and the write happen
under an exclusive ``fcntl.flock`` on the lock file, which the holder keeps for its
whole run. A lock written on another host cannot be checked; it is refused with a hint
to delete the file when no run is active.
"""

from __future__ import annotations

import json
import os
import socket
import time
import warnings
from pathlib import Path

from ._checks import BlurkitError, ParameterError

__all__ = ["LOCK_NAME", "OutLock", "OutputLockedError", "lock_out_dir", "pid_alive"]

#: the lock file's name inside the output folder
LOCK_NAME = ".lock"

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: the pid check alone
    fcntl = None


class OutputLockedError(BlurkitError, RuntimeError):
    """The output folder is in use by another run."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _read_owner(fd: int) -> dict | None:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = b""
    while chunk := os.read(fd, 65536):
        raw += chunk
        if len(raw) > 1 << 20:
            break
    if not raw.strip():
        return None
    try:
        d = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return {"unreadable": raw[:80].decode("utf-8", "replace")}
    return d if isinstance(d, dict) else {"unreadable": str(d)[:80]}


class OutLock:
    """The lock of one output folder, held by this process (see :func:`lock_out_dir`)."""

    def __init__(self, out: str | os.PathLike, command: str) -> None:
        self.out = Path(out)
        self.path = self.out / LOCK_NAME
        self.command = command
        self._fd: int | None = None
        self.took_over: dict | None = None

    def acquire(self) -> OutLock:
        out = self.out
        if out.exists() and not out.is_dir():
            raise ParameterError(f"--out: {str(out)!r} is an existing file; expected a folder")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):  # a parent is a file
            raise ParameterError(
                f"--out: cannot create the folder {str(out)!r}: a part of the path is a file"
            ) from None
        except PermissionError:
            raise ParameterError(
                f"--out: cannot create the folder {str(out)!r}: permission denied"
            ) from None
        for _ in range(20):  # retried only if the file is replaced while we open it
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except PermissionError:
                raise ParameterError(
                    f"--out: {str(out)!r} is not writable (cannot create {LOCK_NAME})"
                ) from None
            try:
                if fcntl is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:  # a live blurkit run holds it
                        self._refuse(_read_owner(fd) or {})
                    if os.fstat(fd).st_ino != _ino(self.path):  # released and removed meanwhile
                        os.close(fd)
                        continue
                owner = _read_owner(fd)
                if owner is not None:
                    self._check_owner(owner)
                record = {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "command": self.command,
                    "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, (json.dumps(record) + "\n").encode())
                os.fsync(fd)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
            return self
        raise OutputLockedError(f"--out: could not take {self.path} (it keeps changing)")

    def _check_owner(self, owner: dict) -> None:
        pid, host = owner.get("pid"), owner.get("host")
        if owner.get("unreadable") is not None or not isinstance(pid, int):
            warnings.warn(
                f"{self.path}: taking over an unreadable lock file", RuntimeWarning, stacklevel=4
            )
            self.took_over = owner
            return
        if pid == os.getpid() and host == socket.gethostname():
            raise OutputLockedError(f"--out: {str(self.out)!r} is already locked by this process")
        if host != socket.gethostname():
            self._refuse(owner, remote=True)
        if pid_alive(pid):
            self._refuse(owner)
        warnings.warn(
            f"{self.path}: taking over a stale lock of pid {pid} "
            f"({owner.get('command', '?')}, started {owner.get('started', '?')}), "
            "which is no longer running",
            RuntimeWarning,
            stacklevel=4,
        )
        self.took_over = owner

    def _refuse(self, owner: dict, remote: bool = False) -> None:
        who = f"pid {owner.get('pid', '?')} on {owner.get('host', '?')}"
        what = owner.get("command")
        since = owner.get("started")
        detail = who + (f" ({what}" + (f", since {since})" if since else ")") if what else "")
        hint = (
            f"; if no run is active there, delete {self.path}"
            if remote
            else "; wait for it to finish or choose another --out"
        )
        raise OutputLockedError(
            f"--out: {str(self.out)!r} is in use by another run, {detail}{hint}"
        )

    def release(self) -> None:
        """Remove the lock file (if it is still ours) and drop the lock."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            owner = _read_owner(fd)
            if owner and owner.get("pid") == os.getpid() and os.fstat(fd).st_ino == _ino(self.path):
                os.unlink(self.path)
        except OSError:
            pass
        finally:
            os.close(fd)

    def __enter__(self) -> OutLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _ino(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def lock_out_dir(out: str | os.PathLike, command: str) -> OutLock:
    """Take the lock of ``out`` (created if needed) for ``command``; release it with
    ``.release()`` or use the result as a context manager.

    Under ``torchrun`` only rank 0 (which writes the results) takes the lock; the other
    ranks get a lock object that does nothing.

    Raises:
        OutputLockedError: another live run holds the folder.
        ParameterError: ``out`` is a file, or cannot be created or written.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> with lock_out_dir(d, "evaluate"):
        ...     (Path(d) / LOCK_NAME).exists()
        True
        >>> (Path(d) / LOCK_NAME).exists()
        False
    """
    lock = OutLock(out, command)
    if int(os.environ.get("RANK", "0") or 0) != 0:
        return lock
    return lock.acquire()
