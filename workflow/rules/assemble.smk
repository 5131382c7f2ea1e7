# Encode frames artifacts: results/{video}_{variant}.mp4, its side-by-side, and a GIF on request.


def result_artifact(wc):
    """The artifact whose frames are the result of a variant (stylized, or the CycleGAN's)."""
    return explained(PLAN.result, wc.video, wc.variant).path


def result_stamp(kind):
    def inner(wc):
        return stamp(f"{wc.video}_{wc.variant}.{kind}", result_artifact(wc),
                     pvst_config.section(CFG, "assemble", wc.video, wc.variant))

    return inner


rule assemble:
    input:
        art=result_artifact,
        stamp=result_stamp("mp4"),
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


def sbs_style(wc):
    """The style photo shown in a side-by-side (none for the CycleGAN baseline)."""
    return [] if wc.variant == pvst_config.CYCLEGAN_VARIANT else style_of(wc)


rule side_by_side:
    input:
        art=result_artifact,
        frames=artifact_of("frames"),
        style=sbs_style,
        stamp=result_stamp("sbs"),
    output:
        "results/{video}_{variant}_sbs.mp4",
    params:
        p=section_json("assemble"),
        style=lambda wc, input: f"--style {shlex.quote(str(input.style))}" if input.style else "",
    log:
        "results/logs/{video}_{variant}.sbs.log",
    resources:
        mem_mb=1000,
        runtime=30,
    shell:
        "{PVST} assemble {input.art:q} -o {output:q} --input-frames {input.frames:q}"
        " {params.style} --caption {wildcards.variant:q} --params {params.p:q} --log {log:q}"


rule gif:
    input:
        art=result_artifact,
        stamp=result_stamp("gif"),
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
