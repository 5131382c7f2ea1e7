# Matched region labels for the frames and the style photo: results/{video}/segment-{key}.h5.


rule segment:
    input:
        unpack(job_inputs(stage_job("segment"))),
    output:
        pvst_plan.artifact_path("{video}", "segment", "{key}"),
    params:
        cmd=job_shell(stage_job("segment")),
    threads: 2
    log:
        "results/logs/{video}/segment-{key}.log",
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=stage_gpu("segment"),
    shell:
        "{params.cmd} --log {log:q}"


rule segment_preview:
    input:
        unpack(job_inputs(product_job(pvst_commands.segments_preview))),
    output:
        pvst_plan.PRODUCTS["segments_preview"],
    params:
        cmd=job_shell(product_job(pvst_commands.segments_preview)),
    log:
        "results/logs/{video}_{variant}.segment_preview.log",
    shell:
        "{params.cmd} --log {log:q}"
