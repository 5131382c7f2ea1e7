"""Bad input, table-driven: every case is one line of CASES. Each runs a `pvst` command (in
this process, as the console script would) and asserts the exit status, a message that names
the file or key and the problem, no traceback, and no new file at the output path."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from pvst import cli, media, regions
from pvst.stages import frames
from tests.conftest import ffmpeg

# (id, argv with {placeholders}, words the message must hold, output path that must not appear)
# fmt: off
CASES = [
    # image mode: inputs
    ("content missing", "image nosuch.png style.png -o out.png", ["nosuch.png", "no such image"], "out.png"),
    ("content not an image", "image text.png style.png -o out.png", ["text.png", "not an image"], "out.png"),
    ("style missing", "image content.png nosuch.jpg -o out.png", ["nosuch.jpg", "no such image"], "out.png"),
    ("style too small", "image content.png tiny.png -o out.png", ["tiny.png", "10×10", "at least 32"], "out.png"),
    ("style empty file", "image content.png empty.png -o out.png", ["empty.png", "not an image"], "out.png"),
    ("one mask only", "image content.png style.png -o out.png --content-mask mask.png", ["give both"], "out.png"),
    ("mask missing", "image content.png style.png -o out.png --content-mask nosuch.png --style-mask mask.png", ["nosuch.png"], "out.png"),
    ("mask not an image", "image content.png style.png -o out.png --content-mask text.png --style-mask mask.png", ["text.png"], "out.png"),
    # image mode: output and settings, refused before any work
    ("output suffix", "image content.png style.png -o out.xyz", ["out.xyz", "'.xyz'", "not an image format"], "out.xyz"),
    ("output no suffix", "image content.png style.png -o out", ["out", "no suffix"], "out"),
    ("output is a folder", "image content.png style.png -o folder", ["folder", "is a folder"], "folder/out.png"),
    ("output folder missing", "image content.png style.png -o nodir/out.png", ["nodir", "does not exist"], "nodir/out.png"),
    ("size zero", "image content.png style.png -o out.png --size 0", ["--size 0", "16 to 8192"], "out.png"),
    ("size negative", "image content.png style.png -o out.png --size -5", ["--size -5"], "out.png"),
    ("size huge", "image content.png style.png -o out.png --size 200000", ["--size 200000"], "out.png"),
    ("size past memory", "image content.png style.png -o out.png --size 8192", ["content.png", "GiB", "smaller size"], "out.png"),
    ("device gpu", "image content.png style.png -o out.png --device gpu", ["stylize.device", "'gpu'"], "out.png"),
    ("device cuda:x", "image content.png style.png -o out.png --device cuda:x", ["stylize.device"], "out.png"),
    ("iterations zero", "image content.png style.png -o out.png --iterations 0", ["stylize.iterations.first"], "out.png"),
    ("lambda negative", "image content.png style.png -o out.png --lambda -1", ["stylize.lambda"], "out.png"),
    ("config missing", "image content.png style.png -o out.png --config nosuch.yaml", ["nosuch.yaml", "not found"], "out.png"),
    ("config bad yaml", "image content.png style.png -o out.png --config badyaml.yaml", ["badyaml.yaml", "not valid YAML", "line"], "out.png"),
    ("config unknown key", "image content.png style.png -o out.png --config typo.yaml", ["typo.yaml", "alfa", "did you mean 'alpha'"], "out.png"),
    ("config wrong type", "image content.png style.png -o out.png --config wrongtype.yaml", ["wrongtype.yaml", "stylize.beta", "expected number"], "out.png"),
    ("config not a mapping", "image content.png style.png -o out.png --config list.yaml", ["list.yaml", "top level must be a mapping"], "out.png"),
    ("config device in file", "image content.png style.png -o out.png --config gpu.yaml", ["gpu.yaml", "stylize.device"], "out.png"),
    # configuration read by every command
    ("variant name with _", "plan --config underscore.yaml", ["underscore.yaml", "invalid name 'a_b'"], None),
    ("variant name reserved", "plan --config reserved.yaml", ["reserved.yaml", "'sbs'", "reserved"], None),
    ("unknown section", "plan --config section.yaml", ["section.yaml", "unknown key 'stylise'", "stylize"], None),
    ("size below minimum", "plan --config small.yaml", ["small.yaml", "frames.size"], None),
    ("bad method", "plan --config method.yaml", ["method.yaml", "segmentation.method"], None),
    ("plan unknown video", "plan --video nosuch", ["no video 'nosuch'", "known videos"], None),
    ("plan unknown variant", "plan --variant nosuch", ["no variant 'nosuch'", "configured variants"], None),
    ("config integer key", "plan --config intkey.yaml", ["intkey.yaml", "the key 1 is not a name"], None),
    ("config nested integer key", "plan --config nestedkey.yaml", ["nestedkey.yaml", "stylize: the key 2.5 is not a name"], None),
    ("config list key", "plan --config listkey.yaml", ["listkey.yaml", "key at line 1 is a list, not a name"], None),
    ("config nested too deep", "plan --config deep.yaml", ["deep.yaml", "nested too deeply"], None),
    ("image config integer key", "image content.png style.png -o out.png --config intkey.yaml", ["intkey.yaml", "not a name"], "out.png"),
    # artifacts and media
    ("info not hdf5", "info text.png", ["text.png", "not a readable HDF5"], None),
    ("info missing", "info nosuch.h5", ["nosuch.h5", "not found"], None),
    ("info on a video", "info clip.mp4", ["clip.mp4", "not a readable HDF5"], None),
    ("frames missing clip", "frames --video surf", ["data/surf.mp4"], None),
    ("frames corrupt clip", "frames --params {{}} --in video=garbage.mp4 --out g.h5", ["garbage.mp4", "not a video"], "g.h5"),
    ("frames audio only", "frames --params {{}} --in video=audio.m4a --out a.h5", ["audio.m4a", "no video stream"], "a.h5"),
    ("frames zero frames", "frames --params {{}} --in video=zero.mp4 --out z.h5", ["zero.mp4", "no video stream"], "z.h5"),
    ("frames a still image", "frames --params {{}} --in video=content.png --out s.h5", ["content.png", "still image"], "s.h5"),
    ("frames params not json", "frames --params {{oops --in video=clip.mp4 --out x.h5", ["--params", "not valid JSON"], "x.h5"),
    ("frames params invalid", 'frames --params {{"size":"big"}} --in video=clip.mp4 --out x.h5', ["--params is invalid", "size"], "x.h5"),
    ("assemble missing artifact", "assemble nosuch.h5 -o out.mp4", ["nosuch.h5", "not found"], "out.mp4"),
    ("assemble not an artifact", "assemble text.png -o out.mp4", ["text.png", "HDF5"], "out.mp4"),
    ("cyclegan garbage checkpoint", "cyclegan-train garbage.pth folder --out train --max-steps 1", ["garbage.pth"], None),
    ("cyclegan-train empty folder", "cyclegan-train folder folder --out train --max-steps 1", ["folder", "no images"], None),
    # second round: images too thin, bombs, masks of another shape, damaged clips
    ("content one pixel high", "image thin.png style.png -o out.png", ["thin.png", "200×1", "short side"], "out.png"),
    ("style too thin", "image content.png thinstyle.png -o out.png", ["thinstyle.png", "400×8", "short side"], "out.png"),
    ("content bomb", "image bomb.png style.png -o out.png", ["bomb.png", "40000×30000", "megapixels", "PVST_MAX_PIXELS"], "out.png"),
    ("style bomb", "image content.png bomb.png -o out.png", ["bomb.png", "megapixels"], "out.png"),
    ("mask bomb", "image content.png style.png -o out.png --content-mask bomb.png --style-mask mask.png", ["bomb.png", "megapixels"], "out.png"),
    ("mask of another shape", "image content.png style.png -o out.png --content-mask widemask.png --style-mask mask.png", ["widemask.png", "128×40", "64×40"], "out.png"),
    ("clip truncated", "frames --params {{}} --in video=truncated.mp4 --out t.h5", ["truncated.mp4", "promises 40 frames", "decode"], "t.h5"),
    ("clip too thin", "frames --params {{}} --in video=thinclip.mp4 --out t.h5", ["thinclip.mp4", "short side"], "t.h5"),
    # configuration
    ("weight NaN", "plan --config nan.yaml", ["nan.yaml", "stylize.alpha", "not a finite number"], None),
    ("weight infinite", "plan --config inf.yaml", ["inf.yaml", "stylize.lambda", "not a finite number"], None),
    ("key given twice", "plan --config twice.yaml", ["twice.yaml", "'frames' is given twice", "lines 1 and 2"], None),
    ("alias bomb", "plan --config aliasbomb.yaml", ["aliasbomb.yaml", "stylize.alpha", "expected number"], None),
    ("video is a folder", "frames --video here --config folderclip.yaml", ["folder", "is a folder"], None),
    ("image config NaN", "image content.png style.png -o out.png --config nan.yaml", ["nan.yaml", "not a finite number"], "out.png"),
    ("render size text", "plan --config rendersize.yaml", ["rendersize.yaml", "render.size"], None),
    ("out-size zero", "image content.png style.png -o out.png --out-size 0", ["render.size"], "out.png"),
    ("out-size huge", "image content.png style.png -o out.png --out-size 100000", ["render.size", "100000"], "out.png"),
    ("refine negative", "image content.png style.png -o out.png --refine -1", ["stylize.refine.image"], "out.png"),
    # outputs: never over an input, never where nothing can be written
    ("output is the content", "image content.png style.png -o content.png", ["content.png", "also an input"], None),
    ("output is the style", "image content.png style.png -o style.png", ["style.png", "also an input"], None),
    ("output is a mask", "image content.png style.png -o mask.png --content-mask mask.png --style-mask mask.png", ["mask.png", "also an input"], None),
    ("output folder unwritable", "image content.png style.png -o /sys/out.png", ["/sys", "cannot write"], None),
    ("log unwritable", "plan --log /sys/pvst.log", ["/sys/pvst.log", "cannot write"], None),
    ("assemble over its input", "assemble clip.mp4 -o clip.mp4", ["clip.mp4", "also an input"], None),
    ("metrics unwritable", "evaluate --video tiny --out /sys/m.json", ["/sys/m.json", "cannot write"], None),
    ("training folder unwritable", "cyclegan-train imgs imgs --out /sys/train --max-steps 1", ["/sys/train", "cannot write"], None),
    # no file runs code; damaged or foreign artifacts are named, never consumed
    ("training state runs code", "cyclegan-train imgs imgs --out evil --max-steps 1", ["training_state.pt", "not a training state", "never code"], None),
    ("assemble foreign hdf5", "assemble foreign.h5 -o out.mp4", ["foreign.h5", "no pvst stage wrote"], "out.mp4"),
    ("assemble inconsistent artifact", "assemble badcount.h5 -o out.mp4", ["badcount.h5", "holds 2 frames, its count says 5"], "out.mp4"),
    ("assemble onto another clip", "assemble clipframes.h5 --frames clipframes.h5 --source clip.mp4 -o out.mp4", ["clip.mp4", "clipframes.h5", "whole.mp4", "give the clip the frames were extracted from"], "out.mp4"),
    ("assemble external storage", "assemble outside.h5 -o out.mp4", ["outside.h5", "'/frames' keeps its data outside", "secret.txt"], "out.mp4"),
    ("info external storage", "info outside.h5", ["outside.h5", "keeps its data outside"], None),
    ("assemble external link", "assemble linked.h5 -o out.mp4", ["linked.h5", "is a link to"], "out.mp4"),
    ("frames out is a folder", "frames --params {{}} --in video=clip.mp4 --out folder", ["folder", "is a folder", "name the file"], None),
    ("assemble out is a folder", "assemble clipframes.h5 -o folder/", ["folder/", "is a folder"], None),
    ("assemble out names a missing folder", "assemble clipframes.h5 -o newdir/", ["newdir/", "is a folder"], "newdir"),
    ("assemble out not a video", "assemble clipframes.h5 -o out.txt", ["out.txt", "'.txt'", ".mp4, or .gif"], "out.txt"),
    ("log is a folder", "plan --log folder", ["folder", "is a folder"], None),
    ("assemble frames of another stage", "assemble clipframes.h5 --frames flowlike.h5 -o out.mp4", ["flowlike.h5", "holds a 'flow' artifact, expected 'frames'"], "out.mp4"),
    ("artifact is a folder", "info folder", ["folder", "is a folder, not an artifact"], None),
    ("assemble truncated artifact", "assemble half.h5 -o out.mp4", ["half.h5", "not a readable HDF5"], "out.mp4"),
    ("info truncated artifact", "info half.h5", ["half.h5", "not a readable HDF5"], None),
    # third round, continued: places to write, and settings past what a clip can use
    ("output under a dangling link", "frames --params {{}} --in video=clip.mp4 --out gone/f.h5", ["gone", "symbolic link", "nowhere", "does not exist"], None),
    ("output under a file", "frames --params {{}} --in video=clip.mp4 --out text.png/f.h5", ["text.png", "is a file", "keeps a folder there"], None),
    ("flow chunks past any clip", "plan --config flowchunks.yaml", ["flowchunks.yaml", "flow.chunks", "maximum of 512"], None),
    ("stylize chunks past any clip", "plan --config stylizechunks.yaml", ["stylizechunks.yaml", "stylize.chunks", "maximum of 512"], None),
    ("laplacian chunks past any clip", "plan --config lapchunks.yaml", ["lapchunks.yaml", "laplacian.chunks", "maximum of 512"], None),
    ("evaluate chunks past any clip", "plan --config evalchunks.yaml", ["evalchunks.yaml", "evaluate.chunks", "maximum of 512"], None),
    ("image output under a dangling link", "image content.png style.png -o gone/out.png", ["gone", "symbolic link", "does not exist"], None),
    ("image output under a file", "image content.png style.png -o text.png/out.png", ["text.png", "is a file"], None),
    ("log under a dangling link", "plan --log gone/pvst.log", ["gone", "symbolic link"], None),
    ("assemble out under a dangling link", "assemble clipframes.h5 -o gone/out.mp4", ["gone", "symbolic link"], None),
    ("metrics under a file", "evaluate --video tiny --out text.png/m.json", ["text.png", "is a file"], None),
    ("clip of cover art only", "frames --params {{}} --in video=cover.m4a --out c.h5", ["cover.m4a", "only cover art"], "c.h5"),
    ("clip of cover art as style", "image content.png cover.m4a -o out.png", ["cover.m4a"], "out.png"),
]
# fmt: on


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory, tiny_clip, rocket_file, bikes_file) -> Path:
    d = tmp_path_factory.mktemp("bad")
    rocket = media.read_image(rocket_file)
    Image.fromarray(media.resize_image(rocket, (64, 40))).save(d / "content.png")
    Image.fromarray(media.resize_image(rocket, (64, 40))).save(d / "style.png")
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(d / "tiny.png")
    Image.fromarray(np.full((40, 64, 3), (0, 0, 255), np.uint8)).save(d / "mask.png")
    (d / "text.png").write_text("not a picture\n")
    (d / "empty.png").write_bytes(b"")
    (d / "garbage.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    (d / "garbage.pth").write_bytes(np.random.default_rng(1).bytes(512))
    shutil.copy(tiny_clip, d / "clip.mp4")
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", str(d / "audio.m4a"))
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x48:d=1", "-frames:v", "0", str(d / "zero.mp4"))
    (d / "folder").mkdir()
    # second round
    Image.fromarray(np.zeros((1, 200, 3), np.uint8)).save(d / "thin.png")
    Image.fromarray(np.zeros((8, 400, 3), np.uint8)).save(d / "thinstyle.png")
    (d / "bomb.png").write_bytes(png_header(40000, 30000))
    Image.fromarray(np.full((40, 128, 3), (0, 0, 255), np.uint8)).save(d / "widemask.png")
    whole = d / "whole.mp4"
    ffmpeg(
        "-i",
        str(bikes_file),
        "-frames:v",
        "40",
        "-vf",
        "scale=128:-2",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        str(whole),
    )
    assert (
        cli.main(
            [
                "frames",
                "--params",
                "{}",
                "--in",
                f"video={whole}",
                "--out",
                str(d / "clipframes.h5"),
            ]
        )
        == 0
    )
    shutil.copy(d / "clipframes.h5", d / "flowlike.h5")
    with h5py.File(d / "flowlike.h5", "a") as f:
        f.attrs["stage"] = "flow"
    data = whole.read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])  # the index first, half the frames
    ffmpeg("-i", str(bikes_file), "-frames:v", "3", "-vf", "scale=320:8", str(d / "thinclip.mp4"))
    (d / "imgs").mkdir()
    for i in range(2):
        Image.fromarray(media.resize_image(rocket, (40, 40))).save(d / "imgs" / f"{i}.png")
    (d / "evil").mkdir()
    torch.save({"G_A": RunsCode(d / "code-ran")}, d / "evil" / "training_state.pt")
    with h5py.File(d / "foreign.h5", "w") as f:
        f["frames"] = np.zeros((2, 8, 8, 3), np.uint8)
    frames.save(d / "badcount.h5", np.zeros((2, 8, 8, 3), np.uint8), 25)
    with h5py.File(d / "badcount.h5", "a") as f:
        f.attrs["count"] = 5
    frames.save(d / "whole.h5", np.zeros((40, 64, 64, 3), np.uint8), 25)
    (d / "secret.txt").write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" * 12)
    with h5py.File(d / "outside.h5", "w") as f, h5py.File(d / "badcount.h5") as good:
        f.attrs.update({**good.attrs, "count": 2})
        f.create_dataset("frames", (2, 8, 8, 3), np.uint8, external=[("secret.txt", 0, 384)])
    with h5py.File(d / "linked.h5", "w") as f, h5py.File(d / "badcount.h5") as good:
        f.attrs.update({**good.attrs, "count": 2})
        f["frames"] = h5py.ExternalLink("whole.h5", "frames")
    half = (d / "whole.h5").read_bytes()
    (d / "half.h5").write_bytes(half[: len(half) // 2])
    configs = {
        "badyaml.yaml": "stylize: {alpha: 1\n  beta: [",
        "typo.yaml": {"stylize": {"alfa": 1}},
        "wrongtype.yaml": {"stylize": {"beta": "lots"}},
        "list.yaml": [1, 2],
        "gpu.yaml": {"stylize": {"device": "gpu"}},
        "underscore.yaml": {"variants": {"a_b": {}}},
        "reserved.yaml": {"variants": {"sbs": {}}},
        "section.yaml": {"stylise": {}},
        "small.yaml": {"frames": {"size": 4}},
        "method.yaml": {"segmentation": {"method": "magic"}},
        "nan.yaml": "stylize: {alpha: .nan}\n",
        "inf.yaml": "stylize: {lambda: .inf}\n",
        "twice.yaml": "frames: {size: 64}\nframes: {size: 32}\n",
        "aliasbomb.yaml": "".join(
            f"{x}: &{x} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
            for p, x in zip(["", "a", "b", "c", "d", "e"], "abcdef", strict=True)
        )
        + "stylize: {alpha: *f}\n",
        "folderclip.yaml": {"videos": {"here": {"video": "folder"}}},
        "rendersize.yaml": {"render": {"size": "big"}},
        "intkey.yaml": "1: x\nframes: {size: 64}\n",
        "nestedkey.yaml": "stylize: {2.5: x}\n",
        "listkey.yaml": "? [a, b]\n: 1\n",
        "deep.yaml": "stylize: " + "[" * 50000 + "]" * 50000 + "\n",
        "flowchunks.yaml": {"flow": {"chunks": 100000}},
        "stylizechunks.yaml": {"stylize": {"chunks": 1000}},
        "lapchunks.yaml": {"laplacian": {"chunks": 600}},
        "evalchunks.yaml": {"evaluate": {"chunks": 513}},
    }
    cover = ("-map", "0:a", "-map", "1:v", "-c:v", "mjpeg", "-disposition:v:0", "attached_pic")
    sine = ("-f", "lavfi", "-i", "sine=frequency=440:duration=0.5")
    ffmpeg(*sine, "-i", str(d / "style.png"), *cover, str(d / "cover.m4a"))
    (d / "gone").symlink_to(d / "nowhere")
    for name, value in configs.items():
        text = value if isinstance(value, str) else yaml.safe_dump(value)
        (d / name).write_text(text)
    (d / "config").mkdir()
    (d / "config" / "config.yaml").write_text(yaml.safe_dump({"frames": {"size": 64}}))
    (d / "data").mkdir()
    return d


def png_header(width: int, height: int) -> bytes:
    """A PNG that says it is width × height (a decompression bomb needs nothing more to be
    refused: pvst reads the size before any pixel)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


