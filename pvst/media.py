"""Video and image input/output through ffmpeg (ffmpeg-python) and Pillow.

Uses the system ffmpeg when there is one, else the binary that imageio-ffmpeg ships.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path

import ffmpeg
import numpy as np
from PIL import Image, UnidentifiedImageError

from pvst.atomic import atomic_path
from pvst.errors import MediaError

log = logging.getLogger(__name__)


@cache
@cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary to run: the system's when it runs, else imageio-ffmpeg's. A
    system ffmpeg that does not run (broken, another architecture) is named, not taken for a
    bad clip."""
    system = shutil.which("ffmpeg")
    if system:
        problem = _runs(system)
        if problem is None:
            return system
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - imageio-ffmpeg is a pinned dependency
        raise MediaError(
            "no ffmpeg found: install ffmpeg or `pip install imageio-ffmpeg`"
        ) from None
    bundled = imageio_ffmpeg.get_ffmpeg_exe()
    if system:
        log.warning("%s (first on PATH) does not run (%s); using %s", system, problem, bundled)
    return bundled


def _runs(exe: str) -> str | None:
    """Why `exe -version` fails, or None when it runs."""
    try:
        r = subprocess.run([exe, "-version"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if r.returncode != 0 or b"ffmpeg" not in r.stdout[:200].lower():
        tail = (r.stderr or r.stdout).decode(errors="replace").strip().splitlines()[-1:]
        return f"exit status {r.returncode}{': ' + tail[0] if tail else ''}"
    return None


@dataclass(frozen=True)
class VideoInfo:
    """What a clip's header says about the video stream pvst reads: the one marked default,
    else the first (cover art, an "attached pic", never)."""

    width: int
    height: int
    fps: float
    rotation: int
    duration: float | None
    codec: str
    sar: float = 1.0
    audio: tuple[str, ...] = ()  # codecs of the audio streams, in order
    stream: int = 0  # its place among the clip's video streams (ffmpeg's 0:v:N)
    streams: int = 1  # the clip's video streams, cover art not counted
    pixel_format: str = ""

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as shown: pixel aspect applied, then the rotation ffmpeg applies."""
        w, h = round(self.width * self.sar), self.height
        if self.rotation % 180:
            return h, w
        return w, h


_STREAM = re.compile(r"Stream #\d+:\d+.*?: Video: (?P<codec>\w+)(?P<rest>.*)")
_SIZE = re.compile(r"\b(\d{1,5})x(\d{1,5})\b")
_FPS = re.compile(r"([\d.]+)(k?) (fps|tbr)")
_SAR = re.compile(r"SAR (\d+):(\d+)")
_ROT = re.compile(r"rotation of (-?[\d.]+) degrees")
_DUR = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")
_AUDIO = re.compile(r"Stream #\d+:\d+.*?: Audio: (\w+)")
# the pixel format: the first word after the codec's own brackets ("(High) (avc1 / …)")
_PIX_FMT = re.compile(r"^[^,]*,\s*([a-z][a-z0-9_]*)")


def probe(path: str | Path) -> VideoInfo:
    """Read a clip's header; raises MediaError naming the file if it has no video stream."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True
    )
    text = proc.stderr
    found = list(_STREAM.finditer(text))
    videos = [(i, m) for i, m in enumerate(found) if "(attached pic)" not in m.group("rest")]
    chosen = next(((i, m) for i, m in videos if "(default)" in m.group("rest")), None)
    if found and not videos:
        raise MediaError(f"{path}: has no video stream, only cover art (an attached picture)")
    index, stream = chosen or (videos[0] if videos else (0, None))
    if stream is None:
        if re.search(r"Stream #\S+.*: Audio:", text):
            raise MediaError(f"{path}: has no video stream (audio only)")
        if re.search(r"^Input #0", text, re.M):
            raise MediaError(f"{path}: has no video stream (no frames to read)")
        detail = text.strip().splitlines()[-1] if text.strip() else "ffmpeg said nothing"
        raise MediaError(f"{path}: not a video ffmpeg can read ({detail})")
    container = re.search(r"Input #0, ([\w,]+)", text)
    if container and ("image2" in container.group(1) or "_pipe" in container.group(1)):
        raise MediaError(f"{path}: a still image, not a video")
    rest = stream.group("rest")
    size = _SIZE.search(rest)
    if size is None:
        raise MediaError(f"{path}: the video stream has no frame size")
    fps_values = {
        m.group(3): float(m.group(1)) * (1000 if m.group(2) else 1) for m in _FPS.finditer(rest)
    }
    fps = fps_values.get("fps") or fps_values.get("tbr") or 25.0
    rot = _ROT.search(text)
    sar = _SAR.search(rest)
    sar_value = int(sar.group(1)) / int(sar.group(2)) if sar and int(sar.group(2)) else 1.0
    dur = _DUR.search(text)
    duration = None
    if dur:
        h, m, s = dur.groups()
        duration = int(h) * 3600 + int(m) * 60 + float(s)
    return VideoInfo(
        width=int(size.group(1)),
        height=int(size.group(2)),
        fps=fps,
        rotation=round(float(rot.group(1))) % 360 if rot else 0,
        duration=duration,
        codec=stream.group("codec"),
        sar=sar_value if sar_value > 0 else 1.0,
        audio=tuple(m.group(1) for m in _AUDIO.finditer(text)),
        stream=index,
        streams=max(len(videos), 1),
        pixel_format=fmt.group(1) if (fmt := _PIX_FMT.search(rest)) else "",
    )


# Pixel formats with an alpha plane (ffmpeg's names).
_ALPHA = re.compile(r"^(yuva|gbrap|ya\d|rgba|bgra|argb|abgr)")


def has_alpha(pixel_format: str) -> bool:
    return bool(_ALPHA.match(pixel_format))


# Frame rates that cameras and editors use: an average within 0.1 % of one of these is it.
STANDARD_RATES = tuple(
    Fraction(r)
    for r in ("24000/1001", "24", "25", "30000/1001", "30", "48", "50", "60000/1001", "60", "120")
)


@dataclass(frozen=True)
class Timing:
    """When a clip's frames are shown: their number, their average rate (exact where the clip
    is constant-rate) and whether the intervals vary (a variable-frame-rate clip)."""

    frames: int
    rate: Fraction
    variable: bool
    duration: float  # seconds from the first frame's start to the last frame's end

    @property
    def fps(self) -> float:
        return float(self.rate)


def _rate(frames: int, span: Fraction) -> Fraction:
    rate = frames / span
    for standard in STANDARD_RATES:
        if abs(rate / standard - 1) < 1e-3:
            return standard
    return rate.limit_denominator(1001)


def timing(path: str | Path, stream: str = "v", info: VideoInfo | None = None) -> Timing:
    """The presentation times of a clip's video stream (the one `probe` picks; or `stream`
    "a": its first audio stream), read from its packets (no decoding): a constant-rate clip
    has one interval (within its time base's rounding); a variable-rate clip (phones record
    these) has several, and its frames are taken on a constant-rate grid at its average rate,
    so that it keeps its duration. Packets that a decoder discards (an audio encoder's
    priming) do not count."""
    path = Path(path)
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path)]
    index = (info or probe(path)).stream if stream == "v" else 0
    cmd += ["-map", f"0:{stream}:{index}", "-c", "copy", "-f", "framecrc", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        err = proc.stderr.strip().splitlines()
        detail = err[-1] if err else f"exit {proc.returncode}"
        raise MediaError(f"{path}: ffmpeg could not read its frames' times ({detail})")
    base = re.search(r"^#tb 0: (\d+)/(\d+)", proc.stdout, re.M)
    packets = []
    for line in proc.stdout.splitlines():
        if line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 6:
            continue
        flags = re.search(r"F=0x([0-9a-fA-F]+)", line)
        if flags and int(flags.group(1), 16) & 0x4:  # a packet the decoder discards
            continue
        if int(fields[2]) > -(2**62):  # has a time stamp
            packets.append((int(fields[2]), int(fields[3])))
    if base is None or not packets:
        what = "video frames" if stream == "v" else "packets in that stream"
        raise MediaError(f"{path}: has no {what} with time stamps")
    tick = Fraction(int(base.group(1)), int(base.group(2)))
    packets.sort()  # presentation order
    pts = np.array([p for p, _ in packets], dtype=np.int64)
    steps = np.diff(pts)
    steps = steps[steps > 0]
    typical = float(np.median(steps)) if len(steps) else float(max(packets[-1][1], 1))
    last = packets[-1][1] if packets[-1][1] > 0 else round(typical)
    span = Fraction(int(pts[-1] - pts[0]) + last) * tick
    # a time base in milliseconds rounds a constant interval to one of two neighbours
    limit = max(1.5, 0.05 * typical)
    variable = bool(len(steps) and np.abs(steps - typical).max() > limit)
    return Timing(len(pts), _rate(len(pts), span), variable, float(span))


def working_size(width: int, height: int, long_side: int, upscale: bool = False) -> tuple[int, int]:
    """(width, height) with the long side at `long_side`, aspect kept, both even."""
    scale = long_side / max(width, height)
    if scale > 1 and not upscale:
        scale = 1.0
    w = max(2, round(width * scale / 2) * 2)
    h = max(2, round(height * scale / 2) * 2)
    return w, h


def read_frames(
    path: str | Path,
    size: tuple[int, int],
    start: int = 0,
    count: int | None = None,
    step: int = 1,
    rate: Fraction | None = None,
    info: VideoInfo | None = None,
) -> Iterator[np.ndarray]:
    """Decode frames start, start+step, … (at most `count`) as uint8 RGB arrays of `size`.

    Frames come as the clip has them (no frame repeated or dropped); with `rate` (a
    variable-rate clip's `Timing.rate`) they are taken at their presentation times on a
    constant-rate grid of that rate instead. Every reader of one clip passes the same `rate`,
    so that frame t is the same moment at every size. The stream is the one `probe` picks;
    transparency is composited on white, as `read_image` does."""
    w, h = size
    info = info or probe(path)  # callers that probed already pass theirs
    alpha = has_alpha(info.pixel_format)
    channels = 4 if alpha else 3
    video = ffmpeg.input(str(path))[f"v:{info.stream}"]
    if rate is not None:
        video = video.filter("fps", fps=f"{rate.numerator}/{rate.denominator}")
    stream = (
        video.filter("scale", w, h, flags="area")
        .filter("setsar", "1")
        .output(
            "pipe:",
            format="rawvideo",
            pix_fmt="rgba" if alpha else "rgb24",
            fps_mode="passthrough",
        )
        .global_args("-hide_banner", "-loglevel", "error", "-nostdin")
    )
    proc = stream.run_async(cmd=ffmpeg_exe(), pipe_stdout=True, pipe_stderr=True)
    frame_bytes = w * h * channels
    kept = 0
    index = 0
    try:
        while count is None or kept < count:
            buf = proc.stdout.read(frame_bytes)
            if len(buf) < frame_bytes:
                break
            if index >= start and (index - start) % step == 0:
                kept += 1
                frame = np.frombuffer(buf, np.uint8).reshape(h, w, channels)
                yield _on_white(frame) if alpha else frame.copy()
            index += 1
    finally:
        stopped_early = proc.poll() is None
        if stopped_early:
            proc.kill()
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace").strip()
        proc.stderr.close()
        rc = proc.wait()
        if rc != 0 and not stopped_early:
            raise MediaError(f"{path}: ffmpeg could not decode the video: {err or f'exit {rc}'}")


def _on_white(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32) * a + 255.0 * (1.0 - a)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


# Audio codecs an mp4 holds as they are; others are re-encoded to AAC.
MP4_AUDIO = ("aac", "mp3", "ac3", "eac3", "alac", "opus")


@dataclass(frozen=True)
class Soundtrack:
    """A source clip's audio to carry into an output: from `start` seconds, `duration` long."""

    path: Path
    start: float
    duration: float
    codecs: tuple[str, ...]

    @property
    def copied(self) -> bool:
        """Whether every stream goes in as it is (no re-encoding)."""
        return all(c in MP4_AUDIO for c in self.codecs)


def _rate_text(fps: float | Fraction) -> str:
    rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
    return f"{rate.numerator}/{rate.denominator}"


class VideoWriter:
    """Encode RGB frames to a browser-playable H.264 mp4 (yuv420p, faststart), atomically,
    with a source clip's audio when given (copied where mp4 holds its codec)."""

    def __init__(
        self,
        path: str | Path,
        size: tuple[int, int],
        fps: float | Fraction,
        crf: int = 18,
        preset: str = "medium",
        audio: Soundtrack | None = None,
    ) -> None:
        w, h = size
        if w % 2 or h % 2:
            raise MediaError(f"{path}: H.264 with yuv420p needs even sizes, got {w}×{h}")
        self.path = Path(path)
        self.size = size
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        rate = _rate_text(fps)
        streams = [
            ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", framerate=rate)
        ]
        sound: dict = {}
        if audio is not None and audio.codecs:
            cut = {"t": f"{audio.duration:.6f}"}
            if audio.start > 0:
                cut["ss"] = f"{audio.start:.6f}"
            streams.append(ffmpeg.input(str(audio.path), **cut)["a"])
            sound = {"acodec": "copy"} if audio.copied else {"acodec": "aac", "b:a": "192k"}
        stream = (
            ffmpeg.output(
                *streams,
                str(self._tmp),
                format="mp4",
                vcodec="libx264",
                pix_fmt="yuv420p",
                crf=crf,
                preset=preset,
                movflags="+faststart",
                r=rate,
                **sound,
            )
            .global_args("-hide_banner", "-loglevel", "error", "-nostdin")
            .overwrite_output()
        )
        self._proc = stream.run_async(cmd=ffmpeg_exe(), pipe_stdin=True, pipe_stderr=True)
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        if frame.shape != (self.size[1], self.size[0], 3):
            raise MediaError(
                f"{self.path}: frame of shape {frame.shape} does not match {self.size}"
            )
        try:
            self._proc.stdin.write(frame.tobytes())
        except BrokenPipeError:
            err = self._proc.stderr.read().decode(errors="replace")
            raise MediaError(f"{self.path}: ffmpeg stopped while encoding: {err.strip()}") from None
        self.frames += 1

    def close(self, ok: bool = True) -> None:
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.close()
        err = self._proc.stderr.read().decode(errors="replace").strip()
        rc = self._proc.wait()
        if ok and (rc != 0 or self.frames == 0):
            ok = False
            error = MediaError(
                f"{self.path}: encoding failed: {err or f'ffmpeg exit {rc}'}"
                if rc
                else f"{self.path}: no frames to encode"
            )
        else:
            error = None
        exc = (None, None, None) if ok else (MediaError, error, None)
        self._atomic.__exit__(*exc)
        if error:
            raise error

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._proc.kill()
            self._proc.wait()
            self._atomic.__exit__(exc_type, exc, tb)
            return
        self.close()


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float | Fraction,
    crf: int = 18,
    preset: str = "medium",
    audio: Soundtrack | None = None,
) -> int:
    """Encode frames (all the same size) to an mp4; returns the number written."""
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise MediaError(f"{path}: no frames to encode")
    h, w = first.shape[:2]
    with VideoWriter(path, (w, h), fps, crf=crf, preset=preset, audio=audio) as out:
        out.write(first)
        for frame in it:
            out.write(frame)
        return out.frames


