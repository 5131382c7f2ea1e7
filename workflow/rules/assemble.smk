# A result as the user's clip: rendered at the output size (render section) with the clip's
# frame timing and sound, results/{video}_{variant}.mp4; its side-by-side; a GIF on request.
# Memory: the render of one 1920×1080 frame and the encoder, flat in the clip's length.


rule assemble:
    input:
        unpack(job_inputs(product_job(pvst_commands.assemble, "mp4"))),
        stamp=job_stamp(product_job(pvst_commands.assemble, "mp4")),
    output:
        pvst_plan.PRODUCTS["mp4"],
    params:
        cmd=job_shell(product_job(pvst_commands.assemble, "mp4")),
    log:
        "results/logs/{video}_{variant}.assemble.log",
    resources:
        mem_mb=3000,
        runtime=60,
        gpu=product_gpu("render"),
    shell:
        "{params.cmd} --log {log:q}"


rule side_by_side:
    input:
        unpack(job_inputs(product_job(pvst_commands.assemble, "sbs"))),
        stamp=job_stamp(product_job(pvst_commands.assemble, "sbs")),
    output:
        pvst_plan.PRODUCTS["sbs"],
    params:
        cmd=job_shell(product_job(pvst_commands.assemble, "sbs")),
    log:
        "results/logs/{video}_{variant}.sbs.log",
    resources:
        mem_mb=3000,
        runtime=60,
        gpu=product_gpu("render"),
    shell:
        "{params.cmd} --log {log:q}"


rule gif:
    input:
        unpack(job_inputs(product_job(pvst_commands.assemble, "gif"))),
        stamp=job_stamp(product_job(pvst_commands.assemble, "gif")),
    output:
        pvst_plan.PRODUCTS["gif"],
    params:
        cmd=job_shell(product_job(pvst_commands.assemble, "gif")),
    log:
        "results/logs/{video}_{variant}.gif.log",
    resources:
        gpu=product_gpu("render"),
    shell:
        "{params.cmd} --log {log:q}"


rule unknown_variant:
    input:
        unknown_variant_error,
    output:
        "results/{video}_{other}.mp4",
    wildcard_constraints:
        video=r"[^/]+?",
        # only names that no other rule makes: not a variant, not a preview
        other=r"(?!(?:%s)\.mp4$)[^/_]+" % "|".join(map(re.escape, PLAN.variants() + RESERVED)),
    log:
        "results/logs/{video}_{other}.unknown.log",
    shell:
        "false"
