# Metrics of a result video: results/{video}_{variant}.metrics.json. The flow they need (of the
# input frames, by another estimator than the stylizer's) is made by the flow rules.


rule evaluate:
    input:
        unpack(job_inputs(product_job(pvst_commands.evaluate))),
        stamp=job_stamp(product_job(pvst_commands.evaluate)),
    output:
        pvst_plan.PRODUCTS["metrics"],
    params:
        cmd=job_shell(product_job(pvst_commands.evaluate)),
    log:
        "results/logs/{video}_{variant}.evaluate.log",
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "{PVST} {params.cmd} --log {log:q}"