def write_gif(
    path: str | Path, frames: Iterable[np.ndarray], fps: float | Fraction, width: int
) -> None:
    """An animated GIF with one shared palette (ffmpeg palettegen/paletteuse)."""
    frames = list(frames)
    if not frames:
        raise MediaError(f"{path}: no frames to write")
    h, w = frames[0].shape[:2]
    out_w = min(width, w)
    with atomic_path(path) as tmp:
        src = ffmpeg.input(
            "pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", framerate=_rate_text(fps)
        )
        scaled = src.filter("scale", out_w, -1, flags="lanczos").split()
        palette = scaled[0].filter("palettegen", stats_mode="diff")
        proc = (
            ffmpeg.filter([scaled[1], palette], "paletteuse", dither="bayer", bayer_scale=3)
            .output(str(tmp), format="gif", loop=0)
            .global_args("-hide_banner", "-loglevel", "error", "-nostdin")
            .overwrite_output()
            .run_async(cmd=ffmpeg_exe(), pipe_stdin=True, pipe_stderr=True)
        )
        _, err = proc.communicate(b"".join(np.ascontiguousarray(f).tobytes() for f in frames))
        if proc.returncode:
            raise MediaError(f"{path}: GIF encoding failed: {err.decode(errors='replace')}")


# Pixels an image may have before it is refused as a likely decompression bomb (a small file
# that decodes to gigabytes); PVST_MAX_PIXELS sets another limit for those who mean it.
MAX_PIXELS = 2**27  # 134 megapixels: a 16 000 × 8 000 panorama
Image.MAX_IMAGE_PIXELS = None  # checked by open_image, with a message that names the file


