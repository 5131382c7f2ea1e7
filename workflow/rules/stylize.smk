# The optimisation of every frame: results/{video}/stylize-{key}.h5. A GPU job on a cluster;
# an interrupted run resumes from its last finished frame.


def stylize_inputs(wc):
    return planned("stylize", wc).inputs


def stylize_in_args(wc):
    roles = ("frames", "flow", "laplacian", "segment", "style")
    return in_args({r: p for r, p in stylize_inputs(wc).items() if r in roles})


rule stylize:
    input:
        unpack(stylize_inputs),
    output:
        "results/{video}/stylize-{key}.h5",
    params:
        p=params_of("stylize"),
        inputs=stylize_in_args,
    threads: 2
    log:
        "results/logs/{video}/stylize-{key}.log",
    resources:
        mem_mb=6000,
        runtime=720,
        gpu=1,
    shell:
        "{PVST} stylize --params {params.p:q} {params.inputs} --threads {threads}"
        " --out {output:q} --log {log:q}"
