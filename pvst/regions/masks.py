"""The `masks` method: DPST's colour-coded masks, one PNG for every frame (or for the one
image) or keyframes named by frame index, carried along the flow to the frames between."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
from PIL import Image

from pvst.errors import PvstError
from pvst.media import open_image
from pvst.params import SegmentationParams
from pvst.regions.labels import Found, _size, warp_labels

log = logging.getLogger(__name__)

# Deep Photo Style Transfer's colour codes: a channel is on above 0.9, off below 0.1; grey has
# every channel in (0.4, 0.6).
DPST_COLOURS: dict[str, tuple[float, float, float]] = {
    "blue": (0, 0, 1),
    "green": (0, 1, 0),
    "black": (0, 0, 0),
    "white": (1, 1, 1),
    "red": (1, 0, 0),
    "yellow": (1, 1, 0),
    "grey": (0.5, 0.5, 0.5),
    "lightblue": (0, 1, 1),
    "purple": (1, 0, 1),
}
COLOUR_NAMES = list(DPST_COLOURS)


# -- colour-coded masks ------------------------------------------------------------------------
def colour_code_hits(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Per DPST colour name, the pixels of a uint8 RGB mask that match its code exactly."""
    x = rgb.astype(np.float32) / 255.0
    on, off = x > 0.9, x < 0.1
    hits = {}
    for name, code in DPST_COLOURS.items():
        if name == "grey":
            hits[name] = ((x > 0.4) & (x < 0.6)).all(-1)
        else:
            hits[name] = np.where(np.asarray(code, bool), on, off).all(-1)
    return hits


def decode_colours(rgb: np.ndarray, source: str = "mask") -> tuple[np.ndarray, dict[str, int]]:
    """Labels (indices into COLOUR_NAMES) of a DPST colour-coded mask (uint8 RGB).

    Returns (labels, unmatched) where `unmatched` counts, per colour (as '#rrggbb'), the pixels
    that match no code; they get the nearest code and a warning names them.
    """
    x = rgb.astype(np.float32) / 255.0
    labels = np.full(x.shape[:2], -1, np.int16)
    for i, hit in enumerate(colour_code_hits(rgb).values()):
        labels[hit & (labels < 0)] = i
    unmatched: dict[str, int] = {}
    miss = labels < 0
    if miss.any():
        colours, counts = np.unique(rgb[miss].reshape(-1, 3), axis=0, return_counts=True)
        order = np.argsort(-counts)
        for c, n in zip(colours[order], counts[order], strict=True):
            unmatched["#{:02x}{:02x}{:02x}".format(*tuple(int(v) for v in c))] = int(n)
        codes = np.asarray(list(DPST_COLOURS.values()), np.float32)
        dist = ((x[miss][:, None, :] - codes[None]) ** 2).sum(-1)
        labels[miss] = dist.argmin(1)
        shown = ", ".join(f"{c} ({n} px)" for c, n in list(unmatched.items())[:5])
        more = f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else ""
        log.warning(
            "%s: %d pixels match no DPST colour code: %s%s; each gets the nearest code",
            source,
            int(miss.sum()),
            shown,
            more,
        )
    return labels.astype(np.int64), unmatched


# A mask may differ in aspect from its photo by this much (rounding when either was resized).
MASK_ASPECT_TOLERANCE = 0.03


