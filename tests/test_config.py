import pytest

from pvst.errors import ConfigError
from pvst.pipeline import config
from pvst.pipeline.plan import Plan
from tests.conftest import REPO


def test_shipped_config_is_valid_and_filled():
    cfg = config.load(REPO / "config" / "config.yaml")
    assert cfg["frames"]["size"] == 224
    assert cfg["frames"]["step"] == 1  # a default the file does not name
    assert cfg["assemble"]["preset"] == "medium"
    assert "stylized" in config.variant_names(cfg)


def test_empty_config_gets_every_default():
    cfg = config.validate(None)
    assert cfg["default_video"] == "bikes"
    assert cfg["frames"] == config.defaults("frames")
    assert cfg["videos"] == {} and cfg["variants"] == {}


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(ConfigError) as err:
        config.validate({"frames": {"sise": 128}}, source="my.yaml")
    msg = str(err.value)
    assert "my.yaml" in msg
    assert "frames: unknown key 'sise'" in msg
    assert "did you mean 'size'" in msg


def test_wrong_type_and_range_are_named():
    with pytest.raises(ConfigError) as err:
        config.validate({"frames": {"size": "big", "step": 0}})
    msg = str(err.value)
    assert "frames.size: expected integer, got 'big'" in msg
    assert "frames.step" in msg


def test_unknown_top_level_section():
    with pytest.raises(ConfigError, match="unknown key 'frame'"):
        config.validate({"frame": {}})


def test_bad_names_for_videos_and_variants():
    with pytest.raises(ConfigError, match="invalid name 'my video'"):
        config.validate({"videos": {"my video": {"video": "x.mp4"}}})
    with pytest.raises(ConfigError, match="invalid name 'low_light'"):
        config.validate({"variants": {"low_light": {}}})
    with pytest.raises(ConfigError, match="sbs"):
        config.validate({"variants": {"sbs": {}}})


def test_video_entry_keys_are_checked():
    with pytest.raises(ConfigError, match=r"videos\.surf: unknown key 'vidoe'"):
        config.validate({"videos": {"surf": {"vidoe": "data/surf.mp4"}}})