def max_pixels() -> int:
    """The pixel limit of images (PVST_MAX_PIXELS, else MAX_PIXELS)."""
    value = os.environ.get("PVST_MAX_PIXELS", "")
    try:
        return int(value) if value else MAX_PIXELS
    except ValueError:
        raise MediaError(f"PVST_MAX_PIXELS={value!r}: expected a number of pixels") from None


@contextlib.contextmanager
def open_image(path: str | Path) -> Iterator[Image.Image]:
    """A Pillow image, opened without decoding, refused when it has more pixels than the limit
    (before anything is decoded); an animated image says that its first frame is used."""
    path = Path(path)
    try:
        im = Image.open(path)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise MediaError(f"{path}: not an image Pillow can read ({exc})") from None
    with im:
        w, h = im.size
        limit = max_pixels()
        if w * h > limit:
            raise MediaError(
                f"{path}: {w}×{h} is {w * h / 1e6:.0f} megapixels, over the limit of "
                f"{limit / 1e6:.0f} (a decompression bomb?); set PVST_MAX_PIXELS to a larger "
                "number if you mean it"
            )
        frames = getattr(im, "n_frames", 1)
        if frames > 1:
            log.warning("%s: an animated image of %d frames; its first frame is used", path, frames)
        yield im


def read_image(path: str | Path) -> np.ndarray:
    """An image file as uint8 RGB H×W×3, as a viewer shows it: EXIF orientation applied,
    transparency composited on white, 16-bit and float images scaled (not clipped), grey,
    palette and CMYK converted. Every conversion is logged."""
    from PIL import ImageOps

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such image file")
    try:
        with open_image(path) as im:
            im.load()
            done = []
            if im.getexif().get(0x0112, 1) != 1:  # EXIF Orientation other than "as stored"
                im = ImageOps.exif_transpose(im)
                done.append("rotated by its EXIF orientation")
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                data = np.asarray(im).astype(np.float64)
                top = 65535.0 if im.mode.startswith("I;16") or data.max() > 255 else 255.0
                if im.mode == "F" and data.max() <= 1.0:
                    top = 1.0
                grey = np.clip(np.rint(data / top * 255.0), 0, 255).astype(np.uint8)
                done.append(f"{im.mode} grey scaled from 0..{top:g} to 8 bits")
                rgb = np.repeat(grey[..., None], 3, axis=2)
            else:
                icc = im.info.get("icc_profile")
                if im.mode in ("RGBA", "LA", "PA") or (
                    im.mode == "P" and "transparency" in im.info
                ):
                    im = Image.alpha_composite(
                        Image.new("RGBA", im.size, (255, 255, 255, 255)), im.convert("RGBA")
                    )
                    done.append("transparency composited on white")
                if icc and im.mode in ("RGB", "CMYK", "L", "RGBA"):
                    im = _to_srgb(im.convert("RGB") if im.mode == "RGBA" else im, icc, path, done)
                if im.mode not in ("RGB", "RGBA"):
                    done.append(f"{im.mode} converted to RGB")
                rgb = np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise MediaError(f"{path}: not an image Pillow can read ({exc})") from None
    if done:
        log.info("%s: %s", path, "; ".join(done))
    return rgb


