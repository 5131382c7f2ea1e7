"""Writes pvst/params.py, the typed, frozen record of every configuration section, from the schema.

The schema stays the one list of keys, types and defaults; the records give the code that reads
them names and types (`params.iterations.first`, not `params["iterations"]["first"]`). A test
fails while the committed module and the schema disagree; regenerate with
`python -m pvst.pipeline.params_code` (or `make pvst/params.py`).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from pvst.frozen import field_of
from pvst.pipeline import config

MODULE = Path(__file__).parent.parent / "params.py"
SECTIONS = [*config.section_names(), "cyclegan_train"]
HEADER = '''\
# Generated from pvst/schemas/config.schema.yaml by `python -m pvst.pipeline.params_code`.
# Edit the schema and regenerate; tests/test_config.py fails while the two disagree.
"""Typed, frozen parameters: one record per configuration section and sub-section.

Build one from a validated section with `StylizeParams.of(section)` (or `record(name,
section)`); `to_dict()` gives the section back as plain values. The schema is the one list
of keys, types and defaults; each field's text and default here are copied from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pvst.frozen import Frozen
'''
FOOTER = '''

# Every record by its dotted section name, as the stages name the section they read.
SECTIONS: dict[str, type[Frozen]] = {{
{entries}
}}


def record(section: str, values: Mapping[str, Any]) -> Frozen:
    """The record of the section (or dotted sub-section) `section` with these values."""
    return SECTIONS[section].of(values)
'''
SCALARS = {"integer": "int", "number": "float", "boolean": "bool", "string": "str", "null": "None"}


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_.]", name))


def _type(node: dict, nested: str) -> str:
    if "properties" in node:
        return nested
    values = node.get("additionalProperties")
    if isinstance(values, dict):  # a mapping of free keys (layer weights)
        return f"Mapping[str, {SCALARS[values['type']]}]"
    if "enum" in node:
        return f"Literal[{', '.join(json.dumps(v) for v in node['enum'])}]"
    kinds = node.get("type", "string")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    out = []
    for kind in kinds:
        if kind == "array":
            out.append(f"tuple[{SCALARS[node['items']['type']]}, ...]")
        else:
            out.append(SCALARS[kind])
    return " | ".join(out)


def _text(node: dict) -> str:
    words = " ".join(str(node.get("description", "")).split())
    if "default" in node and "properties" not in node:
        default = json.dumps(node["default"], ensure_ascii=False)
        words = f"{words} Default: {default}.".strip()
    return words


def _docstring(text: str, indent: str) -> list[str]:
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if len(indent) + len(text) + 6 <= 100:
        return [f'{indent}"""{text}"""']
    lines = textwrap.wrap(text, 100 - len(indent) - 3)
    return [f'{indent}"""{lines[0]}', *(f"{indent}{line}" for line in lines[1:]), f'{indent}"""']


def _classes(dotted: str, node: dict, name: str, out: list[str], index: list[tuple]) -> None:
    """Append the class of `node` (after the classes of its sub-sections) to `out`."""
    body: list[str] = []
    for key, sub in node["properties"].items():
        sub = config.resolve_ref(sub)
        nested = _camel(f"{name.removesuffix('Params')}_{key}")
        if "properties" in sub:
            _classes(f"{dotted}.{key}", sub, nested, out, index)
        body.append(f"    {field_of(key)}: {_type(sub, nested)}")
        if _text(sub):
            body.extend(_docstring(_text(sub), "    "))
    summary = " ".join(str(node.get("description", "")).split()) or f"The `{dotted}` settings."
    out += ["", "", "@dataclass(frozen=True)", f"class {name}(Frozen):"]
    out += _docstring(summary, "    ")
    out += ["", *body]
    index.append((dotted, name))


def render() -> str:
    """The text of pvst/params.py for the current schema."""
    out: list[str] = []
    index: list[tuple[str, str]] = []
    props = config.schema()["properties"]
    for section in SECTIONS:
        _classes(
            section, config.resolve_ref(props[section]), f"{_camel(section)}Params", out, index
        )
    entries = "\n".join(f'    "{dotted}": {name},' for dotted, name in index)
    return HEADER + "\n".join(out) + FOOTER.format(entries=entries)


def main() -> int:
    MODULE.write_text(render())
    # long Literal lines are left to the formatter; the test compares syntax trees, not text
    subprocess.run([sys.executable, "-m", "ruff", "format", "--quiet", str(MODULE)], check=True)
    print(f"wrote {MODULE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