def test_load_reports_yaml_syntax_with_line(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("frames:\n  size: 256\n   step: 2\n")
    with pytest.raises(ConfigError, match=r"c.yaml: not valid YAML \(line 3"):
        config.load(p)


def test_load_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        config.load(tmp_path / "nope.yaml")


def test_sections_merge_base_video_then_variant():
    cfg = config.validate(
        {
            "frames": {"size": 300},
            "videos": {"surf": {"video": "data/surf.mp4", "frames": {"max_frames": 10}}},
            "variants": {"small": {"frames": {"size": 128}}},
        }
    )
    assert config.section(cfg, "frames", "surf")["size"] == 300
    assert config.section(cfg, "frames", "surf")["max_frames"] == 10
    small = config.section(cfg, "frames", "surf", "small")
    assert small["size"] == 128 and small["max_frames"] == 10
    assert config.section(cfg, "frames", "other", "small")["max_frames"] is None
    with pytest.raises(ConfigError, match="unknown variant 'nope'"):
        config.section(cfg, "frames", "surf", "nope")


def test_any_data_clip_works_without_an_entry(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "holiday.MOV").write_bytes(b"x")
    plan = Plan(config.validate({}), root=tmp_path)
    assert plan.video_file("holiday") == "data/holiday.MOV"
    assert plan.style_file("holiday") == "data/styles/rocket.jpg"  # default, an embedded sample
    assert "holiday" in plan.videos()


def test_reserved_preview_names_match_the_schema():
    reserved = config.schema()["$defs"]["variant_name"]["not"]["enum"]
    assert sorted(reserved) == sorted(config.RESERVED_NAMES)


def test_flow_key_ignores_execution_settings_and_other_methods(tmp_path):
    base = Plan(config.validate({}), root=tmp_path).artifact("flow", "bikes").key
    more_jobs = Plan(config.validate({"flow": {"chunks": 2}}), root=tmp_path)
    other_tvl1 = Plan(config.validate({"flow": {"tvl1": {"warps": 9}}}), root=tmp_path)
    dis = Plan(config.validate({"flow": {"method": "dis"}}), root=tmp_path)
    assert more_jobs.artifact("flow", "bikes").key == base
    assert other_tvl1.artifact("flow", "bikes").key == base  # deepflow does not read tvl1
    assert dis.artifact("flow", "bikes").key != base


def test_command_line_strings_are_coerced_when_asked():
    raw = {"flow": {"chunks": "3", "long_term": "[1, 2]"}, "frames": {"upscale": "true"}}
    with pytest.raises(ConfigError, match=r"flow\.chunks: expected integer, got '3'"):
        config.validate(raw)
    cfg = config.validate(raw, coerce=True)
    assert cfg["flow"]["chunks"] == 3 and cfg["flow"]["long_term"] == [1, 2]
    assert cfg["frames"]["upscale"] is True
    with pytest.raises(ConfigError, match=r"frames\.size: expected integer, got 'big'"):
        config.validate({"frames": {"size": "big"}}, coerce=True)


# -- the typed, frozen records of the sections ---------------------------------------------------
def test_the_params_module_is_generated_from_the_schema():
    """pvst/params.py says what the schema says; a key added to the schema without
    regenerating fails here."""
    import ast

    from pvst.pipeline import params_code

    committed = ast.dump(ast.parse(params_code.MODULE.read_text()))
    assert committed == ast.dump(ast.parse(params_code.render())), (
        "pvst/params.py is stale: run `python -m pvst.pipeline.params_code`"
    )


def test_every_section_of_every_variant_round_trips_through_its_record():
    """A record gives back exactly the section it was built from (keys hash the section, so a
    changed value or order would change every artifact key)."""
    from pvst.params import SECTIONS, record
    from pvst.pipeline.store import canonical

    cfg = config.load(REPO / "config" / "config.yaml")
    seen = 0
    for video in ["", *cfg["videos"]]:
        for variant in config.variant_names(cfg):
            for name in config.section_names():
                section = config.section(cfg, name, video, variant)
                rec = record(name, section)
                assert rec.to_dict() == section and canonical(rec.to_dict()) == canonical(section)
                seen += 1
    assert seen >= 3 * len(config.section_names())
    train = config.defaults("cyclegan_train")
    assert record("cyclegan_train", train).to_dict() == train
    assert set(config.section_names()) < set(SECTIONS)


def test_records_are_typed_frozen_and_exact_about_keys():
    import dataclasses

    from pvst.params import FlowParams, StylizeParams

    section = config.defaults("stylize")
    p = StylizeParams.of(section)
    assert p.lambda_ == section["lambda"] and p.iterations.first == section["iterations"]["first"]
    assert p.postprocess.method == "none" and dict(p.style_layers) == section["style_layers"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.alpha = 0
    with pytest.raises(TypeError):
        p.content_layers["relu5_1"] = 1.0
    flow = FlowParams.of(config.defaults("flow"))
    assert flow.long_term == (1, 2, 4) and flow.tvl1.to_dict()["lambda"] == 0.15
    section["iterations"]["first"] = 1  # the record took copies: nothing reaches it
    assert p.iterations.first == 100
    with pytest.raises(ValueError, match="StylizeIterations: missing later"):
        StylizeParams.of({**config.defaults("stylize"), "iterations": {"first": 3}})
    with pytest.raises(ValueError, match="FlowParams: unknown colour"):
        FlowParams.of({**config.defaults("flow"), "colour": 1})


def test_every_description_in_the_schema_is_plain_text():
    """An unquoted comma inside a YAML flow mapping splits it: the description is cut short
    and a stray key without a value appears (it did, in optimizer.check_every)."""

    def walk(node, path: str) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")
        if not isinstance(node, dict):
            return
        in_properties = path.endswith("/properties")  # names of settings, not keywords
        for key, value in node.items():
            if key == "description" and not in_properties:
                assert isinstance(value, str) and value.strip(), f"{path}: {value!r}"
            if value is None:
                assert key == "default", f"{path}/{key} has no value"
            walk(value, f"{path}/{key}")

    walk(config.schema(), "")


def _another(node: dict, value):
    """A valid value other than `value` for a schema leaf, or None where none is simple."""
    node = config.resolve_ref(node)
    if "enum" in node:
        return next((v for v in node["enum"] if v != value), None)
    kinds = node.get("type")
    kinds = [k for k in kinds if k != "null"] if isinstance(kinds, list) else [kinds]
    if value is None or len(kinds) != 1:
        return None
    kind = kinds[0]
    if kind == "boolean":
        return not value
    if kind in ("integer", "number"):
        step = 1 if kind == "integer" else abs(value) / 2 or 0.5
        up = value + step
        if up <= node.get("maximum", float("inf")) and up < node.get("exclusiveMaximum", 1e300):
            return up
        return value - step
    if kind == "string" and "cpu" in node.get("pattern", ""):
        return "cpu" if value != "cpu" else "auto"
    return None


def _leaves(node: dict, values: dict, prefix: str = ""):
    for key, child in config.resolve_ref(node).get("properties", {}).items():
        child = config.resolve_ref(child)
        if child.get("type") == "object" and isinstance(values.get(key), dict):
            yield from _leaves(child, values[key], f"{prefix}{key}.")
        elif key in values:
            yield prefix + key, child, values[key]


def test_a_setting_changes_a_stage_key_exactly_when_it_is_not_marked_execution(tmp_path):
    """The schema's `x-execution` marks are the one place that says a setting is left out of
    keys: a marked setting never changes a stage's key, and every other setting the stage
    reads does."""
    from pvst.pipeline.plan import STAGES

    base_plan = Plan(config.validate({}), root=tmp_path)
    checked = {"marked": 0, "unmarked": 0}
    for stage, spec in STAGES.items():
        if stage == "cyclegan":  # needs a trained checkpoint to plan
            continue
        name, *inner = spec.section.split(".")
        node = config.schema()["properties"][name]
        values = config.defaults(name)
        for key in inner:
            node = config.resolve_ref(node)["properties"][key]
            values = values[key]
        base = base_plan.artifact(stage, "bikes").key
        chosen = values.get(spec.choice) if spec.choice else None
        for path, leaf, value in _leaves(node, values):
            head = path.split(".")[0]
            if head in spec.elsewhere or path in spec.files:
                continue
            if head in spec.alternatives and head != chosen:
                continue
            other = _another(leaf, value)
            if other is None:
                continue
            change: dict = {}
            target = change
            for part in [*spec.section.split("."), *path.split(".")[:-1]]:
                target = target.setdefault(part, {})
            target[path.split(".")[-1]] = other
            try:
                cfg = config.validate(change)
            except ConfigError:
                continue  # another value is not valid alone (a pattern, a dependency)
            key = Plan(cfg, root=tmp_path).artifact(stage, "bikes").key
            if path in spec.execution:
                checked["marked"] += 1
                assert key == base, f"{stage}: {path} is marked x-execution but changes the key"
            else:
                checked["unmarked"] += 1
                assert key != base, f"{stage}: {path} changes what it makes but not the key"
    assert checked["marked"] >= 8 and checked["unmarked"] >= 60, checked
