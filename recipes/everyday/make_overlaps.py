#!/usr/bin/env python3
"""Recordings where two sounds overlap, made from the everyday model's held-back clips
(split `val` of manifest.csv: ESC-50 fold 4, UrbanSound8K fold 9), to measure how a model tags
a mix of two sounds (models/README.md uses it to choose softmax or sigmoid):

    pip install numpy soundfile
    python3 recipes/everyday/make_overlaps.py OUT_DIR [--pairs 200] [--seed 0]
    wavnet eval --model MODEL --data OUT_DIR/manifest.csv

Each mix is two clips of different classes at equal RMS (within the first clip's length, the
second repeated or cut to fit), peak-normalised to -1 dBFS, 16 kHz WAV. OUT_DIR/manifest.csv has
`fname,label,labels` with `labels` = `a;b`, so `wavnet eval` reports mAP and lwlrap.
"""
import argparse, csv, os, random
import numpy as np
import soundfile as sf

def load(path, sr=16000):
    x, r = sf.read(path, dtype="float32", always_2d=True)
    if r != sr:
        raise SystemExit(f"{path}: {r} Hz, expected {sr} Hz")
    return x.mean(axis=1)

def rms(x):
    return float(np.sqrt(np.mean(x * x)) + 1e-9)

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    with open(os.path.join(here, "manifest.csv"), newline="") as f:
        val = [r for r in csv.DictReader(f) if r["split"] == "val"]
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    rows = []
    for i in range(a.pairs):
        r1 = rng.choice(val)
        r2 = rng.choice([r for r in val if r["label"] != r1["label"]])
        x1, x2 = (load(os.path.join(here, r["fname"])) for r in (r1, r2))
        x2 = np.resize(x2, x1.shape) if len(x2) < len(x1) else x2[: len(x1)]
        mix = x1 / rms(x1) + x2 / rms(x2)
        mix *= 10 ** (-1 / 20) / max(float(np.abs(mix).max()), 1e-9)
        name = f"mix{i:03d}-{r1['label']}+{r2['label']}.wav"
        sf.write(os.path.join(a.out, name), mix, 16000, subtype="PCM_16")
        rows.append([name, r1["label"], f"{r1['label']};{r2['label']}"])
    with open(os.path.join(a.out, "manifest.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["fname", "label", "labels"])
        w.writerows(rows)
    print(f"{a.out}: {len(rows)} mixes of two held-back clips of different classes")

if __name__ == "__main__":
    main()
