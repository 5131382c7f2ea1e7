"""Compare two results/ folders made by two versions of pvst (e.g. `make demo` before and after
a refactoring): videos, images and stamps byte for byte; HDF5 artifacts object for object, every
dataset's values, dtype and shape and every attribute, except what records when and how fast an
artifact was made (the `created` attribute, the per-frame `seconds`). Logs and the fingerprint
cache (absolute paths and times) are left out.

    python benchmarks/compare_results.py BEFORE/results AFTER/results

Prints a line a file and exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np

# what an artifact records about the run, not its contents
RUN_ATTRS = {"created"}
RUN_DATASETS = {"seconds"}
SKIPPED = ("logs", ".cache")


def files(root: Path) -> list[Path]:
    return sorted(
        p.relative_to(root)
        for p in root.rglob("*")
        if p.is_file() and not set(p.relative_to(root).parts) & set(SKIPPED)
    )


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def artifact_differences(a: Path, b: Path) -> list[str]:
    """What differs between two HDF5 artifacts (empty: the same contents)."""
    out = []
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names_a, names_b = ["/"], ["/"]
        fa.visit(names_a.append)
        fb.visit(names_b.append)
        if names_a != names_b:
            out.append(f"objects {sorted(set(names_a) ^ set(names_b))}")
        for name in (n for n in names_a if n in fb):
            oa, ob = fa[name], fb[name]
            attrs_a = {k: v for k, v in oa.attrs.items() if k not in RUN_ATTRS}
            attrs_b = {k: v for k, v in ob.attrs.items() if k not in RUN_ATTRS}
            if set(attrs_a) != set(attrs_b):
                out.append(f"{name}: attributes {sorted(set(attrs_a) ^ set(attrs_b))}")
            out += [
                f"{name}@{k}" for k in attrs_a if k in attrs_b and not _same(attrs_a[k], attrs_b[k])
            ]
            dataset = isinstance(oa, h5py.Dataset) and name.split("/")[-1] not in RUN_DATASETS
            if dataset and (not isinstance(ob, h5py.Dataset) or not _same(oa[()], ob[()])):
                out.append(f"{name}: values")
    return out


def compare(before: Path, after: Path) -> list[str]:
    """A line a file of either folder; lines of differences start with 'DIFFERS'."""
    lines = []
    names_a, names_b = files(before), files(after)
    for rel in sorted(set(names_a) ^ set(names_b)):
        lines.append(f"DIFFERS {rel}: only in {before if rel in names_a else after}")
    for rel in sorted(set(names_a) & set(names_b)):
        a, b = before / rel, after / rel
        if a.read_bytes() == b.read_bytes():
            lines.append(f"same    {rel}: identical bytes")
        elif rel.suffix == ".h5":
            diffs = artifact_differences(a, b)
            if diffs:
                lines.append(f"DIFFERS {rel}: {'; '.join(diffs[:8])}")
            else:
                lines.append(f"same    {rel}: identical contents (bytes differ: time of making)")
        else:
            lines.append(f"DIFFERS {rel}: bytes")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    args = ap.parse_args()
    lines = compare(args.before, args.after)
    print("\n".join(lines))
    return 1 if any(line.startswith("DIFFERS") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
