"""The artifact store: every HDF5 read and write of pvst goes through here.

An artifact is one HDF5 file made by one stage. It carries as attributes the stage name, the
stage's parameters, the key derived from them and from its inputs' keys, the paths it was made
from, and the pvst version. It is written under a temporary name and renamed into place only
when complete, so a file at an artifact's path is always whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import h5py
import numpy as np

from pvst import __version__
from pvst.atomic import atomic_path
from pvst.errors import ArtifactError


def canonical(obj: Any) -> str:
    """Stable JSON text of parameters: sorted keys, no spaces."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


KEY_LENGTH = 10  # hex digits of an artifact's key
KEY_PATTERN = f"[0-9a-f]{{{KEY_LENGTH}}}"


def params_key(
    stage: str, params: Mapping, input_keys: Sequence[str] = (), version: int = 1
) -> str:
    """Short hash naming an artifact by its stage, its parameters and its inputs' keys."""
    text = canonical({"stage": stage, "v": version, "params": params, "inputs": list(input_keys)})
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def stamp(path: str | Path, what: object) -> str:
    """Write `what` as JSON to `path` unless the file already says exactly that.

    Outputs with fixed names (results/{video}_{variant}.mp4, metrics, figures) take such a file
    as an input: it becomes newer than them only when what they are made from changes, so they
    are remade then even where Snakemake has no records of earlier runs (a fresh clone, results
    fetched with `dvc pull`), and not otherwise."""
    path = Path(path)
    text = json.dumps(what, sort_keys=True, default=str)
    if not path.is_file() or path.read_text() != text:
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    return str(path)


@contextlib.contextmanager
def create(
    path: str | Path,
    stage: str,
    params: Mapping,
    key: str | None = None,
    inputs: Mapping[str, str] | None = None,
) -> Iterator[h5py.File]:
    """Write an artifact atomically; yields the open HDF5 file.

    `inputs` maps a role (e.g. "frames") to the path of the file it was made from; their
    keys, where they are artifacts, are recorded too.
    """
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        write_provenance(f, stage, params, key, inputs)
        yield f
        f.attrs["complete"] = True


def write_provenance(
    f: h5py.File,
    stage: str,
    params: Mapping,
    key: str | None,
    inputs: Mapping[str, str] | None,
) -> None:
    """Record how an artifact was made."""
    inputs = dict(inputs or {})
    f.attrs["stage"] = stage
    f.attrs["params"] = canonical(params)
    f.attrs["key"] = key or ""
    f.attrs["inputs"] = canonical(inputs)
    f.attrs["input_keys"] = canonical({role: input_key(p) for role, p in inputs.items()})
    f.attrs["pvst_version"] = __version__
    f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    f.attrs["complete"] = False


def input_key(path: str | Path) -> str:
    """The key of an artifact, or '' for a plain file."""
    path = Path(path)
    if path.suffix != ".h5" or not path.is_file():
        return ""
    with contextlib.suppress(OSError), h5py.File(path, "r") as f:
        return str(f.attrs.get("key", ""))
    return ""


def _diff(stored: dict, wanted: dict, prefix: str = "") -> list[str]:
    lines = []
    for key in sorted(set(stored) | set(wanted)):
        a, b = stored.get(key, "<unset>"), wanted.get(key, "<unset>")
        if isinstance(a, dict) and isinstance(b, dict):
            lines += _diff(a, b, f"{prefix}{key}.")
        elif canonical(a) != canonical(b):
            lines.append(f"{prefix}{key}={canonical(b)} was asked for, the file has {canonical(a)}")
    return lines