def _to_srgb(im: Image.Image, icc: bytes, path: Path, done: list[str]) -> Image.Image:
    """An RGB, CMYK or grey image in the colours its embedded ICC profile means, as sRGB RGB
    (the space VGG19 and every screen that shows the result assume), perceptual intent. A
    profile that cannot be read or does not fit the pixels is named, and the image is left as
    it is (taken as sRGB)."""
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        name = ImageCms.getProfileDescription(source).strip() or "unnamed"
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        log.warning(
            "%s: its ICC profile cannot be read (%s); the pixels are taken as sRGB", path, exc
        )
        return im
    if im.mode == "RGB" and "srgb" in name.lower().replace(" ", ""):
        return im
    try:
        out = ImageCms.profileToProfile(
            im, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
        )
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        log.warning(
            "%s: its ICC profile %r cannot convert RGB (%s); the pixels are taken as sRGB",
            path,
            name,
            exc,
        )
        return im
    done.append(f"converted from its ICC profile {name!r} to sRGB")
    return out


# Below this long side relu4_1 (1/8 of the image) has under 4×4 positions: no style to take.
MIN_STYLE_SIDE = 32
# Below this short side (in the pixels the network sees) VGG19's relu4_1 has under 2 rows.
MIN_SHORT_SIDE = 16


