#!/usr/bin/env bash
# The GPU proof of the active-learning loop, run on the device machine from a copy of the
# working tree that carries bench/gpu/wheels (made by bench/gpu/fetch_wheels.sh):
#
#   bash bench/gpu/run.sh                  # full sizes: 100 train / 50 val / 10,000 pool, tile batches 8,32,64
#   bash bench/gpu/run.sh --pool 2000      # any option of bench/gpu/loop.py passes through
#
# Installs the carried wheels into a folder of its own (the device's Python stays as it is), records
# the accelerator and PyTorch, then runs loop.py on CUDA under a hard time limit. Writes
# gpu_bench.md, gpu_bench.json, run.log, nvidia-smi.txt and environment.txt into $OUT
# (default bench/out/gpu). GPU_BENCH_LIMIT_S (default 480) is the hard limit; the pool step stops
# 90 s before it and its time is extrapolated.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-bench/out/gpu}
limit_s=${GPU_BENCH_LIMIT_S:-480}
python=${PYTHON:-$(command -v python3 || command -v python)}
archive=bench/gpu/wheels/wheels.tar.xz
[ -f "$archive" ] || { echo "no $archive: run bench/gpu/fetch_wheels.sh here and carry bench/gpu/wheels" >&2; exit 2; }
mkdir -p "$out"
site=$(mktemp -d /tmp/gpu-bench-site.XXXXXX)
trap 'rm -rf "$site"' EXIT

# Unpack and install (no index, no dependencies: the device's torch, numpy, scipy, ... stay).
"$python" - "$archive" "$site/wheels" "$site/lib" <<'PY'
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

archive, wheels, lib = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
with tarfile.open(archive) as tar:
    tar.extractall(wheels, filter="data")
files = sorted(str(path) for path in wheels.glob("*.whl"))
pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index", "--no-deps",
       "--target", str(lib), *files]
if subprocess.run(pip).returncode != 0:
    # No pip there: these wheels hold only importable files, so unzipping them is an install.
    print("pip install failed; unzipping the wheels instead", file=sys.stderr)
    for name in files:
        zipfile.ZipFile(name).extractall(lib)
print(f"installed {len(files)} wheels into {lib}")
PY
export PYTHONPATH="$site/lib${PYTHONPATH:+:$PYTHONPATH}"

{ nvidia-smi 2>&1 || echo "nvidia-smi: not available"; } | tee "$out/nvidia-smi.txt"
"$python" - <<'PY' 2>&1 | tee "$out/environment.txt"
import os
import platform

import numpy
import torch

print(f"python {platform.python_version()}, glibc {platform.libc_ver()[1]}, {os.cpu_count()} CPUs")
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, numpy {numpy.__version__}")
for i in range(torch.cuda.device_count()):
    props = torch.cuda.get_device_properties(i)
    print(f"cuda:{i} {props.name}, {props.total_memory / 2**30:.1f} GiB, capability {props.major}.{props.minor}")
print("CUDA available:", torch.cuda.is_available())
PY

started=$(date +%s)
timeout -k 10 "$limit_s" "$python" bench/gpu/loop.py --device cuda --out "$out" --budget-s $((limit_s - 90)) "$@" \
  2>&1 | tee "$out/run.log"
echo "bench/gpu/run.sh: $(( $(date +%s) - started )) s; results in $out"
