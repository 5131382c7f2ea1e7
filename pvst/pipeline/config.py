"""Reading and validating config/config.yaml, and resolving the sections a stage reads.

The JSON schema (pvst/schemas/config.schema.yaml, linked from workflow/schemas/) is the one
place that names every key, its type and its default.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
import reprlib
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
        return f"{where}: expected {error.validator_value}, got {_short(error.instance)}"
    if error.validator == "pattern" and "description" in error.schema:
        return (
            f"{where}: {_short(error.instance)} is not valid here ({error.schema['description']})"
        )
    if error.validator == "pattern" and error.absolute_path == error.relative_path:
        return f"{where}: {_short(error.instance)} does not match {error.validator_value}"
    if error.validator == "not" and isinstance(error.instance, str):
        return f"{where}: the name '{_short(error.instance)}' is reserved"
    return f"{where}: {_short(error.message)}"


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
    spelled_number = (
        "string" in types
        and {"integer", "number"} & set(types)
        and "pattern" in node
        and isinstance(value, str)
        and not re.fullmatch(node["pattern"], value)
    )
    if isinstance(value, str) and ("string" not in types or spelled_number) and types:
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
    odd = _odd_keys(config)
    if odd:
        raise ConfigError(bounded(f"{source} is invalid", odd))
    if coerce:
        config = _coerce(config, schema())
    validator = Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.path)))
    lines = [f"{where}: {value!r} is not a finite number" for where, value in _not_finite(config)]
    # Errors inside a propertyNames check point at the parent; say which name.
    for e in errors:
        if e.validator in ("pattern", "not") and "propertyNames" in e.absolute_schema_path:
            parent = _dotted(e.absolute_path)
            lines.append(f"{parent}: invalid name {_short(e.instance)} ({_short(e.message)})")
        else:
            lines.append(_describe(e))
    if lines:
        raise ConfigError(bounded(f"{source} is invalid", lines))
    return _fill_defaults(config, schema())


# A message lists at most this many problems, each at most this long (a YAML alias bomb
# expands to megabytes).
MAX_LINES = 20
MAX_LINE = 300


def bounded(head: str, lines: list[str]) -> str:
    """`head` and the problems, each cut to MAX_LINE characters, the first MAX_LINES of them
    and how many more."""
    cut = [_cut(line, MAX_LINE) for line in lines]
    more = [f"… and {len(cut) - MAX_LINES} more"] if len(cut) > MAX_LINES else []
    return f"{head}:\n  - " + "\n  - ".join(cut[:MAX_LINES] + more)


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring = 2, 4, 4, 60


def _short(value: Any) -> str:
    """A value's repr, small whatever the value (reprlib looks at a few items of a level)."""
    return _cut(_REPR.repr(value) if not isinstance(value, str) else repr(value), 80)


def _cut(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters (the last one an ellipsis) when longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _not_finite(value: Any, path: tuple = (), seen: set | None = None) -> list[tuple[str, float]]:
    """(dotted key, value) of every NaN or infinite number in a configuration. A mapping or
    list that YAML aliases into several places is looked at once (an alias bomb stays small)."""
    seen = set() if seen is None else seen
    if isinstance(value, float) and not math.isfinite(value):
        return [(_dotted(path), value)]
    if not isinstance(value, dict | list) or id(value) in seen:
        return []
    seen.add(id(value))
    items = value.items() if isinstance(value, dict) else enumerate(value)
    return [hit for k, v in items for hit in _not_finite(v, (*path, k), seen)]


def _odd_keys(value: Any, path: tuple = (), seen: set | None = None) -> list[str]:
    """A line for every key that is not a name (YAML reads `1:` as a number, `? [a]` as a
    list), so that the schema's messages never meet one."""
    seen = set() if seen is None else seen
    if not isinstance(value, dict | list) or id(value) in seen:
        return []
    seen.add(id(value))
    lines = []
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                lines.append(f"{_dotted(path)}: the key {_short(k)} is not a name (quote it?)")
            else:
                lines += _odd_keys(v, (*path, k), seen)
    else:
        for i, v in enumerate(value):
            lines += _odd_keys(v, (*path, i), seen)
    return lines


def load(path: str | Path) -> dict:
    """Read, validate and fill a YAML configuration file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    return validate(read_yaml(path), source=str(path), coerce=True)


class _UniqueKeys(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML would keep the
    last silently)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise ConfigError(
                    f"the key at line {key_node.start_mark.line + 1} is a "
                    f"{type(key).__name__}, not a name"
                )
            if isinstance(key, str) and key in seen:
                raise ConfigError(
                    f"key '{key}' is given twice in one mapping (lines {seen[key]} and "
                    f"{key_node.start_mark.line + 1}); YAML would keep the second silently"
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


_UniqueKeys.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _UniqueKeys.construct_mapping
)


def read_yaml(path: str | Path) -> Any:
    """A YAML file read safely (no code, no Python objects), a duplicate key refused."""
    path = Path(path)
    try:
        with open(path) as f:
            return yaml.load(f, Loader=_UniqueKeys)  # a SafeLoader: plain values only
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except RecursionError:
        raise ConfigError(
            f"{path}: nested too deeply to be a configuration (lists or mappings inside each "
            "other hundreds of levels deep)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {_cut(str(exc), MAX_LINE)}") from None


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
