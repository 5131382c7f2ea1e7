# The paper's CycleGAN baseline: results/{video}/cyclegan-{key}.h5, encoded by the assemble
# rules as results/{video}_cyclegan.mp4 (and its side-by-side).


rule cyclegan:
    input:
        unpack(job_inputs(stage_job("cyclegan"))),
    output:
        pvst_plan.artifact_path("{video}", "cyclegan", "{key}"),
    params:
        cmd=job_shell(stage_job("cyclegan")),
    log:
        "results/logs/{video}/cyclegan-{key}.log",
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=stage_gpu("cyclegan"),
    shell:
        "{params.cmd} --log {log:q}"