def read_style_photo(path: str | Path) -> np.ndarray:
    """The style photo, refused when too small or too thin to carry a style."""
    image = read_image(path)
    h, w = image.shape[:2]
    if max(h, w) < MIN_STYLE_SIDE:
        raise MediaError(
            f"{path}: the style photo is {w}×{h} pixels; it needs a "
            f"long side of at least {MIN_STYLE_SIDE} (VGG19's relu4_1 sees it at 1/8 size)"
        )
    check_thin(path, w, h, "style photo")
    return image


def check_thin(path: str | Path, width: int, height: int, what: str, long_side: int = 0) -> None:
    """Refuse an image whose short side, with its long side at `long_side` (its own when 0),
    falls under MIN_SHORT_SIDE: too thin for the network (and a window of the Laplacian)."""
    scale = long_side / max(width, height) if long_side else 1.0
    short = min(width, height) * scale
    if short < MIN_SHORT_SIDE:
        at = f" at a long side of {long_side}" if long_side else ""
        raise MediaError(
            f"{path}: the {what} is {width}×{height} pixels, {short:.0f} on its short side"
            f"{at}; it needs at least {MIN_SHORT_SIDE} (VGG19's relu4_1 sees 1/8 of it)"
        )


def resize_long_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """An image with its long side at `long_side` (aspect kept, at least 8 px a side)."""
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    return resize_image(image, (max(8, round(w * scale)), max(8, round(h * scale))))


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize uint8 RGB to (width, height) with area-averaging (Pillow's reducing LANCZOS)."""
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    return np.array(Image.fromarray(image).resize(tuple(size), Image.Resampling.LANCZOS))


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def check_image_output(path: str | Path) -> Path:
    """Refuse, before any work, an output path that cannot take an image: a folder, a suffix
    that is not an image format, a missing parent folder."""
    path = Path(path)
    if path.is_dir():
        raise MediaError(f"{path}: is a folder; give an image file name (e.g. {path}/out.png)")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise MediaError(
            f"{path}: '{path.suffix or '(no suffix)'}' is not an image format pvst writes "
            f"({', '.join(IMAGE_SUFFIXES)})"
        )
    if not path.parent.is_dir():
        raise MediaError(f"{path}: its folder {path.parent} does not exist")
    return path


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write uint8 RGB (or grey) atomically; the format follows the suffix."""
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(
            tmp, format=Image.registered_extensions().get(path.suffix.lower(), "PNG")
        )
