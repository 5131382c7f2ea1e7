# Matting Laplacians: frames split into `laplacian.chunks` jobs, merged into
# results/{video}/laplacian-{key}.h5.


rule laplacian_part:
    input:
        unpack(inputs_of("laplacian")),
    output:
        temp("results/{video}/parts/laplacian-{key}-{i}of{n}.h5"),
    wildcard_constraints:
        i=r"\d+",
        n=r"\d+",
    params:
        p=params_of("laplacian"),
    threads: 1
    log:
        "results/logs/{video}/laplacian-{key}-{i}of{n}.log",
    resources:
        mem_mb=3000,
        runtime=120,
    shell:
        "{PVST} laplacian --params {params.p:q} --in frames={input.frames:q}"
        " --part {wildcards.i}/{wildcards.n} --threads {threads} --out {output:q} --log {log:q}"


rule laplacian:
    input:
        unpack(inputs_of("laplacian")),
        parts=parts_of("laplacian"),
    output:
        "results/{video}/laplacian-{key}.h5",
    params:
        p=params_of("laplacian"),
    log:
        "results/logs/{video}/laplacian-{key}.log",
    resources:
        mem_mb=1000,
        runtime=60,
    shell:
        "{PVST} laplacian --params {params.p:q} --in frames={input.frames:q}"
        " --merge {input.parts:q} --out {output:q} --log {log:q}"
