#!/usr/bin/env bash
# End-to-end benchmark: wavnet beside the PyTorch twin on this machine, in one invocation.
#   bash benches/e2e.sh            (from the repository root; needs ../shared/data)
# Prints: training-step and inference throughput (seconds of audio per second) of both devices
# and of ../shared/reference/torch_wavnet.py when `python3 -c "import torch"` works; `wavnet
# train` time per epoch and peak resident memory on UrbanSound8K; `wavnet tag` throughput on a
# folder of recordings and on a long file, as multiples of real time.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=../shared
cargo build --release --quiet
W=target/release/wavnet
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

TORCH_ARGS=()
if python3 -c "import torch" 2>/dev/null; then
  TORCH_ARGS=(--torch "$SHARED/reference/torch_wavnet.py")
else
  echo "(torch is not installed: pip install torch, to measure the PyTorch twin beside wavnet)"
fi
echo "== training step and inference, batch 32 x 2 s at 16 kHz"
"$W" bench --device cpu,gpu --batch 32 --seconds 2 --steps 10 "${TORCH_ARGS[@]}"

echo "== wavnet train on UrbanSound8K folds 1-2 (validation fold 3), batch 32, 2 epochs, cpu"
/usr/bin/time -f "peak resident memory: %M KiB, wall %e s" \
  "$W" train --data "$SHARED/data/urbansound8k/manifest.csv" --val-fold 3 --epochs 2 --batch 32 \
  --device cpu --out "$TMP/us8k" 2>&1 | tr '\r' '\n' | grep -E "^(epoch|training|peak|decoded|done)"

echo "== wavnet tag on a folder of recordings (ESC-10, 320 clips x 5 s, Ogg 44.1 kHz)"
start=$(date +%s.%N)
"$W" tag --device cpu --model "$TMP/us8k/last.safetensors" "$SHARED/data/esc10" --output "$TMP/tags.csv" 2>/dev/null
end=$(date +%s.%N)
python3 -c "d=$end-$start; print(f'{1600/d:.0f}x real time ({d:.1f} s for 1600 s of audio)')"

echo "== wavnet tag on one long file (30 min, WAV 16 kHz)"
python3 - "$TMP/long.wav" <<'PY'
import sys, wave, random, struct
w = wave.open(sys.argv[1], "wb"); w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
rnd = random.Random(0); sec = bytes(b"".join(struct.pack("<h", rnd.randint(-3000, 3000)) for _ in range(16000)))
for _ in range(1800): w.writeframes(sec)
w.close()
PY
/usr/bin/time -f "peak resident memory: %M KiB, wall %e s" "$W" tag --device cpu --model "$TMP/us8k/last.safetensors" "$TMP/long.wav" 2>&1 >/dev/null | tail -1 | tee "$TMP/long.txt"
python3 -c "import re; d=float(re.search(r'wall ([0-9.]+)', open('$TMP/long.txt').read()).group(1)); print(f'{1800/d:.0f}x real time')"
