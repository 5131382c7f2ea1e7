# The paper's CycleGAN baseline: results/{video}/cyclegan-{key}.h5, encoded by the assemble
# rules as results/{video}_cyclegan.mp4 (and its side-by-side).


rule cyclegan:
    input:
        unpack(inputs_of("cyclegan")),
    output:
        "results/{video}/cyclegan-{key}.h5",
    params:
        p=params_of("cyclegan"),
    log:
        "results/logs/{video}/cyclegan-{key}.log",
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=1,
    shell:
        "{PVST} cyclegan --params {params.p:q} --in frames={input.frames:q}"
        " --in checkpoint={input.checkpoint:q} --out {output:q} --log {log:q}"
