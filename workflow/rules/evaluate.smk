# Metrics of a result video: results/{video}_{variant}.metrics.json. The flow they need (of the
# input frames, by another estimator than the stylizer's) is made by the flow rules.


def metrics_inputs(wc):
    return explained(PLAN.metrics_inputs, wc.video, wc.variant)


def metrics_stamp(wc):
    return stamp(f"{wc.video}_{wc.variant}.metrics", metrics_inputs(wc), evaluate_params(wc))


def evaluate_params(wc):
    params = pvst_config.section(CFG, "evaluate", wc.video, wc.variant)
    return json.dumps(params, sort_keys=True)


rule evaluate:
    input:
        unpack(metrics_inputs),
        stamp=metrics_stamp,
    output:
        "results/{video}_{variant}.metrics.json",
    params:
        p=evaluate_params,
        inputs=lambda wc: in_args(metrics_inputs(wc)),
        method=lambda wc: PLAN.eval_flow(wc.video, wc.variant).params["method"],
    log:
        "results/logs/{video}_{variant}.evaluate.log",
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "{PVST} evaluate --params {params.p:q} {params.inputs} --flow-method {params.method}"
        " --video {wildcards.video:q} --variant {wildcards.variant:q} --out {output:q}"
        " --log {log:q}"
