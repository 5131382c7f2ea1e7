# A video's result refined at the output size (stylize.refine.video evaluations a frame, at
# most stylize.refine.max_size on the long side): results/{video}/refine-{key}.h5, made only
# when that setting is above 0. A GPU's work; an interrupted run resumes frame by frame.


rule refine:
    input:
        unpack(job_inputs(stage_job("refine"))),
    output:
        pvst_plan.artifact_path("{video}", "refine", "{key}"),
    params:
        cmd=job_shell(stage_job("refine")),
    threads: 2
    log:
        "results/logs/{video}/refine-{key}.log",
    resources:
        mem_mb=16000,
        runtime=1440,
        gpu=stage_gpu("refine"),
    shell:
        "{params.cmd} --threads {threads} --log {log:q}"
