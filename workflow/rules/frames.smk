# Decode a clip into results/{video}/frames-{key}.h5 at working size.


rule frames:
    input:
        unpack(inputs_of("frames")),
    output:
        "results/{video}/frames-{key}.h5",
    params:
        p=params_of("frames"),
    log:
        "results/logs/{video}/frames-{key}.log",
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "{PVST} frames --params {params.p:q} --in video={input.video:q} --out {output:q}"
        " --log {log:q}"
