"""Files written whole or not at all: a temporary sibling, renamed into place when complete."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
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


def check_writable(path: str | Path, folder: bool = False) -> None:
    """Refuse, before any work, a place where nothing can be written: `path` (a folder, or a
    file's path) is probed at its nearest existing folder by creating and removing a file. A
    folder on the way that is a file, or a symbolic link to nothing (an unmounted disk), is
    named; with `folder`, `path` itself must be a folder or not exist yet."""
    from pvst.errors import PvstError

    path = Path(path)
    for above in [path, *path.parents] if folder else path.parents:
        if above.is_symlink() and not above.exists():
            raise PvstError(
                f"{above}: a symbolic link to {os.readlink(above)}, which does not exist (a disk "
                "not mounted?); create that folder, or remove the link"
            )
        if above.exists() and not above.is_dir():
            raise PvstError(
                f"{above}: is a file, but pvst keeps a folder there; move the file away"
            )
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


# Room kept beside an estimate: what the estimate leaves out (compression aside, the HDF5
# structure, logs, other writers) must not fill the disk either.
SPACE_MARGIN = 1.1


def _nearest_folder(path: Path) -> Path:
    folder = path if path.is_dir() else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def gigabytes(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def check_space(path: str | Path, needed: int, what: str) -> None:
    """Refuse, before any work, to write about `needed` bytes (`what`) at `path` when its
    disk has not that much free (with a margin)."""
    from pvst.errors import PvstError

    folder = _nearest_folder(Path(path))
    free = shutil.disk_usage(folder).free
    if needed * SPACE_MARGIN > free:
        raise PvstError(
            f"{path}: {what} needs about {gigabytes(needed)} in {folder}, {gigabytes(free)} "
            "free; free some space (or point results/ elsewhere) and run again"
        )


def out_of_space(exc: BaseException) -> bool:
    """Whether an error is a full disk (or quota): errno ENOSPC/EDQUOT, or HDF5's message."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return "No space left on device" in text or "errno = 28" in text
