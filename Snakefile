# pvst: photo-realistic video style transfer. See README.md.
#   snakemake --cores 8 results/surf_stylized.mp4
# Every rule calls the `pvst` command; commands, paths and parameters come from
# pvst.pipeline (plan, commands).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/samples.smk"
include: "workflow/rules/frames.smk"
include: "workflow/rules/flow.smk"
include: "workflow/rules/laplacian.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/stylize.smk"
include: "workflow/rules/smooth.smk"
include: "workflow/rules/refine.smk"
include: "workflow/rules/cyclegan.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/assemble.smk"


rule all:
    default_target: True
    input:
        f"results/{CFG['default_video']}_stylized.mp4",
        f"results/{CFG['default_video']}_stylized_sbs.mp4",


# Every file that dvc.yaml tracks: build them here (on a cluster, say), then `dvc commit -f`
# records them in dvc.lock without recomputing anything.
rule tracked:
    input:
        lambda wc: pvst_dvc.outputs(PLAN),