def open_artifact(
    path: str | Path,
    stage: str | None,
    params: Mapping | None = None,
    key: str | None = None,
) -> h5py.File:
    """Open a finished artifact for reading, checking that it is what the caller asked for:
    its stage, that it is complete, its key and parameters, and that its datasets have the
    shapes its attributes promise.

    `stage` None accepts an artifact of any stage. A damaged or foreign file at the path of a
    `stage` artifact (results/…/{stage}-{key}.h5) is moved aside, so that running the workflow
    again makes it anew; any other file is left where it is.
    """
    path = Path(path)
    if path.is_dir():
        raise ArtifactError(f"{path}: is a folder, not an artifact (an .h5 file a stage wrote)")
    if not path.is_file():
        made_by = f"the '{stage}' stage" if stage else "its stage"
        raise ArtifactError(f"{path}: artifact not found (run {made_by} first)")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise _damaged(path, stage, f"not a readable HDF5 file ({exc})") from None
    try:
        found = f.attrs.get("stage")
        if found is None or "params" not in f.attrs:
            raise _damaged(
                path, stage, "an HDF5 file that no pvst stage wrote (no stage or parameters)"
            )
        if stage is not None and found != stage:
            raise _damaged(path, stage, f"holds a '{found}' artifact, expected '{stage}'")
        if not f.attrs.get("complete", False):
            raise _damaged(path, stage, "incomplete artifact (its writer was interrupted)")
        problem = outside_storage(f) or inconsistency(f)
        if problem:
            raise _damaged(path, stage, f"inconsistent artifact: {problem}")
        if key is not None and f.attrs.get("key") != key:
            raise ArtifactError(f"{path}: has key {f.attrs.get('key')!r}, expected {key!r}")
        if params is not None:
            stored = json.loads(f.attrs["params"])
            wanted = json.loads(canonical(params))
            if stored != wanted:
                diff = "; ".join(_diff(stored, wanted))
                raise ArtifactError(
                    f"{path}: was made with other {stage} parameters ({diff}); "
                    "delete it or rerun the stage"
                )
    except Exception:
        f.close()
        raise
    return f


def _damaged(path: Path, stage: str | None, what: str) -> ArtifactError:
    """The error for a file that cannot be the artifact at its path; moved aside (to
    PATH.damaged) when the path is that of a `stage` artifact, so the workflow remakes it."""
    if stage is None or not re.fullmatch(rf"{stage}-{KEY_PATTERN}(-\d+of\d+)?\.h5", path.name):
        return ArtifactError(f"{path}: {what}")
    aside = path.with_name(path.name + ".damaged")
    try:
        os.replace(path, aside)
    except OSError as exc:
        return ArtifactError(f"{path}: {what}; delete it and run again to remake it ({exc})")
    return ArtifactError(
        f"{path}: {what}; moved aside to {aside.name}: run the workflow (or the stage) again "
        "to remake it"
    )


def outside_storage(group: h5py.Group) -> str | None:
    """What in an artifact reads another file (an external or soft link, a dataset with
    external storage, a virtual dataset), or None: a stage writes none, and a forged one would
    hand that file's bytes on (e.g. /etc/passwd encoded as frames)."""
    for name in group:
        link = group.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink | h5py.SoftLink):
            return f"'{group.name.rstrip('/')}/{name}' is a link to {link.path!r}"
        item = group.get(name)
        if isinstance(item, h5py.Group):
            problem = outside_storage(item)
            if problem:
                return problem
        elif isinstance(item, h5py.Dataset) and (item.external or item.is_virtual):
            where = item.external[0][0] if item.external else "other files (virtual)"
            return f"'{item.name}' keeps its data outside the artifact ({where!r})"
    return None


def inconsistency(f: h5py.File) -> str | None:
    """What an artifact's datasets contradict in its attributes (`count` frames of `size`),
    or None. Frame stacks (frames, labels, flows) hold `count` items (a part: t1 − t0) of the
    frames' size; a Laplacian holds one entry per frame."""
    count = f.attrs.get("count")
    if count is not None and "t0" in f.attrs:  # a part: frames t0 … t1 − 1 of the clip
        count = int(f.attrs["t1"]) - int(f.attrs["t0"])
    size = f.attrs.get("size")
    try:
        for name in ("frames", "labels", *(f"{g}/backward" for g in f if g.startswith("j"))):
            if name not in f or not isinstance(f[name], h5py.Dataset):
                continue
            shape = f[name].shape
            if count is not None and (len(shape) < 3 or shape[0] != int(count)):
                return (
                    f"'{name}' holds {shape[0] if shape else 0} frames, its count says {int(count)}"
                )
            if size is not None and name != "labels" and tuple(shape[2:0:-1]) != tuple(size):
                return (
                    f"'{name}' frames are {shape[2]}×{shape[1]}, its size says {size[0]}×{size[1]}"
                )
            if name == "frames" and shape[3:] != (3,):
                return f"'frames' has shape {shape}, not N×H×W×3"
        if "L" in f and count is not None and len(f["L"]) != int(count):
            return f"'L' holds {len(f['L'])} Laplacians, its count says {int(count)}"
    except (OSError, KeyError, ValueError, TypeError) as exc:
        return f"unreadable structure ({exc})"
    return None


