"""Content fingerprints of the plain files that artifacts are made from (clips, photos, masks and
keyframe folders, weights, checkpoints): they enter the artifacts' keys, so a file edited in
place gives new keys, and what was made from it is made again (and the old results stay where
they are, should the file come back).

A fingerprint is a hash of the file's bytes (of every file's name and bytes, for a folder),
cached by path, size, modification and change time in results/.cache/fingerprints.json, so
that a large clip is read once, not on every plan.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pvst.atomic import atomic_path
from pvst.errors import PvstError

CACHE = Path("results") / ".cache" / "fingerprints.json"
LENGTH = 16  # hex digits
_cache: dict[str, list] | None = None


def _load() -> dict[str, list]:
    global _cache
    if _cache is None:
        try:
            _cache = json.loads(CACHE.read_text())
        except (OSError, ValueError):
            _cache = {}
    return _cache


def _save() -> None:
    try:
        with atomic_path(CACHE) as tmp:
            tmp.write_text(json.dumps(_cache, sort_keys=True))
    except OSError:  # a read-only checkout: the hashes are only not remembered
        pass


def _file(path: Path) -> str:
    st = path.stat()
    stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    name = str(path.resolve())
    cache = _load()
    if name in cache and cache[name][:3] == stamp:
        return cache[name][3]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    value = digest.hexdigest()[:LENGTH]
    cache[name] = [*stamp, value]
    _save()
    return value


def fingerprint(path: str | Path) -> str:
    """The hash of a file's content, or of a folder's files (names and contents)."""
    path = Path(path)
    if not path.exists():
        raise PvstError(f"{path}: not found")
    if not path.is_dir():
        return _file(path)
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            if name.startswith("."):
                continue
            inner = Path(root) / name
            digest.update(f"{inner.relative_to(path).as_posix()}={_file(inner)};".encode())
    return digest.hexdigest()[:LENGTH]
