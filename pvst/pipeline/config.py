"""Reading and validating config/config.yaml, and resolving the sections a stage reads.

The JSON schema (pvst/schemas/config.schema.yaml, linked from workflow/schemas/) is the one
place that names every key, its type and its default.
"""

from __future__ import annotations

import copy
import difflib
import math
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from pvst.errors import ConfigError

SCHEMA_PATH = Path(__file__).parent.parent / "schemas" / "config.schema.yaml"
DEFAULT_VARIANT = "stylized"
# results/{video}_cyclegan.mp4: the CycleGAN baseline, a variant with no overrides of its own
CYCLEGAN_VARIANT = "cyclegan"
# Names that end preview targets (results/{video}_{variant}_{name}.mp4), so no variant may
# take them; the schema lists the same names.
RESERVED_NAMES = ["sbs", "flow", "segments", "cyclegan", "metrics"]


@cache
def schema() -> dict:
    """The configuration schema, parsed once."""
    with open(SCHEMA_PATH) as f:
        return yaml.safe_load(f)


def resolve_ref(node: dict) -> dict:
    """A node with its $ref replaced by the definition (keys beside the $ref win)."""
    ref = node.get("$ref")
    if not ref:
        return node
    name = ref.rsplit("/", 1)[-1]
    siblings = {k: v for k, v in node.items() if k != "$ref"}
    return {**schema()["$defs"][name], **siblings}


def section_names() -> list[str]:
    """Top-level keys that are stage sections (objects with defaults)."""
    props = schema()["properties"]
    return [k for k, v in props.items() if "$ref" in v]


def defaults(section: str) -> dict:
    """Default values of one stage section."""
    return _fill_defaults({}, resolve_ref(schema()["properties"][section]))


def _fill_defaults(value: dict, node: dict) -> dict:
    out = dict(value)
    for key, sub in node.get("properties", {}).items():
        sub = resolve_ref(sub)
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if sub.get("type") == "object" and "properties" in sub:
            out[key] = _fill_defaults(out.get(key) or {}, sub)
    return out


def _dotted(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _describe(error) -> str:
    where = _dotted(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        lines = []
        for key in extra:
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = (
                f" (did you mean '{near[0]}'?)" if near else f" (known keys: {', '.join(allowed)})"
            )
            lines.append(f"{where}: unknown key '{key}'{hint}")
        return "; ".join(lines)
    if error.validator == "type":
        return f"{where}: expected {error.validator_value}, got {error.instance!r}"
    if error.validator == "pattern" and "description" in error.schema:
        return f"{where}: {error.instance!r} is not valid here ({error.schema['description']})"
    if error.validator == "pattern" and error.absolute_path == error.relative_path:
        return f"{where}: {error.instance!r} does not match {error.validator_value}"
    if error.validator == "not" and isinstance(error.instance, str):
        return f"{where}: the name '{error.instance}' is reserved"
    return f"{where}: {error.message}"


_TYPES = {
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def _coerce(value: Any, node: dict) -> Any:
    """Turn strings into the numbers, booleans or lists the schema asks for.

    Snakemake's `--config key=value` leaves nested values as strings ('3', '[1, 2]').
    """
    node = resolve_ref(node)
    if isinstance(value, dict):
        props = node.get("properties", {})
        extra = node.get("additionalProperties")
        return {
            k: _coerce(v, props[k] if k in props else extra if isinstance(extra, dict) else {})
            for k, v in value.items()
        }
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [_coerce(v, node["items"]) for v in value]
    types = node.get("type")
    types = [types] if isinstance(types, str) else types or []
    if isinstance(value, str) and "string" not in types and types:
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        wanted = tuple(t for name in types for t in _TYPES.get(name, ()))
        if isinstance(parsed, wanted) and not (isinstance(parsed, bool) and "boolean" not in types):
            return _coerce(parsed, node)
        number = _number(value)
        if number is not None and isinstance(number, wanted):
            return number
    return value


def _number(text: str) -> int | float | None:
    """'1e4', '1E-3', '2.5e+2': numbers that YAML 1.1 reads as strings (it wants a dot and a
    signed exponent); integral values become int."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return int(value) if value.is_integer() else value


def validate(config: Any, source: str = "config", coerce: bool = False) -> dict:
    """Check a configuration against the schema and return a copy with defaults filled in.

    Raises ConfigError listing every problem as `source: key.path: what is wrong`. With
    `coerce`, strings that spell a number, boolean or list where the schema wants one are
    converted first (for Snakemake's --config).
    """
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys, not {config!r}")
    if coerce:
        config = _coerce(config, schema())
    validator = Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.path)))
    if errors:
        # Errors inside a propertyNames check point at the parent; say which name.
        lines = []
        for e in errors:
            if e.validator in ("pattern", "not") and "propertyNames" in e.absolute_schema_path:
                parent = _dotted(e.absolute_path)
                lines.append(f"{parent}: invalid name {e.instance!r} ({e.message})")
            else:
                lines.append(_describe(e))
        raise ConfigError(f"{source} is invalid:\n  - " + "\n  - ".join(lines))
    return _fill_defaults(config, schema())


def load(path: str | Path) -> dict:
    """Read, validate and fill a YAML configuration file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {exc}") from None
    return validate(raw, source=str(path), coerce=True)


def merge(base: dict, *overrides: dict | None) -> dict:
    """Recursive dict merge; later overrides win, lists are replaced whole."""
    out = copy.deepcopy(base)
    for over in overrides:
        for key, value in (over or {}).items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


def variant_names(config: dict) -> list[str]:
    """Configured variants, the default one first, the CycleGAN baseline last."""
    names = [DEFAULT_VARIANT] + [v for v in config["variants"] if v != DEFAULT_VARIANT]
    return [*names, CYCLEGAN_VARIANT]


def section(config: dict, name: str, video: str, variant: str = DEFAULT_VARIANT) -> dict:
    """The effective section `name` for one video and variant: base, then video, then variant."""
    if variant not in (DEFAULT_VARIANT, CYCLEGAN_VARIANT) and variant not in config["variants"]:
        known = ", ".join(variant_names(config))
        raise ConfigError(f"unknown variant '{variant}' (configured: {known})")
    entry = config["videos"].get(video, {})
    over = config["variants"].get(variant, {})
    return merge(config[name], entry.get(name), over.get(name))


def missing_weights(config: dict) -> list[str]:
    """Weights files that a configured flow method needs but nobody named: checked when the
    workflow starts, not late in a job."""
    problems = []
    for video in ["", *config["videos"]]:
        for variant in variant_names(config)[:-1]:
            flow = section(config, "flow", video, variant)
            if flow["method"] == "raft" and not flow["raft"]["weights"]:
                where = " / ".join(
                    w for w in (f"video '{video}'" if video else "", f"variant '{variant}'") if w
                )
                problems.append(
                    f"flow.method is raft for {where} but flow.raft.weights names no file "
                    "(torchvision RAFT weights; pvst downloads nothing)"
                )
    return problems
