# Shared by efficientnet.sh and camnet.sh (sourced, not run).
# Env: OUT (results folder; default runs/gpu-out), FER2013_PACK (default
# packs/fer2013.pack), PYTHON (default python), SMOKE=1 (CPU smoke size),
# EPOCHS (override the script's budget).
set -euo pipefail
GPU_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$GPU_DIR/../.." && pwd)
PY=${PYTHON:-python}
OUT=${OUT:-$REPO/runs/gpu-out}
PACK=${FER2013_PACK:-$REPO/packs/fer2013.pack}
SMOKE=${SMOKE:-0}
for a in "$@"; do [ "$a" = "--smoke" ] && SMOKE=1; done
export KERAS_BACKEND=jax FER_TF_OFFLINE=1 PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
[ -f "$PACK" ] || { echo "error: no FER2013 pack at $PACK; write it with: fer-tf data pack-fer2013 --csv fer2013.csv.xz --out packs/fer2013.pack" >&2; exit 2; }

# The bare JAX+CUDA machine lacks keras (and maybe more): install the wheels
# benchmarks/gpu/prepare.sh carried, offline.
if ! "$PY" -c "import keras" 2>/dev/null; then
    [ -d "$GPU_DIR/wheels" ] || { echo "error: keras is missing and $GPU_DIR/wheels is absent (run benchmarks/gpu/prepare.sh)" >&2; exit 2; }
    "$PY" -m pip install -q --no-index --find-links "$GPU_DIR/wheels" "$GPU_DIR"/wheels/*.whl
fi
missing=$("$PY" - <<'PY'
import importlib.util
need = ["keras", "jax", "numpy", "scipy", "sklearn", "matplotlib", "cv2", "PIL"]
print(" ".join(m for m in need if importlib.util.find_spec(m) is None))
PY
)
[ -z "$missing" ] || { echo "error: python modules missing on this machine: $missing (add their wheels to $GPU_DIR/wheels)" >&2; exit 2; }

# run_experiment SCRIPT ARGS...: trains into a run folder, copies the report
# (results.md, metrics.json, config.json, <= 4 plots, log.txt: <= 8 files) to $OUT.
run_experiment() {
    local script=$1; shift
    local run=${RUN_DIR:-$REPO/runs/gpu-$(basename "$script" .py)}
    local start=$SECONDS status
    set +e
    "$PY" "$REPO/$script" --data-dir "$PACK" --out "$run" --overwrite --offline "$@" 2>&1 \
        | tee "$OUT/log.txt"
    status=${PIPESTATUS[0]}
    set -e
    echo "wall: $((SECONDS - start)) s, exit $status" | tee -a "$OUT/log.txt"
    for f in results.md metrics.json config.json; do
        [ -f "$run/$f" ] && cp "$run/$f" "$OUT/"
    done
    find "$run" -name '*.png' | sort | head -4 | while read -r p; do
        cp "$p" "$OUT/$(basename "$(dirname "$p")")-$(basename "$p")"
    done
    return $status
}
