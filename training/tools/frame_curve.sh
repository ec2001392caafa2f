#!/usr/bin/env bash
# The detector recall/cost curve and the crop-margin comparison on generated whole frames (docs/model.md, "Accuracy on whole
# frames"). Builds the frame set from PublicTest faces (to report on) or Validation faces (to decide on) if it is not
# there (never committed: FER2013 images), then runs `fer-agent eval --frames` once per setting and prints a markdown
# table.
#   training/tools/frame_curve.sh [DATA.csv.gz] [FRAMES_DIR] [COUNT] [PublicTest|Validation]
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/datasets/fer2013/fer2013.csv.gz}
frames=${2:-${TMPDIR:-/tmp}/fer-frames-seed1}
count=${3:-700}
usage=${4:-PublicTest}
[ -d "$frames/happy" ] || python3 training/tools/make_frame_set.py --data "$data" --out "$frames" --count "$count" --seed 1 --usage "$usage"
cli=(node dist/agent/cli/main.js eval --frames "$frames" --log-level error)
row() { # label, then eval flags
  local label=$1; shift
  "${cli[@]}" "$@" | tail -1 | python3 -c "
import json, sys
j = json.load(sys.stdin)
print(f\"| $label | {100 * j['detection_recall']:.1f} % | {j['false_positives']} | {100 * j['accuracy_found']:.2f} % | {100 * j['accuracy']:.2f} % | {1000 * j['seconds'] / j['frames']:.1f} |\")"
}
echo "| setting | faces found | false detections | accuracy among found | overall | ms/frame (decode+detect+classify) |"
echo "|---|---:|---:|---:|---:|---:|"
for prec in fp32 int8; do
  for size in 320x256 480x352 640x480; do
    for th in 0.3 0.5; do
      row "CenterFace $prec $size, score $th" --set detection.precision=$prec --set detection.input_width=${size%x*} \
        --set detection.input_height=${size#*x} --set detection.score_threshold=$th
    done
  done
done
# The crop: the bundled model's margin, then others (a copy of the bundle with only face_crop.margin changed).
for m in 0 0.05 0.1 0.15; do
  tmp=$(mktemp -d); cp -r agent/assets/models/fer-default/. "$tmp/"
  python3 - "$tmp/manifest.json" "$m" <<'PY'
import json, sys
p, m = sys.argv[1], float(sys.argv[2]); j = json.load(open(p)); j["face_crop"]["margin"] = m; json.dump(j, open(p, "w"), indent=2)
PY
  row "default detector, crop margin $m" --model "$tmp"
  rm -rf "$tmp"
done
