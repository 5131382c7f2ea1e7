# `snakemake figures`: the configured figures, the metrics table and the plots, from whatever
# is cached already.


rule figure:
    input:
        unpack(job_inputs(figure_job)),
        stamp=job_stamp(figure_job),
    output:
        report(pvst_plan.FIGURE, category="Figures"),
    wildcard_constraints:
        figure=r"[A-Za-z0-9][A-Za-z0-9._-]*",
    params:
        cmd=job_shell(figure_job),
    log:
        "results/logs/figures/{figure}.log",
    shell:
        "{params.cmd} --log {log:q}"


rule plots:
    input:
        unpack(job_inputs(plots_job)),
        stamp=job_stamp(plots_job),
    output:
        table=report(pvst_plan.PLOTS["table"], category="Metrics"),
        markdown=pvst_plan.PLOTS["markdown"],
        ewarp=report(pvst_plan.PLOTS["ewarp"], category="Metrics"),
        losses=report(pvst_plan.PLOTS["losses"], category="Metrics"),
    params:
        cmd=job_shell(plots_job),
    log:
        "results/logs/figures/plots.log",
    shell:
        "{params.cmd} --log {log:q}"


rule figures:
    input:
        expand(pvst_plan.FIGURE, figure=list(CFG["figures"])),
        rules.plots.output,
