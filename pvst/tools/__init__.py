"""The commands of `pvst` that are not stages: image mode, CycleGAN training, figures and
previews, and looking at the configuration and the artifacts.

Each module here declares its commands with `@command` and `@arg`, beside the code they run;
`TOOLS` says which module holds a command, so that `pvst` imports only the one it runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pvst.pipeline import config
from pvst.pipeline.plan import Plan

DEFAULT_CONFIG = "config/config.yaml"

# command -> (module under pvst.tools, help), in the order `pvst --help` lists them
TOOLS: dict[str, tuple[str, str]] = {
    "samples": ("inspect", "copy the embedded sample clips and photos into data/"),
    "image": ("image", "stylize one photo with another (Deep Photo Style Transfer)"),
    "cyclegan-train": (
        "cyclegan_train",
        "train a CycleGAN between two image domains (resumes from OUT)",
    ),
    "segment-preview": ("views", "frame regions | style regions, as mp4 (or one frame as png)"),
    "flow-preview": (
        "views",
        "frame | flow colour wheel | consistency, as mp4 (or one frame as png)",
    ),
    "figure": ("views", "one of the configured figures as a labelled frame grid"),
    "plots": ("views", "metrics table, loss curves and E_warp against edge SSIM"),
    "dvc-yaml": ("inspect", "write dvc.yaml from the configuration (or --check it)"),
    "info": ("inspect", "print how artifacts were made (stage, parameters, inputs, shapes)"),
    "plan": ("inspect", "list the artifact paths the configuration asks for"),
}

# command -> its handler, with `pvst_arguments`: functions adding its arguments to a parser
HANDLERS: dict[str, Callable] = {}


def command(name: str) -> Callable[[Callable], Callable]:
    """Declare the handler of `pvst NAME`; its arguments are declared by @arg and @arguments
    under it."""

    def register(func: Callable) -> Callable:
        func.__dict__.setdefault("pvst_arguments", [])
        HANDLERS[name] = func
        return func

    return register


def arguments(*adders: Callable[[argparse.ArgumentParser], None]) -> Callable:
    """Arguments added by functions (shared groups of options)."""

    def add(func: Callable) -> Callable:
        # decorators apply bottom-up: put these before the ones already collected
        func.__dict__.setdefault("pvst_arguments", [])[:0] = adders
        return func

    return add


def arg(*names: str, **options) -> Callable:
    """One argparse argument of a command."""
    return arguments(lambda p: p.add_argument(*names, **options))


def role_path(text: str) -> tuple[str, str]:
    """ROLE=PATH (or LABEL=PATH) of an option."""
    role, sep, path = text.partition("=")
    if not sep or not role or not path:
        raise argparse.ArgumentTypeError(f"expected ROLE=PATH, got {text!r}")
    return role, path


def given_options(options: dict) -> dict:
    """The options a user gave (None: not given), nested as the sections are."""
    out = {}
    for key, value in options.items():
        if isinstance(value, dict):
            value = given_options(value)
        if value is not None and value != {}:
            out[key] = value
    return out


def load_plan(args) -> Plan:
    """The plan of the configuration a command was given (--config, else the default)."""
    return Plan(config.load(args.config or DEFAULT_CONFIG))
