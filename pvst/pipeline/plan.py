"""Where every artifact lives and what it is made from: the one description of the pipeline.

Snakemake's rules, the generated dvc.yaml and the `pvst` command all ask this module for paths,
parameters and inputs. An artifact's path is `results/{video}/{stage}-{key}.h5`, where the key
hashes the stage's own parameters and its inputs' keys; so a stage reruns only when something
it reads changes, and switching a parameter back finds the earlier result still there.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from pvst.errors import PvstError
from pvst.frozen import Frozen
from pvst.pipeline import config as cfgmod
from pvst.pipeline import samples
from pvst.pipeline.fingerprint import fingerprint
from pvst.pipeline.store import params_key

RESULTS = "results"
EVAL_FLOW_ORDER = ("dis", "farneback", "deepflow", "tvl1")
DATA = "data"
# What a video name in a target may hold (the Snakemake wildcard constraint says the same).
VIDEO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg")
# Products with fixed names, per video and variant. Each is both a format string and the
# Snakemake rule's output pattern (same wildcards).
PRODUCTS = {
    "mp4": f"{RESULTS}/{{video}}_{{variant}}.mp4",
    "sbs": f"{RESULTS}/{{video}}_{{variant}}_sbs.mp4",
    "gif": f"{RESULTS}/{{video}}_{{variant}}.gif",
    "metrics": f"{RESULTS}/{{video}}_{{variant}}.metrics.json",
    "flow_preview": f"{RESULTS}/{{video}}_{{variant}}_flow.mp4",
    "segments_preview": f"{RESULTS}/{{video}}_{{variant}}_segments.mp4",
}
# One of the `chunks` parts of a stage computed in parallel jobs, merged into its artifact.
PART = f"{RESULTS}/{{video}}/parts/{{stage}}-{{key}}-{{i}}of{{n}}.h5"
FIGURES = f"{RESULTS}/figures"
FIGURE = f"{FIGURES}/{{figure}}.png"
# What `pvst plots` writes into FIGURES.
PLOTS = {
    "table": f"{FIGURES}/metrics.csv",
    "markdown": f"{FIGURES}/metrics.md",
    "ewarp": f"{FIGURES}/ewarp_vs_ssim.png",
    "losses": f"{FIGURES}/loss_curves.png",
}


@dataclass(frozen=True)
class Stage:
    """A pipeline stage: the config section it reads, its inputs in key order, its version,
    and its command (`pvst STAGE`, which runs `run(job)` of the driver pvst/stages/STAGE.py).

    `execution` (the schema's `x-execution` marks in its section, and `unkeyed`) names keys
    that change how a stage runs but not what it makes (left out of its key); `choice` names
    a key whose value selects one sub-section of the same name (the sub-sections of the other
    values are left out).
    """

    section: str
    inputs: tuple[str, ...]
    version: int = 1
    unkeyed: tuple[str, ...] = ()  # keys left out of this stage's key only (not marked)
    choice: str | None = None
    alternatives: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # dotted parameters naming input files (tracked, not keyed)
    elsewhere: tuple[str, ...] = ()  # keys of the section that another stage reads
    optional: dict = field(default_factory=dict)  # role -> predicate(params): needed?
    help: str = ""  # what `pvst STAGE` does, for --help
    parted: bool = False  # computed in `chunks` parts (--part I/N, --merge PART…)
    threads: str = ""  # what --threads sets (no --threads option when empty)

    @property
    def execution(self) -> tuple[str, ...]:
        return execution_paths(self.section) + self.unkeyed

    def roles(self, params: dict) -> tuple[str, ...]:
        """The inputs this stage reads with these parameters, in key order."""
        return tuple(r for r in self.inputs if r not in self.optional or self.optional[r](params))

    def keyed(self, params: dict) -> dict:
        """The parameters that determine the artifact: what its key hashes and what it records."""
        out = {
            k: v for k, v in params.items() if k not in self.execution and k not in self.elsewhere
        }
        for dotted in (e for e in self.execution if "." in e):
            head, tail = dotted.split(".", 1)
            if isinstance(out.get(head), dict) and tail in out[head]:
                out[head] = {k: v for k, v in out[head].items() if k != tail}
        if self.choice:
            chosen = out.get(self.choice)
            out = {k: v for k, v in out.items() if k not in self.alternatives or k == chosen}
        return out


DEVICE_REF = "#/$defs/device"


@cache
def _marked(section: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the dotted keys of a section that the schema marks `x-execution`, those of them that
    are device settings)."""
    name, *inner = section.split(".")
    node = cfgmod.resolve_ref(cfgmod.schema()["properties"][name])
    for key in inner:
        node = cfgmod.resolve_ref(node["properties"][key])
    marked: list[str] = []
    devices: list[str] = []

    def walk(node: dict, prefix: str) -> None:
        for key, raw in node.get("properties", {}).items():
            child = cfgmod.resolve_ref(raw)
            if child.get("x-execution"):
                marked.append(prefix + key)
                if raw.get("$ref") == DEVICE_REF:
                    devices.append(prefix + key)
            elif child.get("type") == "object":
                walk(child, f"{prefix}{key}.")

    walk(node, "")
    return tuple(marked), tuple(devices)


def execution_paths(section: str) -> tuple[str, ...]:
    """The dotted keys of a section (`stylize`, or `stylize.postprocess`) that the schema marks
    `x-execution`: they change how a job runs, not what it makes."""
    return _marked(section)[0]


def without_execution(section: str, params: dict) -> dict:
    """A section's parameters without its `x-execution` settings (what a product is made
    from; a stage's key also leaves out other keys, see Stage.keyed)."""
    return Stage(section, ()).keyed(params)


# Input roles that are artifacts: the stages', and `result`, the optimised frames (stylized, or
# smoothed) that the refine stage starts from.
RESULT = "result"


def gpu_claim(stage: str, params: dict) -> int:
    """What a job of `stage` (or of a section without a stage: `render`, `evaluate`) with these
    parameters claims of the workflow's `gpu` resource: 1 when a device setting on the path it
    takes (not under a method it does not choose) may land on a GPU (anything but cpu)."""
    spec = STAGES.get(stage, Stage(stage, ()))
    chosen = params.get(spec.choice) if spec.choice else None
    for path in _marked(spec.section)[1]:
        head, *_ = path.split(".")
        if head in spec.alternatives and head != chosen:
            continue
        value = params
        for key in path.split("."):
            value = value[key]
        if value != "cpu":
            return 1
    return 0


def is_artifact_role(role: str) -> bool:
    return role in STAGES or role == RESULT


OPENCV_THREADS = "OpenCV threads (default: OpenCV's choice)"
TORCH_THREADS = "torch CPU threads (default: the section's threads)"
# Bump a stage's version when its output changes meaning for the same parameters.
STAGES: dict[str, Stage] = {
    "frames": Stage(
        "frames", ("video",), help="decode a clip into a frames artifact at working size"
    ),
    "flow": Stage(
        "flow",
        ("frames",),
        choice="method",
        alternatives=("dis", "tvl1", "farneback", "raft"),
        files=("raft.weights",),
        help="optical flow pairs, consistency masks and scene cuts",
        parted=True,
        threads=OPENCV_THREADS,
    ),
    "laplacian": Stage(
        "laplacian",
        ("frames",),
        version=2,  # 2: bands
        help="the Matting Laplacian of every frame",
        parted=True,
        threads=OPENCV_THREADS,
    ),
    "segment": Stage(
        "segmentation",
        ("frames", "flow", "style"),
        choice="method",
        alternatives=("auto", "masks", "semantic", "match"),
        files=("masks.content", "masks.style", "semantic.weights", "auto.vgg"),
        help="matched region labels for the frames and the style photo",
    ),
    "stylize": Stage(
        "stylize",
        ("frames", "flow", "laplacian", "segment", "style"),
        files=("vgg",),
        elsewhere=("postprocess", "refine"),
        optional={"laplacian": lambda p: p["lambda"] > 0},
        help="stylize every frame (resumes an interrupted run)",
        parted=True,
        threads=TORCH_THREADS,
    ),
    # a video's result refined at the output size (stylize.refine.video evaluations a frame)
    "refine": Stage(
        "stylize",
        ("result", "frames", "flow", "segment", "style", "video"),
        unkeyed=("refine.image",),  # image mode's, not the video's
        files=("vgg",),
        elsewhere=("postprocess",),
        help="refine every frame of a result at the output size (resumes)",
        threads=TORCH_THREADS,
    ),
    "smooth": Stage(
        "stylize.postprocess",
        ("stylize", "frames", "laplacian"),
        optional={"laplacian": lambda p: p["method"] == "closed_form"},
        help="smooth the stylized frames (stylize.postprocess)",
    ),
    "cyclegan": Stage(
        "cyclegan",
        ("frames", "checkpoint"),
        help="translate every frame with a CycleGAN generator",
    ),
}


def recorded(stage: str, params: Frozen) -> dict:
    """What an artifact of `stage` records of its parameters: the part of the section that
    its key hashes."""
    return STAGES[stage].keyed(params.to_dict())


@dataclass(frozen=True)
class FigureRow:
    """One row of a figure: a caption and what it shows (`kind`): a frames artifact's frames
    (the input or a variant's result), a segment artifact's labels over its `frames`, or the
    style photo."""

    label: str
    kind: Literal["frames", "segments", "style"]
    path: str
    frames: str | None = None  # segments: the frames artifact the labels are drawn over
    variant: str | None = None  # a result: whose, for the metrics table and the plots
    video: str | None = None

    def to_dict(self) -> dict:
        """The row as the figure command's --spec and the figure's stamp carry it."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def of(cls, values: dict) -> FigureRow:
        return cls(**values)


@dataclass(frozen=True)
class Artifact:
    """One stage output for one video: its key, parameters and inputs (role -> path)."""

    stage: str
    video: str
    key: str
    params: dict = field(hash=False, compare=False)
    inputs: dict = field(hash=False, compare=False)

    @property
    def path(self) -> str:
        return artifact_path(self.video, self.stage, self.key)

    @property
    def parts(self) -> list[str]:
        """The part files of a stage computed in `chunks` parallel jobs, in order."""
        n = self.params["chunks"]
        return [part_path(self.video, self.stage, self.key, i, n) for i in range(1, n + 1)]


def part_path(video: str, stage: str, key: str, i: int | str, n: int | str) -> str:
    """Path of part i of n of an artifact."""
    return PART.format(video=video, stage=stage, key=key, i=i, n=n)


def artifact_path(video: str, stage: str, key: str) -> str:
    """Path of an artifact, relative to the workflow directory."""
    return f"{RESULTS}/{video}/{stage}-{key}.h5"


def input_token(path: str, content: str | Path | None = None) -> str:
    """How a plain input file enters a key: its normalised relative path and the fingerprint
    of its content (of `content`, the file that will be copied there, for a sample not yet
    in data/)."""
    return f"{os.path.normpath(path)}#{fingerprint(content or path)}"


def param_files(stage: str, params: dict) -> dict[str, str]:
    """Input files that a stage's parameters name (masks, weights), by role."""
    keyed = STAGES[stage].keyed(params)
    out = {}
    for dotted in STAGES[stage].files:
        value = keyed
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value != "pastiche":
            out[dotted.replace(".", "_")] = value
    return out


def stage_key(stage: str, params: dict, input_tokens: list[str]) -> str:
    """The key of a stage's artifact, given its parameters and its inputs' keys or tokens."""
    spec = STAGES[stage]
    return params_key(stage, spec.keyed(params), input_tokens, spec.version)


class Plan:
    """Resolves videos, variants and artifacts from a validated configuration."""

    def __init__(self, config: dict, root: str | Path = ".") -> None:
        self.config = config
        self.root = Path(root)

    # -- names -------------------------------------------------------------------------------
    def variants(self) -> list[str]:
        return cfgmod.variant_names(self.config)

    def videos(self) -> list[str]:
        """Configured videos, then clips found in data/, then the embedded samples."""
        names = list(self.config["videos"])
        for p in self._clips():
            if p.stem not in names and VIDEO_NAME.fullmatch(p.stem):
                names.append(p.stem)
        names += [n for n in samples.sample_videos() if n not in names]
        return names

    def _clips(self) -> list[Path]:
        data = self.root / DATA
        if not data.is_dir():
            return []
        return [p for p in sorted(data.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES]

    def unusable_clips(self) -> list[str]:
        """Clips in data/ that no target can name (spaces, accents, …), each with how to use
        it: a `videos:` entry that gives it a plain name."""
        mapped = {e.get("video") for e in self.config["videos"].values()}
        out = []
        for p in self._clips():
            rel = f"{DATA}/{p.name}"
            if VIDEO_NAME.fullmatch(p.stem) or rel in mapped:
                continue
            ascii_stem = unicodedata.normalize("NFKD", p.stem).encode("ascii", "ignore").decode()
            plain = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_stem)
            plain = plain.strip("._-") or "clip"
            out.append(
                f"{rel}: a target name may hold only letters, digits, '.', '_' and '-', so "
                f"results/<name>_stylized.mp4 cannot name this file; give it a name in "
                f'config/config.yaml: videos: {{{plain}: {{video: "{rel}"}}}}'
            )
        return out

    # -- input files -------------------------------------------------------------------------
    def video_file(self, video: str) -> str:
        """The clip behind a video name; a clear error when it is neither here nor a sample."""
        entry = self.config["videos"].get(video, {})
        if "video" in entry:
            path = entry["video"]
            if (self.root / path).is_dir():
                raise PvstError(
                    f"{path}: the clip of video '{video}' is a folder; `video:` names one file "
                    "(any format ffmpeg reads)"
                )
            if (self.root / path).exists() or self._is_sample(path):
                return path
            raise PvstError(self._missing(path, f"the clip of video '{video}'"))
        found = [p for p in self._clips() if p.stem == video]
        if len(found) > 1:
            options = ", ".join(f"{DATA}/{p.name}" for p in found)
            raise PvstError(
                f"video '{video}': {options} all go by that name; say which one in "
                f"config/config.yaml: videos: {{{video}: {{video: {DATA}/{found[0].name}}}}}"
            )
        if found:
            return f"{DATA}/{found[0].name}"
        path = f"{DATA}/{video}.mp4"
        if self._is_sample(path):
            return path
        raise PvstError(self._missing(path, f"video '{video}'"))

    def style_file(self, video: str, variant: str = cfgmod.DEFAULT_VARIANT) -> str:
        """The style photo of a video and variant (variant, then video entry, then default)."""
        over = self.config["variants"].get(variant, {})
        entry = self.config["videos"].get(video, {})
        path = over.get("style") or entry.get("style") or self.config["default_style"]
        if (self.root / path).is_dir():
            raise PvstError(f"{path}: the style photo of '{video}' ({variant}) is a folder")
        if (self.root / path).exists() or self._is_sample(path):
            return path
        raise PvstError(self._missing(path, f"the style photo of '{video}' ({variant})"))

    @staticmethod
    def _sample_name(path: str) -> str:
        """The name under data/ of a path (a sample's name, if it is one)."""
        return os.path.relpath(os.path.normpath(path), DATA)

    @classmethod
    def _is_sample(cls, path: str) -> bool:
        return cls._sample_name(path) in samples.SAMPLES

    @staticmethod
    def _missing(path: str, what: str) -> str:
        return (
            f"{path}: {what} is missing. Put the file there, or, if it is tracked by DVC, "
            f"fetch it with `dvc pull {path}.dvc`."
        )

    # -- artifacts ---------------------------------------------------------------------------
    def params(self, stage: str, video: str, variant: str = cfgmod.DEFAULT_VARIANT) -> dict:
        """The effective parameters a stage reads for one video and variant."""
        name, *inner = STAGES[stage].section.split(".")
        params = cfgmod.section(self.config, name, video, variant)
        for key in inner:
            params = params[key]
        return params

    def artifact(self, stage: str, video: str, variant: str = cfgmod.DEFAULT_VARIANT) -> Artifact:
        """The artifact a stage makes for one video and variant."""
        params = self.params(stage, video, variant)
        inputs: dict[str, str] = {}
        tokens: list[str] = []
        for role in STAGES[stage].roles(params):
            if is_artifact_role(role):
                upstream = self.upstream(role, video, variant)
                inputs[role] = upstream.path
                tokens.append(upstream.key)
            else:
                inputs[role] = self._file(role, video, variant)
                tokens.append(self._token(inputs[role]))
        files = self._param_files(stage, params)
        tokens += [self._token(path) for path in files.values()]
        key = stage_key(stage, params, tokens)
        inputs.update(files)
        return Artifact(stage, video, key, params, inputs)

    def _token(self, path: str) -> str:
        """A plain input's token: its content's fingerprint (a sample's, from its package,
        before it is copied into data/)."""
        where = self.root / path
        if not where.exists() and self._is_sample(path):
            return input_token(path, samples.source(self._sample_name(path)))
        return input_token(path, where)

    def _file(self, role: str, video: str, variant: str) -> str:
        if role == "video":
            return self.video_file(video)
        if role == "style":
            return self.style_file(video, variant)
        if role == "checkpoint":
            path = self.params("cyclegan", video, variant)["checkpoint"]
            if not path:
                raise PvstError(
                    f"results/{video}_cyclegan.mp4 needs cyclegan.checkpoint: a generator such "
                    "as pytorch-CycleGAN-and-pix2pix's summer2winter_yosemite latest_net_G.pth, "
                    "or one trained with `pvst cyclegan-train`"
                )
            if (self.root / path).exists():
                return path
            raise PvstError(self._missing(path, "the CycleGAN checkpoint"))
        raise PvstError(f"unknown input role '{role}'")  # pragma: no cover - programming error

    def _param_files(self, stage: str, params: dict) -> dict[str, str]:
        """Input files named by the stage's parameters; a missing one is an error."""
        files = param_files(stage, params)
        for role, path in files.items():
            if not (self.root / path).exists():
                raise PvstError(self._missing(path, f"{stage}'s {role.replace('_', '.', 1)}"))
        return files

    def upstream(self, role: str, video: str, variant: str) -> Artifact:
        """The artifact behind an input role: a stage's, or (`result`) the optimised frames."""
        if role == RESULT:
            return self.optimised(video, variant)
        return self.artifact(role, video, variant)

    def optimised(self, video: str, variant: str = cfgmod.DEFAULT_VARIANT) -> Artifact:
        """The optimisation's frames: stylized, and smoothed unless stylize.postprocess.method
        is none."""
        if self.params("smooth", video, variant)["method"] == "none":
            return self.artifact("stylize", video, variant)
        return self.artifact("smooth", video, variant)

    def final(self, video: str, variant: str = cfgmod.DEFAULT_VARIANT) -> Artifact:
        """The artifact whose frames are a variant's video: the optimised frames (refined at
        the output size when stylize.refine.video > 0), or translated by the CycleGAN."""
        if variant == cfgmod.CYCLEGAN_VARIANT:
            return self.artifact("cyclegan", video, variant)
        if self.params("refine", video, variant)["refine"]["video"] > 0:
            return self.artifact("refine", video, variant)
        return self.optimised(video, variant)

    def needed(self, video: str, variant: str = cfgmod.DEFAULT_VARIANT) -> list[Artifact]:
        """Every artifact a variant's video needs, upstream first."""
        order: list[Artifact] = []

        def visit(art: Artifact) -> None:
            for role in art.inputs:
                if is_artifact_role(role):
                    visit(self.upstream(role, video, variant))
            if art not in order:
                order.append(art)

        visit(self.final(video, variant))
        return order

    # -- evaluation and figures ---------------------------------------------------------------
    def eval_flow(self, video: str, variant: str = cfgmod.DEFAULT_VARIANT) -> Artifact:
        """The flow of the input frames that the warping error uses: another estimator than
        the stylizer's, consecutive pairs only, hard (unblurred) masks."""
        flow = self.params("flow", video, variant)
        ev = cfgmod.section(self.config, "evaluate", video, variant)
        method = ev["flow_method"]
        if method == flow["method"]:
            method = next(m for m in EVAL_FLOW_ORDER if m != flow["method"])
        params = {
            **flow,
            "method": method,
            "long_term": [1],
            "blur_sigma": 0.0,
            "chunks": ev["chunks"],
        }
        frames = self.artifact("frames", video, variant)
        files = self._param_files("flow", params)
        key = stage_key("flow", params, [frames.key, *map(self._token, files.values())])
        return Artifact("flow", video, key, params, {"frames": frames.path, **files})

    def product(self, kind: str, video: str, variant: str) -> str:
        """The path of a fixed-name product (PRODUCTS) of a video and variant."""
        return PRODUCTS[kind].format(video=video, variant=variant)

    def metrics_path(self, video: str, variant: str) -> str:
        return self.product("metrics", video, variant)

    def metrics_inputs(self, video: str, variant: str) -> dict[str, str]:
        """What the metrics of a result are computed from."""
        base = cfgmod.DEFAULT_VARIANT if variant == cfgmod.CYCLEGAN_VARIANT else variant
        inputs = {
            "frames": self.artifact("frames", video, variant).path,
            "result": self.final(video, variant).path,
            "flow": self.eval_flow(video, variant).path,
            "style": self.style_file(video, base),
            "segment": self.artifact("segment", video, base).path,
            "video": self.video_file(video),  # the measures at the output size
        }
        if variant != cfgmod.CYCLEGAN_VARIANT:  # its effort: the optimisation's records
            inputs["stylize"] = self.artifact("stylize", video, variant).path
        return inputs

    def figure_rows(self, name: str) -> tuple[list[FigureRow], dict]:
        """The rows of a configured figure, resolved to artifacts, and the figure's spec."""
        try:
            spec = self.config["figures"][name]
        except KeyError:
            known = ", ".join(self.config["figures"]) or "none"
            raise PvstError(f"no figure '{name}' in the configuration (figures: {known})") from None
        video = spec.get("video") or self.config["default_video"]
        rows = []
        for entry in spec["rows"]:
            row, label = (
                (entry, None) if isinstance(entry, str) else (entry["row"], entry.get("label"))
            )
            variant, _, what = row.partition(":")
            if row == "input":
                rows.append(
                    FigureRow(label or "input", "frames", self.artifact("frames", video).path)
                )
            elif row == "style":
                rows.append(FigureRow(label or "style photo", "style", self.style_file(video)))
            elif what == "segments":
                rows.append(
                    FigureRow(
                        label or f"{variant}: regions",
                        "segments",
                        self.artifact("segment", video, variant).path,
                        frames=self.artifact("frames", video, variant).path,
                    )
                )
            elif what:
                raise PvstError(
                    f"figure '{name}': unknown row '{row}' (VARIANT or VARIANT:segments)"
                )
            else:
                if row not in self.variants():
                    raise PvstError(
                        f"figure '{name}': '{row}' is not a variant "
                        f"({', '.join(self.variants())}), input or style"
                    )
                desc = self.config["variants"].get(row, {}).get("description")
                rows.append(
                    FigureRow(
                        label or desc or row,
                        "frames",
                        self.final(video, row).path,
                        variant=row,
                        video=video,
                    )
                )
        return rows, {**spec, "video": video}

    def figure_results(self) -> list[tuple[str, str]]:
        """(video, variant) of every result that some figure shows."""
        out = []
        for name in self.config["figures"]:
            for row in self.figure_rows(name)[0]:
                pair = (row.video, row.variant)
                if row.variant and pair not in out:
                    out.append(pair)
        return out

    def find(self, stage: str, video: str, key: str) -> Artifact:
        """The artifact named results/{video}/{stage}-{key}.h5 by some configured variant."""
        for variant in self.variants():
            art = self.artifact(stage, video, variant)
            if art.key == key:
                return art
            if stage == "flow" and (flow := self.eval_flow(video, variant)).key == key:
                return flow
        raise PvstError(
            f"{artifact_path(video, stage, key)}: no configured variant of '{video}' makes this "
            "artifact (the configuration changed since it was asked for?)"
        )


def key_from_files(stage: str, params: dict, inputs: dict[str, str]) -> str:
    """The key of a stage's artifact computed from its actual input files.

    Upstream artifacts contribute the key they carry, plain files their path and content; the
    result equals Plan.artifact(...).key when the files are the ones the plan names.
    """
    from pvst.pipeline.store import input_key

    tokens = []
    for role in STAGES[stage].roles(params):
        path = inputs[role]
        tokens.append(input_key(path) if is_artifact_role(role) else input_token(path))
    tokens += [input_token(path) for path in param_files(stage, params).values()]
    return stage_key(stage, params, tokens)
