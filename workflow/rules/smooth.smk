# The post-process of the stylized frames (stylize.postprocess): results/{video}/smooth-{key}.h5.
# A stage of its own, so that changing it never reruns the optimisation.


rule smooth:
    input:
        unpack(inputs_of("smooth")),
    output:
        "results/{video}/smooth-{key}.h5",
    params:
        p=params_of("smooth"),
        inputs=lambda wc: in_args(planned("smooth", wc).inputs),
    log:
        "results/logs/{video}/smooth-{key}.log",
    resources:
        mem_mb=3000,
        runtime=60,
    shell:
        "{PVST} smooth --params {params.p:q} {params.inputs} --out {output:q} --log {log:q}"