class RunsCode:
    """Unpickled without weights_only, this creates the file `marker`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly(case, media_dir, monkeypatch, capsys):
    _, argv, words, output = case
    monkeypatch.chdir(media_dir)
    before = {p for p in media_dir.rglob("*")}
    rc = cli.main(argv.format().split())
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, f"{word!r} not in {err!r}"
    if output:
        assert not (media_dir / output).exists()
    made = {p for p in media_dir.rglob("*")} - before
    assert not [p for p in made if p.is_file() and p.suffix in (".png", ".mp4", ".h5", ".xyz")]


def test_there_are_at_least_a_hundred_cases():
    assert len(CASES) >= 107 and len({c[0] for c in CASES}) == len(CASES)


def test_no_case_ran_code_or_wrote_a_long_message(media_dir, monkeypatch, capsys):
    assert not (media_dir / "code-ran").exists()
    monkeypatch.chdir(media_dir)
    assert cli.main(["plan", "--config", "aliasbomb.yaml"]) == 2
    assert len(capsys.readouterr().err) < 2000  # the first part and a count, not megabytes


def test_images_read_as_they_look(tmp_path, caplog):
    grey16 = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "grey16.png")
    with caplog.at_level("INFO", logger="pvst.media"):
        img = media.read_image(tmp_path / "grey16.png")
    assert img.shape == (48, 64, 3) and abs(img.mean() - 127.5) < 1  # not white (255)
    assert "grey scaled" in caplog.text
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:4, :, 3] = 255  # top half opaque red, bottom half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    img = media.read_image(tmp_path / "rgba.png")
    assert tuple(img[0, 0]) == (200, 0, 0) and tuple(img[7, 0]) == (255, 255, 255)
    import cv2

    rgb16 = np.zeros((8, 8, 3), np.uint16)
    rgb16[..., 2], rgb16[..., 1] = 65535, 32768  # OpenCV writes BGR: red full, green half
    cv2.imwrite(str(tmp_path / "rgb16.png"), rgb16)
    assert tuple(media.read_image(tmp_path / "rgb16.png")[0, 0]) == (255, 128, 0)
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    assert tuple(media.read_image(tmp_path / "cmyk.jpg")[4, 4]) == (255, 0, 0)
    pal = Image.new("P", (8, 8))
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    pal.putpixel((1, 1), 1)
    pal.save(tmp_path / "pal.png")
    assert tuple(media.read_image(tmp_path / "pal.png")[1, 1]) == (10, 200, 30)
    # EXIF orientation 6: the stored 8×4 image is shown rotated, 4 wide and 8 high
    wide = Image.fromarray(np.zeros((4, 8, 3), np.uint8))
    exif = wide.getexif()
    exif[0x0112] = 6
    wide.save(tmp_path / "turned.jpg", exif=exif)
    assert media.read_image(tmp_path / "turned.jpg").shape == (8, 4, 3)


def test_clip_names_that_no_target_can_carry(tmp_path, tiny_clip):
    from pvst.errors import PvstError
    from pvst.pipeline import config
    from pvst.pipeline.plan import Plan

    (tmp_path / "data").mkdir()
    for name in ("my clip.mp4", "café.mp4", "dup.mp4", "dup.mkv", "fine.mp4"):
        shutil.copy(tiny_clip, tmp_path / "data" / name)
    plan = Plan(config.validate({}), root=tmp_path)
    cafe, clip = plan.unusable_clips()
    assert clip.startswith("data/my clip.mp4") and 'my_clip: {video: "data/my clip.mp4"}' in clip
    assert cafe.startswith("data/café.mp4") and 'cafe: {video: "data/café.mp4"}' in cafe
    assert "fine" in plan.videos() and "my clip" not in plan.videos()
    with pytest.raises(PvstError, match=r"data/dup.mkv, data/dup.mp4 all go by that name"):
        plan.video_file("dup")
    mapped = Plan(config.validate({"videos": {"dup": {"video": "data/dup.mkv"}}}), root=tmp_path)
    assert mapped.video_file("dup") == "data/dup.mkv"


def test_keyframe_masks_past_the_clip_end(tmp_path):
    from pvst.errors import PvstError

    Image.fromarray(np.full((28, 64, 3), (0, 0, 255), np.uint8)).save(tmp_path / "000999.png")
    with pytest.raises(PvstError, match=r"000999.png.*past the clip's end \(it has 12 frames"):
        regions.masks.keyframes(str(tmp_path), 12, (64, 28))


def test_raft_without_weights_is_found_before_any_job():
    from pvst.pipeline import config

    cfg = config.validate({"variants": {"sharp": {"flow": {"method": "raft"}}}})
    problems = config.missing_weights(cfg)
    assert problems == [
        "flow.method is raft for variant 'sharp' but flow.raft.weights names no file "
        "(torchvision RAFT weights; pvst downloads nothing)"
    ]
    ok = config.validate({"flow": {"method": "raft", "raft": {"weights": "w.pth"}}})
    assert config.missing_weights(ok) == []


def test_exponent_numbers_in_yaml(tmp_path):
    from pvst.pipeline import config

    (tmp_path / "c.yaml").write_text("stylize: {lambda: 1e4, beta: 2E+2, tv: 1e-3}\n")
    cfg = config.load(tmp_path / "c.yaml")
    assert cfg["stylize"]["lambda"] == 10000 and cfg["stylize"]["beta"] == 200
    assert cfg["stylize"]["tv"] == pytest.approx(1e-3)


def test_a_keyframe_folder_holds_only_its_masks(tmp_path):
    from pvst.errors import PvstError

    Image.fromarray(np.full((28, 64, 3), (0, 0, 255), np.uint8)).save(tmp_path / "000000.png")
    Image.fromarray(np.full((28, 64, 3), (0, 0, 255), np.uint8)).save(tmp_path / "000006.jpg")
    with pytest.raises(PvstError, match=r"also holds 000006\.jpg, which are not PNG"):
        regions.masks.keyframes(str(tmp_path), 12, (64, 28))


def test_an_animated_image_says_which_frame_is_used(tmp_path, caplog):
    frames_ = [Image.new("RGB", (40, 40), c) for c in ((200, 0, 0), (0, 200, 0), (0, 0, 200))]
    frames_[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames_[1:])
    with caplog.at_level("WARNING", logger="pvst.media"):
        img = media.read_image(tmp_path / "anim.gif")
    assert "an animated image of 3 frames; its first frame is used" in caplog.text
    assert img[0, 0, 0] > 150 and img[0, 0, 1] < 50


def test_a_mask_resized_from_its_photo_is_accepted(tmp_path):

    Image.fromarray(np.full((41, 64, 3), (0, 255, 0), np.uint8)).save(tmp_path / "m.png")
    labels = regions.read_colour_mask(tmp_path / "m.png", (128, 80))  # 1.5 % off: rounding
    assert labels.shape == (80, 128)


def test_a_broken_ffmpeg_first_on_path_is_named_and_passed_over(tmp_path, tiny_clip):
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'cannot execute: Exec format error' >&2\nexit 126\n")
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{fake.parent}:{os.environ['PATH']}")
    out = tmp_path / "f.h5"
    argv = ["frames", "--params", "{}", "--in", f"video={tiny_clip}", "--out", str(out)]
    r = subprocess.run(
        [sys.executable, "-m", "pvst", *argv], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert f"{fake} (first on PATH) does not run (exit status 126" in r.stderr
    assert out.is_file()


def icc_rgb_profile(name: str, primaries: tuple, gamma: float) -> bytes:
    """A minimal ICC v2 display profile (matrix and gamma; D50 colorants), e.g. Adobe RGB."""
    import struct

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(v) -> bytes:
        return b"XYZ " + b"\0" * 4 + b"".join(s15(c) for c in v)

    text = name.encode() + b"\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(text)) + text + b"\0" * 78
    curve = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [(b"desc", desc), (b"wtpt", xyz((0.9642, 1.0, 0.8249)))]
    tags += [(sig, xyz(p)) for sig, p in zip((b"rXYZ", b"gXYZ", b"bXYZ"), primaries, strict=True)]
    tags += [(sig, curve) for sig in (b"rTRC", b"gTRC", b"bTRC")]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = struct.pack(">I", offset + len(body)) + b"\0" * 4 + struct.pack(">I", 0x02100000)
    header += b"mntrRGB XYZ " + b"\0" * 12 + b"acsp" + b"\0" * 28
    header += s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48
    return header + struct.pack(">I", len(tags)) + table + body


ADOBE_RGB = ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446))


def test_a_photos_icc_profile_is_converted_to_srgb(tmp_path, caplog):
    """A photo in Adobe RGB (cameras and editors write these) reads as the colours it means,
    in sRGB: a muted red becomes a stronger one; a broken profile is named, not fatal."""
    profile = icc_rgb_profile("Test Adobe RGB", ADOBE_RGB, 2.2)
    plain = Image.fromarray(np.full((8, 8, 3), (128, 64, 64), np.uint8))
    plain.save(tmp_path / "adobe.jpg", icc_profile=profile, quality=100)
    plain.save(tmp_path / "adobe.png", icc_profile=profile)
    plain.save(tmp_path / "broken.png", icc_profile=b"not a profile")
    with caplog.at_level("INFO", logger="pvst.media"):
        for name in ("adobe.jpg", "adobe.png"):
            r, g, b = (int(v) for v in media.read_image(tmp_path / name)[4, 4])
            assert r >= 140 and g <= 64 and b <= 64, (name, r, g, b)
        assert "converted from its ICC profile 'Test Adobe RGB' to sRGB" in caplog.text
        assert tuple(media.read_image(tmp_path / "broken.png")[4, 4]) == (128, 64, 64)
    assert "broken.png: its ICC profile cannot be read" in caplog.text
    for kind in ("webp", "tiff"):
        plain.save(tmp_path / f"p.{kind}", lossless=True)
        assert tuple(media.read_image(tmp_path / f"p.{kind}")[4, 4]) == (128, 64, 64)


def test_the_default_video_stream_is_read_and_transparency_goes_on_white(tmp_path, tiny_clip):
    """A clip whose default video stream is its second is read from that one (size, frames);
    a clip with an alpha plane is composited on white, as a photo with one is."""
    two = tmp_path / "two.mkv"
    red = "color=c=red:s=64x36:d=0.2:r=25"
    ffmpeg(
        *("-f", "lavfi", "-i", red, "-i", str(tiny_clip), "-map", "0:v", "-map", "1:v"),
        *("-c:v", "libx264", "-disposition:v:0", "0", "-disposition:v:1", "default", str(two)),
    )
    info = media.probe(two)
    assert (info.stream, info.streams, info.display_size) == (1, 2, (128, 54))
    assert media.timing(two).frames == 12
    first = next(media.read_frames(two, (128, 54)))
    assert first[..., 0].mean() < 200  # the street, not the red card
    alpha = tmp_path / "alpha.mov"
    clear_right = "format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='if(lt(X,64),255,0)'"
    ffmpeg("-i", str(tiny_clip), "-vf", clear_right, "-c:v", "png", str(alpha))
    assert media.has_alpha(media.probe(alpha).pixel_format)
    frame = next(media.read_frames(alpha, (128, 54)))
    assert (frame[:, 70:] == 255).all() and frame[:, :60].mean() < 200
    out = tmp_path / "f.h5"
    assert cli.main(["frames", "--params", "{}", "--in", f"video={two}", "--out", str(out)]) == 0
    with frames.Frames(out) as f:
        assert f.size == (128, 54) and len(f) == 12


def test_results_folders_that_are_files_or_dangling_links_are_named(tmp_path):
    from pvst.atomic import check_writable
    from pvst.errors import PvstError

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "logs").write_text("")
    with pytest.raises(PvstError, match=r"results/logs: is a file, but pvst keeps a folder"):
        check_writable(tmp_path / "results" / "logs", folder=True)
    (tmp_path / "store").symlink_to(tmp_path / "unmounted")
    with pytest.raises(PvstError, match=r"store: a symbolic link to .*unmounted, which does not"):
        check_writable(tmp_path / "store", folder=True)
    (tmp_path / "unmounted").mkdir()
    check_writable(tmp_path / "store", folder=True)  # a link to a folder is a folder
