#!/usr/bin/env python3
"""Builds the manifests of the everyday-sound model (models/wavnet-everyday.safetensors) and of
the transfer study from the shared ESC-50 and UrbanSound8K manifests, read in place.

    python3 recipes/everyday/make_manifests.py [--shared ../shared]

Writes, next to this script (fname relative to the CSV, as wavnet reads manifests):
  manifest.csv  ESC-50 folds 1-4 + UrbanSound8K folds 1-9 under one label set; split `val` =
                ESC-50 fold 4 and UrbanSound8K fold 9 (the held-back folds of the model card),
                `train` = the rest. `source` and `source_fold` say where each clip comes from.
  source.csv    the transfer study's source: the same without the ten ESC-10 classes
                (ESC-50 clips with esc10=true), every fold, split `train`.
  val-clean.csv the held-back clips of manifest.csv whose Freesound recording has no clip in
                its `train` split (ESC-50 and UrbanSound8K were both cut from Freesound, and 49
                ESC-50 clips share a recording with UrbanSound8K slices).
  pretrain-esc10.csv, pretrain-esc50.csv, pretrain-us8k.csv
                sources for #7's pretrained recipes, each free of every recording of the
                validation fold it is scored on: ESC-10 fold 4 (source.csv without those
                recordings), ESC-50 fold 4 (UrbanSound8K only, without those recordings) and
                UrbanSound8K fold 9 (ESC-50 folds 1-4, without those recordings).

One label set: the classes the two sets share are merged under ESC-50's name:
  dog_bark -> dog, engine_idling -> engine (car_horn and siren have the same name in both).
Every other class keeps its own name (e.g. UrbanSound8K's children_playing is not ESC-50's
laughing, gun_shot is not fireworks): 50 + 10 - 4 = 56 classes.
"""
import argparse
import csv
import os

MERGE = {"dog_bark": "dog", "engine_idling": "engine"}

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.path.join(here, "..", "..", "..", "shared"))
    a = ap.parse_args()
    data = os.path.join(a.shared, "data")
    rows = []
    for name, val_fold in (("esc50", "4"), ("urbansound8k", "9")):
        path = os.path.join(data, name, "manifest.csv")
        if not os.path.isfile(path):
            raise SystemExit(f"{path}: not found; pass --shared DIR (the folder holding data/{name}/manifest.csv)")
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                rel = os.path.relpath(os.path.join(data, name, r["fname"]), here)
                rows.append({
                    "fname": rel,
                    "label": MERGE.get(r["label"], r["label"]),
                    "split": "val" if r["fold"] == val_fold else "train",
                    "source": name,
                    "source_fold": r["fold"],
                    "esc10": r.get("esc10", "false"),
                    # the Freesound recording the clip was cut from (UrbanSound8K: the
                    # file name's first field, fsID-classID-occurrence-slice)
                    "recording": r.get("freesound_id") or os.path.basename(r["fname"]).split("-")[0],
                })
    cols = ["fname", "label", "split", "source", "source_fold"]
    def write(name, rs, split=None):
        with open(os.path.join(here, name), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
            w.writeheader()
            for r in rs:
                w.writerow(dict(r, split=split or r["split"]))
        print(f"{name}: {len(rs)} clips, {len({r['label'] for r in rs})} classes")
    write("manifest.csv", rows)
    write("source.csv", [r for r in rows if r["esc10"] != "true"], split="train")

    def recordings(pred):
        return {r["recording"] for r in rows if pred(r)}
    train_recs = recordings(lambda r: r["split"] == "train")
    write("val-clean.csv", [r for r in rows if r["split"] == "val" and r["recording"] not in train_recs])
    esc10_val = recordings(lambda r: r["source"] == "esc50" and r["source_fold"] == "4" and r["esc10"] == "true")
    esc50_val = recordings(lambda r: r["source"] == "esc50" and r["source_fold"] == "4")
    us8k_val = recordings(lambda r: r["source"] == "urbansound8k" and r["source_fold"] == "9")
    write("pretrain-esc10.csv", [r for r in rows if r["esc10"] != "true" and r["recording"] not in esc10_val], split="train")
    write("pretrain-esc50.csv", [r for r in rows if r["source"] == "urbansound8k" and r["recording"] not in esc50_val], split="train")
    write("pretrain-us8k.csv", [r for r in rows if r["source"] == "esc50" and r["recording"] not in us8k_val], split="train")

if __name__ == "__main__":
    main()
