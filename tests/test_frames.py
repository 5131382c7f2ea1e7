import numpy as np
import pytest

from pvst import media
from pvst.errors import MediaError
from pvst.params import AssembleParams, FramesParams
from pvst.pipeline import samples, store
from pvst.pipeline.job import Job
from pvst.stages import assemble, frames
from pvst.stages.frames import Frames
from tests.conftest import ffmpeg

PARAMS = {"size": 96, "upscale": False, "start": 0, "max_frames": None, "step": 1}
ASSEMBLE = AssembleParams.of({"crf": 18, "preset": "fast", "gif_width": 64, "gif_fps": 12})


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255**2 / mse)


def test_working_size_keeps_aspect_and_is_even():
    assert media.working_size(640, 272, 256) == (256, 108)
    assert media.working_size(272, 640, 256) == (108, 256)
    w, h = media.working_size(175, 143, 175)
    assert w % 2 == 0 and h % 2 == 0 and abs(w / h - 175 / 143) < 0.02
    assert media.working_size(176, 144, 256) == (176, 144)  # no upscaling by default
    assert media.working_size(176, 144, 256, upscale=True)[0] == 256


def test_probe_real_samples():
    bikes = media.probe(samples.source("bikes.mp4"))
    assert (bikes.width, bikes.height, bikes.fps) == (640, 272, 25.0)
    assert bikes.duration == pytest.approx(10.0)
    car = media.probe(samples.source("carphone.mp4"))
    assert car.fps == pytest.approx(29.97)
    # 176×144 stored with 128:117 pixels: shown 4:3-ish, about 193 px wide
    assert car.display_size[0] == pytest.approx(193, abs=1)


def test_extract_writes_frames_with_metadata(tmp_path, tiny_clip):
    out = tmp_path / "frames-k.h5"
    n = frames.run(Job("frames", FramesParams.of(PARAMS), {"video": tiny_clip}, out, key="k"))
    assert n == 12
    with Frames(out, params=PARAMS) as fr:
        assert len(fr) == 12
        assert fr.size == (96, 40)  # 128×54 → long side 96, even height
        assert fr[0].dtype == np.uint8 and fr[0].shape == (40, 96, 3)
        assert fr.fps == 25.0
        assert tuple(fr.attrs["source_size"]) == (128, 54)
        assert fr[3].mean() > 10  # real picture, not black


def test_range_and_step(tmp_path, tiny_clip):
    out = tmp_path / "f.h5"
    n = frames.run(
        Job(
            "frames",
            FramesParams.of({**PARAMS, "start": 2, "step": 3, "max_frames": 3}),
            {"video": tiny_clip},
            out,
        )
    )
    assert n == 3
    with Frames(out) as fr, store.open_artifact(out, "frames") as f:
        assert fr.fps == pytest.approx(25 / 3)
        assert list(f["source_index"][()]) == [2, 5, 8]
    full = tmp_path / "all.h5"
    frames.run(Job("frames", FramesParams.of(PARAMS), {"video": tiny_clip}, full))
    with Frames(out) as part, Frames(full) as whole:
        np.testing.assert_array_equal(part[1], whole[5])


def test_round_trip_decode_assemble_decode(tmp_path, tiny_clip):
    first = tmp_path / "a.h5"
    frames.run(Job("frames", FramesParams.of(PARAMS), {"video": tiny_clip}, first))
    mp4 = tmp_path / "out.mp4"
    assert assemble.run(Job("assemble", ASSEMBLE, {"art": first}, mp4)) == 12
    info = media.probe(mp4)
    assert info.codec == "h264" and (info.width, info.height) == (96, 40)
    second = tmp_path / "b.h5"
    frames.run(Job("frames", FramesParams.of(PARAMS), {"video": mp4}, second))
    with Frames(first) as a, Frames(second) as b:
        assert len(a) == len(b) and a.size == b.size and b.fps == pytest.approx(25)
        assert min(psnr(a[i], b[i]) for i in range(len(a))) > 32


def test_side_by_side_and_gif(tmp_path, tiny_clip, rocket_file):
    art = tmp_path / "a.h5"
    frames.run(Job("frames", FramesParams.of(PARAMS), {"video": tiny_clip}, art))
    sbs = tmp_path / "sbs.mp4"
    assemble.run(
        Job(
            "assemble",
            ASSEMBLE,
            {"art": art, "frames": art, "style": rocket_file},
            sbs,
            options={"side_by_side": True},
        )
    )
    info = media.probe(sbs)
    assert info.height == 40 and info.width > 2 * 96  # input | output | style
    gif = tmp_path / "x.gif"
    assemble.run(Job("assemble", ASSEMBLE, {"art": art}, gif))
    assert gif.read_bytes()[:6] == b"GIF89a"


def test_odd_source_size_gives_even_frames(tmp_path, bikes_file):
    odd = tmp_path / "odd.mp4"
    ffmpeg(
        "-i",
        str(bikes_file),
        "-vf",
        "scale=75:43",
        "-frames:v",
        "3",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv444p",
        str(odd),
    )
    out = tmp_path / "f.h5"
    frames.run(Job("frames", FramesParams.of({**PARAMS, "size": 75}), {"video": odd}, out))
    with Frames(out) as fr:
        w, h = fr.size
        assert w % 2 == 0 and h % 2 == 0 and len(fr) == 3


@pytest.mark.parametrize("case", ["missing", "text", "truncated", "past_end", "image"])
def test_bad_input_gives_clear_error_and_no_output(tmp_path, tiny_clip, rocket_file, case):
    src = tmp_path / "in.mp4"
    params = PARAMS
    if case == "text":
        src.write_text("hello, I am not a video\n")
    elif case == "truncated":
        src.write_bytes(tiny_clip.read_bytes()[:3000])
    elif case == "past_end":
        src.write_bytes(tiny_clip.read_bytes())
        params = {**PARAMS, "start": 500}
    elif case == "image":
        src = rocket_file  # a still photo: ffmpeg reads one frame, which is not a clip
    out = tmp_path / "frames.h5"
    expected = {
        "missing": "no such file",
        "text": "not a video ffmpeg can read",
        "truncated": "not a video ffmpeg can read",
        "past_end": "no frames decoded",
        "image": "a still image, not a video",
    }[case]
    with pytest.raises(MediaError, match=expected) as err:
        frames.run(Job("frames", FramesParams.of(params), {"video": src}, out))
    assert str(src) in str(err.value)
    assert not out.exists()
    assert not list(tmp_path.glob(".frames.h5*"))


def test_encoder_refuses_odd_sizes(tmp_path):
    with pytest.raises(MediaError, match="even sizes"):
        media.write_video(tmp_path / "x.mp4", [np.zeros((11, 12, 3), np.uint8)], 25)
    assert not (tmp_path / "x.mp4").exists()
