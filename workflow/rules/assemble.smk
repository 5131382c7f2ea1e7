# Encode frames artifacts: results/{video}_{variant}.mp4, its side-by-side, and a GIF on request.


def result_artifact(wc):
    """The artifact whose frames are the result of a variant."""
    return artifact_of("stylize")(wc)


rule assemble:
    input:
        art=result_artifact,
    output:
        "results/{video}_{variant}.mp4",
    params:
        p=section_json("assemble"),
    log:
        "results/logs/{video}_{variant}.assemble.log",
    resources:
        mem_mb=1000,
        runtime=30,
    shell:
        "{PVST} assemble {input.art:q} -o {output:q} --params {params.p:q} --log {log:q}"


rule side_by_side:
    input:
        art=result_artifact,
        frames=artifact_of("frames"),
        style=style_of,
    output:
        "results/{video}_{variant}_sbs.mp4",
    params:
        p=section_json("assemble"),
    log:
        "results/logs/{video}_{variant}.sbs.log",
    resources:
        mem_mb=1000,
        runtime=30,
    shell:
        "{PVST} assemble {input.art:q} -o {output:q} --input-frames {input.frames:q}"
        " --style {input.style:q} --caption {wildcards.variant:q} --params {params.p:q}"
        " --log {log:q}"


rule gif:
    input:
        art=result_artifact,
    output:
        "results/{video}_{variant}.gif",
    params:
        p=section_json("assemble"),
    log:
        "results/logs/{video}_{variant}.gif.log",
    shell:
        "{PVST} assemble {input.art:q} -o {output:q} --params {params.p:q} --log {log:q}"


def _unknown_variant(wc):
    known = ", ".join(PLAN.variants())
    raise WorkflowError(
        f"results/{wc.video}_{wc.other}.mp4: '{wc.other}' is not a configured variant "
        f"(configured: {known}); add it under `variants:` in config/config.yaml"
    )


rule unknown_variant:
    input:
        _unknown_variant,
    output:
        "results/{video}_{other}.mp4",
    wildcard_constraints:
        video=r"[^/]+?",
        # only names that no other rule makes: not a variant, not a preview
        other=r"(?!(?:%s)\.mp4$)[^/_]+" % "|".join(map(re.escape, PLAN.variants() + RESERVED)),
    shell:
        "false"
