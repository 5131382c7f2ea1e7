# `snakemake figures`: the configured figures, the metrics table and the plots, from whatever
# is cached already.


def figure_spec(wc):
    rows, spec = explained(PLAN.figure_rows, wc.figure)
    return {"rows": rows, "frames": spec["frames"], "title": spec.get("title", wc.figure)}


def figure_inputs(wc):
    paths = []
    for row in figure_spec(wc)["rows"]:
        paths += [row["path"]] + ([row["frames"]] if "frames" in row else [])
    return sorted(set(paths))


def figure_results():
    return explained(PLAN.figure_results)


def figure_metrics(wc):
    return [PLAN.metrics_path(v, var) for v, var in figure_results()]


def figure_stylized(wc):
    """LABEL=PATH of the stylized results in the figures, for the loss curves."""
    return {f"{v}_{var}": PLAN.artifact("stylize", v, var).path
            for v, var in figure_results() if var != pvst_config.CYCLEGAN_VARIANT}


rule figure:
    input:
        figure_inputs,
        lambda wc: stamp(f"figure-{wc.figure}", figure_spec(wc)),
    output:
        report("results/figures/{figure}.png", category="Figures"),
    wildcard_constraints:
        figure=r"[A-Za-z0-9][A-Za-z0-9._-]*",
    params:
        spec=lambda wc: json.dumps(figure_spec(wc)),
    log:
        "results/logs/figures/{figure}.log",
    shell:
        "{PVST} figure --spec {params.spec:q} -o {output:q} --log {log:q}"


rule plots:
    input:
        metrics=figure_metrics,
        stylized=lambda wc: list(figure_stylized(wc).values()),
        stamp=lambda wc: stamp("plots", figure_metrics(wc), figure_stylized(wc)),
    output:
        table=report("results/figures/metrics.csv", category="Metrics"),
        markdown="results/figures/metrics.md",
        ewarp=report("results/figures/ewarp_vs_ssim.png", category="Metrics"),
        losses=report("results/figures/loss_curves.png", category="Metrics"),
    params:
        stylized=lambda wc: " ".join(
            shlex.quote(f"{k}={v}") for k, v in figure_stylized(wc).items()
        ),
    log:
        "results/logs/figures/plots.log",
    shell:
        "{PVST} plots --metrics {input.metrics:q} --stylized {params.stylized}"
        " --out-dir results/figures --log {log:q}"


rule figures:
    input:
        expand("results/figures/{figure}.png", figure=list(CFG["figures"])),
        rules.plots.output,
