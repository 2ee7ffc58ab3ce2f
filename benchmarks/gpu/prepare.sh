#!/usr/bin/env bash
# Prepares what a device run carries (both paths are git-ignored):
#   packs/fer2013.pack     - the lossless FER2013 pack (~51 MB)
#   benchmarks/gpu/wheels/ - keras and its pure dependencies a bare JAX+CUDA
#                            machine lacks, for an offline pip install
# Usage: CSV=/path/fer2013.csv.xz PYVER=3.12 bash benchmarks/gpu/prepare.sh
# (PYVER: the device's python, default this one's).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
CSV=${CSV:-/work/shared/data/fer2013.csv.xz}
PYVER=${PYVER:-$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')}
cd "$REPO"
[ -f packs/fer2013.pack ] || "$PY" -m fer_tf data pack-fer2013 --csv "$CSV" --out packs/fer2013.pack
mkdir -p benchmarks/gpu/wheels
"$PY" -m pip download -q --only-binary=:all: --no-deps --python-version "$PYVER" \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d benchmarks/gpu/wheels \
    keras namex optree rich markdown-it-py mdurl pygments h5py ${EXTRA_WHEELS:-}
du -b -c packs/fer2013.pack benchmarks/gpu/wheels/*.whl | tail -1
echo "carry: packs benchmarks/gpu/wheels (with the tree: $(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1) bytes tracked)"