def read_colour_mask(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a colour-coded mask PNG, resized to (width, height) with nearest neighbour."""
    path = Path(path)
    if not path.is_file():
        raise PvstError(f"{path}: mask file not found")
    try:
        with open_image(path) as im:
            im.load()
            mode = im.mode
            if mode in ("I", "I;16", "I;16B", "F", "CMYK", "YCbCr", "LAB", "HSV"):
                raise PvstError(
                    f"{path}: mask has mode {mode}; expected an 8-bit RGB "
                    "colour-coded PNG (DPST colours)"
                )
            if mode in ("L", "1", "LA"):
                log.warning("%s: a grey-level mask codes only black, grey and white", path)
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise PvstError(f"{path}: not an image ({exc})") from None
    if size is not None and (rgb.shape[1], rgb.shape[0]) != tuple(size):
        mh, mw = rgb.shape[:2]
        if abs((mw / mh) / (size[0] / size[1]) - 1) > MASK_ASPECT_TOLERANCE:
            raise PvstError(
                f"{path}: the mask is {mw}×{mh} but its photo is {size[0]}×{size[1]} (at the "
                "size it is used); another shape, so it would be stretched: make the mask from "
                "the photo itself"
            )
        rgb = np.asarray(Image.fromarray(rgb).resize(tuple(size), Image.Resampling.NEAREST))
    labels, _ = decode_colours(rgb, str(path))
    if len(np.unique(labels)) == 1:
        log.warning(
            "%s: the whole mask is %s; it makes one region (no segmentation)",
            path,
            COLOUR_NAMES[int(labels.flat[0])],
        )
    return labels


def find(frames, flows, style, params: SegmentationParams) -> Found:
    """The content's masks (every frame's, or keyframes' carried along the flow) and the
    style photo's."""
    spec = params.masks
    if not spec.style or not spec.content:
        raise PvstError(
            "segmentation.masks needs both `content` (a PNG or a folder of "
            "PNGs) and `style` (a PNG) for method: masks"
        )
    n, size = len(frames), _size(frames)
    style_labels = read_colour_mask(spec.style, (style.shape[1], style.shape[0]))
    keys = keyframes(spec.content, n, size)
    if EVERY_FRAME in keys:
        labels = np.repeat(keys[EVERY_FRAME][None], n, axis=0)
    else:
        labels = propagate(keys, flows, n)
    return Found(labels, style_labels, list(COLOUR_NAMES))


EVERY_FRAME = -1


# A keyframe mask's name: its frame index, optionally after a word (000045.png, mask_45.png).
KEYFRAME = r"(?:\w*?[_-])?(\d+)\.png"


def keyframes(source: str, n: int, size: tuple[int, int]) -> dict[int, np.ndarray]:
    """Content masks by frame index; one PNG (not a folder) is every frame's (EVERY_FRAME)."""
    path = Path(source)
    if path.is_file():
        return {EVERY_FRAME: read_colour_mask(path, size)}
    if not path.is_dir():
        raise PvstError(
            f"{path}: content masks not found (a PNG for every frame, or a folder "
            "of PNGs named by frame index, e.g. 000000.png, 000045.png)"
        )
    keys = {}
    past = []
    entries = [f for f in sorted(path.iterdir()) if f.is_file() and not f.name.startswith(".")]
    others = [f.name for f in entries if f.suffix.lower() != ".png"]
    if others:
        more = f" and {len(others) - 5} more" if len(others) > 5 else ""
        raise PvstError(
            f"{path}: a keyframe folder holds PNG masks named by frame index (000000.png, …); "
            f"it also holds {', '.join(others[:5])}{more}, which are not PNG: convert them to "
            "PNG or move them out"
        )
    unnamed = [f.name for f in entries if not re.fullmatch(KEYFRAME, f.name, re.IGNORECASE)]
    if unnamed:
        log.warning("%s: %s not named by frame index; ignored", path, ", ".join(unnamed[:5]))
    for f in entries:
        m = re.fullmatch(KEYFRAME, f.name, re.IGNORECASE)
        if m:
            t = int(m.group(1))
            if t >= n:
                log.warning("%s: frame %d is past the clip's %d frames; ignored", f, t, n)
                past.append(f.name)
                continue
            keys[t] = read_colour_mask(f, size)
    if not keys and past:
        raise PvstError(
            f"{path}: every mask ({', '.join(past[:5])}) names a frame past the clip's end "
            f"(it has {n} frames, 000000 to {n - 1:06d})"
        )
    if not keys:
        raise PvstError(f"{path}: no mask PNGs named by frame index (e.g. 000000.png)")
    return keys


def propagate(keys: dict[int, np.ndarray], flows, n: int) -> np.ndarray:
    """Label maps for all frames from masks of some keyframes, each frame taking the nearest
    keyframe in time and following the flow from it frame by frame."""
    first = next(iter(keys.values()))
    out = np.zeros((n, *first.shape), np.int64)
    ahead = [None] * n  # (distance, labels) carried forward from earlier keyframes
    behind = [None] * n
    for t in range(n):
        if t in keys:
            ahead[t] = (0, keys[t])
        elif t > 0 and ahead[t - 1] is not None:
            bwd, _ = flows.backward(t, 1)
            ahead[t] = (ahead[t - 1][0] + 1, warp_labels(ahead[t - 1][1], bwd))
    for t in range(n - 1, -1, -1):
        if t in keys:
            behind[t] = (0, keys[t])
        elif t < n - 1 and behind[t + 1] is not None:
            fwd, _ = flows.forward(t + 1)  # flow t → t+1 on frame t's pixels
            behind[t] = (behind[t + 1][0] + 1, warp_labels(behind[t + 1][1], fwd))
    crossed = set()
    cuts = flows.cuts if flows is not None else []
    for t in range(n):
        options = [o for o in (ahead[t], behind[t]) if o is not None]
        dist, labels = min(options, key=lambda o: o[0])
        out[t] = labels
        crossed.update(c for c in cuts if min(t, t - dist) < c <= max(t, t + dist))
    if crossed:
        log.warning(
            "masks were carried across scene cuts at frames %s: give a keyframe mask in every shot",
            sorted(crossed),
        )
    return out
