# Optical flow: the pairs are split into `flow.chunks` jobs that run side by side, then merged
# into results/{video}/flow-{key}.h5 with the scene cuts.


rule flow_part:
    input:
        unpack(job_inputs(stage_job("flow", "part"))),
    output:
        temp(pvst_plan.part_path("{video}", "flow", "{key}", "{i}", "{n}")),
    wildcard_constraints:
        i=r"\d+",
        n=r"\d+",
    params:
        cmd=job_shell(stage_job("flow", "part")),
    threads: 1
    log:
        "results/logs/{video}/flow-{key}-{i}of{n}.log",
    resources:
        mem_mb=1500,
        runtime=120,
        gpu=stage_gpu("flow"),
    shell:
        "{params.cmd} --threads {threads} --log {log:q}"


rule flow:
    input:
        unpack(job_inputs(stage_job("flow", "merge"))),
    output:
        pvst_plan.artifact_path("{video}", "flow", "{key}"),
    params:
        cmd=job_shell(stage_job("flow", "merge")),
    log:
        "results/logs/{video}/flow-{key}.log",
    resources:
        mem_mb=1500,
        runtime=60,
    shell:
        "{params.cmd} --log {log:q}"


rule flow_preview:
    input:
        unpack(job_inputs(product_job(pvst_commands.flow_preview))),
    output:
        pvst_plan.PRODUCTS["flow_preview"],
    params:
        cmd=job_shell(product_job(pvst_commands.flow_preview)),
    log:
        "results/logs/{video}_{variant}.flow_preview.log",
    shell:
        "{params.cmd} --log {log:q}"
