"""The result carried to the output size: the colour maps, the user's clip back at its own
size, with its frame timing and its sound."""

import numpy as np
import pytest
import torch

from pvst import media, render
from pvst.params import AssembleParams, FramesParams, RenderParams
from pvst.pipeline import config
from pvst.pipeline.job import Job
from pvst.stages import assemble, frames
from pvst.stages.frames import Frames
from pvst.stages.render import Source, rendered
from tests.conftest import ffmpeg

SMALL = {"size": 64, "upscale": False, "start": 0, "max_frames": None, "step": 1}
ASSEMBLE = AssembleParams.of({**config.defaults("assemble"), "preset": "ultrafast"})
RENDER = RenderParams.of(config.defaults("render"))


def assemble_clip(result, frames_path, clip, out, style=None, **options) -> int:
    """The assemble product of a result, rendered at the output size from its clip."""
    inputs = {"art": result, "frames": frames_path, "video": clip, "style": style}
    return assemble.run(Job("assemble", ASSEMBLE, inputs, out, render=RENDER, options=options))


def stream_seconds(path, stream: str) -> float:
    """How long stream `a` or `v` of a file plays."""
    return media.timing(path, stream).duration


def tone(seconds: float, codec: str = "aac") -> list[str]:
    """ffmpeg arguments adding a 440 Hz stereo tone as a second input, encoded with `codec`."""
    return [
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-ac",
        "2",
        "-c:a",
        codec,
    ]


@pytest.fixture(scope="module")
def sound_clip(tmp_path_factory, bikes_file):
    """24 real frames (128×54, 25 fps) with a 0.96 s AAC tone."""
    out = tmp_path_factory.mktemp("clips") / "sound.mp4"
    ffmpeg(
        "-i",
        str(bikes_file),
        *tone(0.96),
        "-vf",
        "scale=128:-2,setsar=1",
        "-frames:v",
        "24",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-shortest",
        str(out),
    )
    return out


def result_of(tmp_path, clip, params=SMALL, change=lambda f: f):
    """The frames of `clip` at 64 px and a 'result' made from them by `change`."""
    art, res = tmp_path / "frames.h5", tmp_path / "result.h5"
    frames.run(Job("frames", FramesParams.of(params), {"video": clip}, art))
    with Frames(art) as fr:
        frames.save(res, np.stack([change(f) for f in fr]), fr.fps)
    return art, res


def warm(f: np.ndarray) -> np.ndarray:
    """A global colour change (an affine map of the colours)."""
    return np.clip(f.astype(np.float64) * [1.1, 0.9, 0.6] + [10, 5, 30], 0, 255).astype(np.uint8)


def test_output_size_keeps_the_clips_own_size_as_h264_allows():
    assert render.output_size(1920, 1080, "source") == (1920, 1080)
    assert render.output_size(641, 273, "source") == (640, 272)  # an odd side loses one line
    w, h = render.output_size(1920, 1080, 720)
    assert w == 720 and h % 2 == 0 and abs(w / h - 16 / 9) < 0.01


def test_the_render_of_an_unchanged_frame_is_the_full_size_frame(bikes_file):
    full = next(media.read_frames(bikes_file, (640, 272)))
    small = media.resize_image(full, (224, 96))
    c, f = render.as_tensor(small), render.as_tensor(full)
    out = render.to_uint8(render.render(c, c, f))
    assert np.abs(out.astype(int) - full).max() <= 1


def test_the_render_carries_a_colour_change_to_every_pixel(bikes_file):
    full = next(media.read_frames(bikes_file, (640, 272)))
    small = media.resize_image(full, (224, 96))
    out = render.to_uint8(
        render.render(
            render.as_tensor(small), render.as_tensor(warm(small)), render.as_tensor(full)
        )
    )
    want = warm(full).astype(int)
    # the full-size detail kept, the look taken: within a few levels of the change itself
    assert np.abs(out.astype(int) - want).mean() < 2.0
    bicubic = np.asarray(media.resize_image(warm(small), (640, 272)), int)
    assert np.abs(bicubic - want).mean() > 3 * np.abs(out.astype(int) - want).mean()


