# The optimisation of every frame: `stylize.chunks` GPU jobs, each whole shots (side by side on
# a workstation's GPUs, separate jobs on a cluster), merged in frame order into
# results/{video}/stylize-{key}.h5. An interrupted part resumes from its last finished frame.


def stylize_inputs(wc):
    return planned("stylize", wc).inputs


def stylize_in_args(wc):
    roles = ("frames", "flow", "laplacian", "segment", "style")
    return in_args({r: p for r, p in stylize_inputs(wc).items() if r in roles})


rule stylize_part:
    input:
        unpack(stylize_inputs),
    output:
        temp("results/{video}/parts/stylize-{key}-{i}of{n}.h5"),
    wildcard_constraints:
        i=r"\d+",
        n=r"\d+",
    params:
        p=params_of("stylize"),
        inputs=stylize_in_args,
    threads: 2
    log:
        "results/logs/{video}/stylize-{key}-{i}of{n}.log",
    resources:
        mem_mb=16000,
        runtime=720,
        gpu=1,
    shell:
        "{PVST} stylize --params {params.p:q} {params.inputs} --part {wildcards.i}/{wildcards.n}"
        " --threads {threads} --out {output:q} --log {log:q}"


rule stylize:
    input:
        unpack(stylize_inputs),
        parts=parts_of("stylize"),
    output:
        "results/{video}/stylize-{key}.h5",
    params:
        p=params_of("stylize"),
        inputs=stylize_in_args,
    log:
        "results/logs/{video}/stylize-{key}.log",
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "{PVST} stylize --params {params.p:q} {params.inputs} --merge {input.parts:q}"
        " --out {output:q} --log {log:q}"
