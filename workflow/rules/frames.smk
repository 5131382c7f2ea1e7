# Decode a clip into results/{video}/frames-{key}.h5 at working size.


rule frames:
    input:
        unpack(job_inputs(stage_job("frames"))),
    output:
        pvst_plan.artifact_path("{video}", "frames", "{key}"),
    params:
        cmd=job_shell(stage_job("frames")),
    log:
        "results/logs/{video}/frames-{key}.log",
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "{params.cmd} --log {log:q}"