def test_local_looks_stay_where_they_are(bikes_file):
    """Two halves recoloured apart: each half of the full frame takes its own look."""
    full = next(media.read_frames(bikes_file, (640, 272)))
    small = media.resize_image(full, (224, 96))
    styled = small.copy()
    styled[:, 112:] = 255 - styled[:, 112:]
    out = render.to_uint8(
        render.render(render.as_tensor(small), render.as_tensor(styled), render.as_tensor(full))
    ).astype(int)
    left, right = out[:, :300], out[:, 340:]
    assert np.abs(left - full[:, :300]).mean() < 3
    assert np.abs(right - (255 - full[:, 340:].astype(int))).mean() < 6


def test_maps_are_computed_on_the_given_device_in_float32(bikes_file):
    frame = render.as_tensor(next(media.read_frames(bikes_file, (64, 28))), "cpu")
    maps = render.fit_maps(frame, frame)
    assert maps.shape == (1, 12, 28, 64) and maps.dtype == torch.float32
    assert maps.device == frame.device


def test_source_frames_at_full_size_are_the_frames_the_optimisation_saw(tmp_path, tiny_clip):
    """Decoding at full size and scaling down gives the working-size frames, frame for frame."""
    art = tmp_path / "f.h5"
    frames.run(
        Job("frames", FramesParams.of({**SMALL, "start": 1, "step": 2}), {"video": tiny_clip}, art)
    )
    with Frames(art) as fr:
        source = Source.of(tiny_clip, fr)
        full = list(source.frames((128, 54)))
        assert len(full) == len(fr) == 6
        for t, big in enumerate(full):
            same = np.abs(media.resize_image(big, fr.size).astype(int) - fr[t]).mean()
            assert same < 2.0, t
            if t + 1 < len(fr):
                assert (
                    np.abs(fr[t + 1].astype(int) - media.resize_image(big, fr.size)).mean() > same
                )


def test_clip_comes_back_at_its_size_with_its_sound(tmp_path, sound_clip):
    art, res = result_of(tmp_path, sound_clip, change=warm)
    out = tmp_path / "out.mp4"
    assert assemble_clip(res, art, sound_clip, out) == 24
    info = media.probe(out)
    assert (info.width, info.height, info.fps) == (128, 54, 25.0)
    assert info.audio == ("aac",)
    assert stream_seconds(out, "a") == pytest.approx(stream_seconds(sound_clip, "a"), abs=0.04)
    assert stream_seconds(out, "v") == pytest.approx(0.96, abs=0.04)
    sbs = tmp_path / "sbs.mp4"
    assemble_clip(res, art, sound_clip, sbs, side_by_side=True, caption="x")
    info = media.probe(sbs)
    assert (info.width, info.height, info.audio) == (256, 54, ("aac",))


def test_a_part_of_the_clip_keeps_the_sound_under_its_frames(tmp_path, sound_clip):
    """Frames 4, 6, …: half the frame rate, the sound from 0.16 s at its own speed."""
    part = {**SMALL, "start": 4, "step": 2, "max_frames": 8}
    art, res = result_of(tmp_path, sound_clip, part)
    with Frames(art) as fr:
        source = Source.of(sound_clip, fr)
    sound = source.soundtrack()
    assert (sound.start, sound.duration) == pytest.approx((0.16, 0.64))
    out = tmp_path / "part.mp4"
    assemble_clip(res, art, sound_clip, out)
    assert media.probe(out).fps == 12.5
    assert stream_seconds(out, "v") == pytest.approx(0.64, abs=0.04)
    assert stream_seconds(out, "a") == pytest.approx(0.64, abs=0.04)


