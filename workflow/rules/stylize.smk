# The optimisation of every frame: `stylize.chunks` GPU jobs, each whole shots (side by side on
# a workstation's GPUs, separate jobs on a cluster), merged in frame order into
# results/{video}/stylize-{key}.h5. An interrupted part resumes from its last finished frame.


rule stylize_part:
    input:
        unpack(job_inputs(stage_job("stylize", "part"))),
    output:
        temp(pvst_plan.part_path("{video}", "stylize", "{key}", "{i}", "{n}")),
    wildcard_constraints:
        i=r"\d+",
        n=r"\d+",
    params:
        cmd=job_shell(stage_job("stylize", "part")),
    threads: 2
    log:
        "results/logs/{video}/stylize-{key}-{i}of{n}.log",
    resources:
        mem_mb=16000,
        runtime=720,
        gpu=stage_gpu("stylize"),
    shell:
        "{params.cmd} --threads {threads} --log {log:q}"


rule stylize:
    input:
        unpack(job_inputs(stage_job("stylize", "merge"))),
    output:
        pvst_plan.artifact_path("{video}", "stylize", "{key}"),
    params:
        cmd=job_shell(stage_job("stylize", "merge")),
    log:
        "results/logs/{video}/stylize-{key}.log",
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "{params.cmd} --log {log:q}"