class OpenArtifact:
    """Read access to one artifact (checked by open_artifact); a context manager that closes
    its file. Each stage's reader builds on it; names are HDF5 paths such as "j1/flow"."""

    def __init__(self, path: str | Path, stage: str | None, params: Mapping | None = None) -> None:
        self.path = Path(path)
        self._f = open_artifact(path, stage, params)

    def has(self, name: str) -> bool:
        return name in self._f

    def names(self, group: str) -> list[str]:
        """The entries of a group, sorted ([] when there is no such group)."""
        return sorted(self._f[group]) if group in self._f else []

    def array(self, name: str, index: Any = ()) -> np.ndarray:
        """A dataset read into memory: whole, or `index` of it (an item, a slice)."""
        return self._f[name][index]

    def dataset(self, name: str) -> h5py.Dataset:
        """A dataset left on disk, for reading item by item."""
        return self._f[name]

    def attr(self, name: str, default: Any = None) -> Any:
        return self._f.attrs.get(name, default)

    @property
    def attrs(self) -> dict:
        return dict(self._f.attrs)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def set_attrs(f: h5py.File, **values: Any) -> None:
    """Record attributes of an artifact being written."""
    f.attrs.update(values)


def copy_dataset(source: OpenArtifact, name: str, f: h5py.File) -> None:
    """Copy a dataset of another artifact into one being written, as stored (compressed
    chunks are not decoded)."""
    parent, _, leaf = name.rpartition("/")
    source._f.copy(source._f[name], f.require_group(parent) if parent else f, leaf)


def read_params(f: h5py.File) -> dict:
    """The parameters an artifact was made with."""
    return json.loads(f.attrs["params"])


def describe(path: str | Path) -> dict:
    """Provenance and dataset shapes of an artifact, for people."""
    out: dict[str, Any] = {"path": str(path)}
    with open_artifact(path, None) as f:
        for name, value in f.attrs.items():
            if name in ("params", "inputs", "input_keys"):
                value = json.loads(value)
            elif isinstance(value, np.generic):
                value = value.item()
            elif isinstance(value, np.ndarray):
                value = value.tolist()
            out[name] = value
        shapes = {}
        f.visititems(
            lambda n, o: (
                shapes.__setitem__(n, f"{o.shape} {o.dtype}")
                if isinstance(o, h5py.Dataset)
                else None
            )
        )
        out["datasets"] = shapes
    return out


def write_array(
    group: h5py.Group,
    name: str,
    data: np.ndarray,
    chunks: tuple[int, ...] | bool | None = True,
    level: int = 1,
) -> h5py.Dataset:
    """A chunked, compressed dataset (gzip; byte shuffle for multi-byte types)."""
    data = np.asarray(data)
    if data.size == 0 or data.ndim == 0:
        return group.create_dataset(name, data=data)
    return group.create_dataset(
        name,
        data=data,
        chunks=chunks,
        compression="gzip",
        compression_opts=level,
        shuffle=data.dtype.itemsize > 1,
    )


def create_stack(
    group: h5py.Group,
    name: str,
    shape: tuple[int, ...],
    dtype: Any,
    level: int = 1,
    growing: bool = False,
) -> h5py.Dataset:
    """An empty N×… dataset chunked one item per chunk, filled item by item; `growing`: N
    starts at shape[0] and the writer resizes it as items come (their count unknown)."""
    if shape[0] == 0 and not growing:  # nothing to chunk
        return group.create_dataset(name, shape=shape, dtype=dtype)
    return group.create_dataset(
        name,
        shape=shape,
        dtype=dtype,
        chunks=(1, *shape[1:]),
        compression="gzip",
        compression_opts=level,
        shuffle=np.dtype(dtype).itemsize > 1,
        **({"maxshape": (None, *shape[1:])} if growing else {}),
    )
