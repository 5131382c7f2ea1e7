# The post-process of the stylized frames (stylize.postprocess): results/{video}/smooth-{key}.h5.
# A stage of its own, so that changing it never reruns the optimisation.


rule smooth:
    input:
        unpack(job_inputs(stage_job("smooth"))),
    output:
        pvst_plan.artifact_path("{video}", "smooth", "{key}"),
    params:
        cmd=job_shell(stage_job("smooth")),
    log:
        "results/logs/{video}/smooth-{key}.log",
    resources:
        mem_mb=3000,
        runtime=60,
    shell:
        "{params.cmd} --log {log:q}"
