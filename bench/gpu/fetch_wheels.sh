#!/usr/bin/env bash
# Fetch the wheels bench/gpu/run.sh installs on the device machine, which has no network, into
# bench/gpu/wheels/ (gitignored; carry it to the device with the working tree). Needs PyPI.
#
#   bash bench/gpu/fetch_wheels.sh
#
# Exactly the pins of bench/gpu/wheels.txt, without their dependencies, as CPython 3.12 manylinux
# x86_64 wheels (numba, llvmlite, fastremap and fill_voids need glibc >= 2.28 there). llvmlite's
# wheel alone is 60 MB, and the device carry holds 64 MiB with the working tree, so the wheels are
# re-zipped uncompressed (same files, still valid wheels) and packed as one xz archive, which
# compresses the shared library far better than a wheel's zip does; run.sh unpacks it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
limit_mib=${WHEELS_LIMIT_MIB:-56}  # the working tree (about 5 MiB) rides in the same 64 MiB
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

grep -Ev '^[[:space:]]*(#|$)' "$here/wheels.txt" >"$tmp/pins.txt"
"$python" -m pip download --quiet --only-binary=:all: --no-deps --implementation cp --python-version 3.12 \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
  -r "$tmp/pins.txt" -d "$tmp/downloaded"

# Uncompressed copies: xz then sees the files themselves, not deflate's output.
"$python" - "$tmp/downloaded" "$tmp/stored" <<'PY'
import sys
import zipfile
from pathlib import Path

source, target = Path(sys.argv[1]), Path(sys.argv[2])
target.mkdir()
for wheel in sorted(source.glob("*.whl")):
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(target / wheel.name, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            info.compress_type = zipfile.ZIP_STORED
            zout.writestr(info, data)
print(f"{len(list(target.glob('*.whl')))} wheels")
PY

expected=$(wc -l <"$tmp/pins.txt")
found=$(find "$tmp/stored" -name '*.whl' | wc -l)
[ "$expected" -eq "$found" ] || { echo "expected $expected wheels, got $found" >&2; exit 1; }

rm -rf "$here/wheels"
mkdir -p "$here/wheels"
tar -C "$tmp/stored" -cf - . | xz -9 -T1 >"$here/wheels/wheels.tar.xz"
ls "$tmp/stored" >"$here/wheels/CONTENTS"
bytes=$(du -cb "$here/wheels" | tail -1 | cut -f1)
mib=$(( (bytes + 1048575) / 1048576 ))
echo "bench/gpu/wheels: $bytes bytes (${mib} MiB; limit ${limit_mib} MiB)"
[ "$mib" -le "$limit_mib" ] || { echo "bench/gpu/wheels is over ${limit_mib} MiB" >&2; exit 1; }
