# Optical flow: the pairs are split into `flow.chunks` jobs that run side by side, then merged
# into results/{video}/flow-{key}.h5 with the scene cuts.


rule flow_part:
    input:
        unpack(inputs_of("flow")),
    output:
        temp("results/{video}/parts/flow-{key}-{i}of{n}.h5"),
    wildcard_constraints:
        i=r"\d+",
        n=r"\d+",
    params:
        p=params_of("flow"),
    threads: 1
    log:
        "results/logs/{video}/flow-{key}-{i}of{n}.log",
    resources:
        mem_mb=1500,
        runtime=120,
    shell:
        "{PVST} flow --params {params.p:q} --in frames={input.frames:q}"
        " --part {wildcards.i}/{wildcards.n} --threads {threads} --out {output:q} --log {log:q}"


rule flow:
    input:
        unpack(inputs_of("flow")),
        parts=parts_of("flow"),
    output:
        "results/{video}/flow-{key}.h5",
    params:
        p=params_of("flow"),
    log:
        "results/logs/{video}/flow-{key}.log",
    resources:
        mem_mb=1500,
        runtime=60,
    shell:
        "{PVST} flow --params {params.p:q} --in frames={input.frames:q}"
        " --merge {input.parts:q} --out {output:q} --log {log:q}"


rule flow_preview:
    input:
        flow=artifact_of("flow"),
        frames=artifact_of("frames"),
    output:
        "results/{video}_{variant}_flow.mp4",
    log:
        "results/logs/{video}_{variant}.flow_preview.log",
    shell:
        "{PVST} flow-preview {input.flow:q} --frames {input.frames:q} -o {output:q} --log {log:q}"
