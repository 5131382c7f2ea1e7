# Matched region labels for the frames and the style photo: results/{video}/segment-{key}.h5.


rule segment:
    input:
        unpack(inputs_of("segment")),
    output:
        "results/{video}/segment-{key}.h5",
    params:
        p=params_of("segment"),
    threads: 2
    log:
        "results/logs/{video}/segment-{key}.log",
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        "{PVST} segment --params {params.p:q} --in frames={input.frames:q}"
        " --in flow={input.flow:q} --in style={input.style:q} --out {output:q} --log {log:q}"


rule segment_preview:
    input:
        segments=artifact_of("segment"),
        frames=artifact_of("frames"),
        style=style_of,
    output:
        "results/{video}_{variant}_segments.mp4",
    log:
        "results/logs/{video}_{variant}.segment_preview.log",
    shell:
        "{PVST} segment-preview {input.segments:q} --frames {input.frames:q}"
        " --style {input.style:q} -o {output:q} --log {log:q}"
