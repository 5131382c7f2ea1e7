# Metrics of a result video: results/{video}_{variant}.metrics.json. The flow they need (of the
# input frames, by another estimator than the stylizer's) is made by the flow rules; at the
# output size the result is rendered as the user gets it and measured there too (VGG19 and a
# Matting Laplacian at that size: the memory below is for 1920×1080).


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
        mem_mb=8000,
        runtime=120,
        gpu=product_gpu("evaluate", "render"),
    shell:
        "{params.cmd} --log {log:q}"
