"""Files written whole or not at all: a temporary sibling, renamed into place when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

TMP_MARK = ".tmp-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temps(path: Path) -> None:
    """Delete temporary files of earlier writers of `path` that are no longer running."""
    for tmp in path.parent.glob(f".{path.name}{TMP_MARK}*"):
        try:
            pid = int(tmp.name.rsplit(TMP_MARK, 1)[1].split("-")[0])
        except ValueError:
            continue
        if not _pid_alive(pid):
            tmp.unlink(missing_ok=True)


def temp_path(path: str | Path) -> Path:
    """A temporary sibling of `path` that names the writing process."""
    path = Path(path)
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}-{time.monotonic_ns()}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to `path` on success, delete it on error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_writable(path: str | Path) -> None:
    """Refuse, before any work, a place where nothing can be written: `path` (a folder, or a
    file's path) is probed at its nearest existing folder by creating and removing a file."""
    from pvst.errors import PvstError

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".pvst-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PvstError(
            f"{path}: cannot write there ({folder}: {exc.strerror or exc}); choose a folder "
            "you can write to"
        ) from None
