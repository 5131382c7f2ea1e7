# Matting Laplacians: frames split into `laplacian.chunks` jobs, merged into
# results/{video}/laplacian-{key}.h5.


rule laplacian_part:
    input:
        unpack(job_inputs(stage_job("laplacian", "part"))),
    output:
        temp(pvst_plan.part_path("{video}", "laplacian", "{key}", "{i}", "{n}")),
    wildcard_constraints:
        i=r"\d+",
        n=r"\d+",
    params:
        cmd=job_shell(stage_job("laplacian", "part")),
    threads: 1
    log:
        "results/logs/{video}/laplacian-{key}-{i}of{n}.log",
    resources:
        mem_mb=3000,
        runtime=120,
    shell:
        "{params.cmd} --threads {threads} --log {log:q}"


rule laplacian:
    input:
        unpack(job_inputs(stage_job("laplacian", "merge"))),
    output:
        pvst_plan.artifact_path("{video}", "laplacian", "{key}"),
    params:
        cmd=job_shell(stage_job("laplacian", "merge")),
    log:
        "results/logs/{video}/laplacian-{key}.log",
    resources:
        mem_mb=1000,
        runtime=60,
    shell:
        "{params.cmd} --log {log:q}"