def test_sound_that_mp4_cannot_hold_is_reencoded(tmp_path, bikes_file):
    clip = tmp_path / "pcm.mov"
    ffmpeg(
        "-i",
        str(bikes_file),
        *tone(0.48, "pcm_s16le"),
        "-vf",
        "scale=96:-2",
        "-frames:v",
        "12",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-shortest",
        str(clip),
    )
    assert media.probe(clip).audio == ("pcm_s16le",)
    art, res = result_of(tmp_path, clip)
    out = tmp_path / "pcm.mp4"
    assemble_clip(res, art, clip, out)
    assert media.probe(out).audio == ("aac",)


def test_a_clip_without_sound_and_of_odd_size(tmp_path, bikes_file, caplog):
    clip = tmp_path / "odd.mp4"
    ffmpeg(
        "-i",
        str(bikes_file),
        "-vf",
        "scale=75:43,setsar=1",
        "-frames:v",
        "6",
        "-c:v",
        "libx264rgb",
        str(clip),
    )
    art, res = result_of(tmp_path, clip)
    out = tmp_path / "odd_out.mp4"
    with caplog.at_level("INFO", logger="pvst.stages.render"):
        assemble_clip(res, art, clip, out)
    info = media.probe(out)
    assert (info.width, info.height, info.audio) == (74, 42, ())
    assert "75×43: its last row and column are left out" in caplog.text


def test_a_variable_frame_rate_clip_keeps_its_duration(tmp_path, bikes_file):
    """16 frames, 40 ms apart but for one 240 ms gap (0.84 s in all), as phones record."""
    clip = tmp_path / "vfr.mp4"
    ffmpeg(
        "-i",
        str(bikes_file),
        "-vf",
        "select='lt(n,16)',setpts='(N*0.04+gt(N,7)*0.2)/TB',scale=128:-2,setsar=1",
        "-fps_mode",
        "vfr",
        "-video_track_timescale",
        "1000",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(clip),
    )
    timing = media.timing(clip)
    assert timing.variable and timing.frames == 16
    assert timing.duration == pytest.approx(0.84)
    art, res = result_of(tmp_path, clip)
    with Frames(art) as fr:
        n = len(fr)
    assert abs(n - 16) <= 1
    out = tmp_path / "vfr_out.mp4"
    assemble_clip(res, art, clip, out)
    assert stream_seconds(out, "v") == pytest.approx(0.84, abs=1 / timing.fps)
    gif = tmp_path / "vfr.gif"
    assemble_clip(res, art, clip, gif)
    assert gif.read_bytes()[:6] == b"GIF89a"


def test_constant_rate_clips_decode_as_before(tmp_path, tiny_clip):
    """No frame repeated or dropped: every frame of a constant-rate clip, in order."""
    timing = media.timing(tiny_clip)
    assert not timing.variable and timing.rate == 25 and timing.frames == 12
    assert len(list(media.read_frames(tiny_clip, (64, 28)))) == 12


def test_rendered_frames_follow_the_result(tmp_path, tiny_clip):
    art, res = result_of(tmp_path, tiny_clip, change=warm)
    with Frames(art) as fr, Frames(res, stage=None) as out:
        source = Source.of(tiny_clip, fr)
        pairs = list(rendered(out, fr, source, RENDER))
    assert len(pairs) == 12
    for full, image in pairs:
        assert image.shape == full.shape == (54, 128, 3)
        assert np.abs(image.astype(int) - warm(full)).mean() < 3


def test_at_the_working_size_the_result_is_the_output(tmp_path, tiny_clip):
    art, res = result_of(tmp_path, tiny_clip, change=warm)
    with Frames(art) as fr, Frames(res, stage=None) as out:
        source = Source.of(tiny_clip, fr)
        pairs = list(rendered(out, fr, source, RENDER, size=fr.size))
        assert all(np.array_equal(image, out[t]) for t, (_, image) in enumerate(pairs))
