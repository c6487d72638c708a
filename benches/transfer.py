#!/usr/bin/env python3
"""Transfer-learning study (issue #8): fine-tuning a source model against training from scratch
at the same budget, on few clips per class.

Source: `wavnet train --data recipes/everyday/source.csv` (ESC-50 folds 1-4 without the ESC-10
classes, plus UrbanSound8K folds 1-9), or a model given with --source. Targets: ESC-10 (folds 1-3
train, fold 4 validation) and FSDD (split train / split test), each with K clips per class (a
seeded subset of the training part, drawn again for every seed) and with all of them. Each
(target, K, seed) trains twice with the same flags, epochs and seed: from scratch (the source's
architecture, sample rate, crop and loss) and from the source model (`--init SOURCE` plus --transfer).
The score is the validation accuracy of the last epoch (--metric best: of the best epoch).
Prints a Markdown table of mean ± sd over the seeds and writes it to --results.

Run from the repository root (builds the release binary unless --wavnet is given):
  python3 benches/transfer.py --source runs/source/best.safetensors --epochs 5:60,10:40,20:30,all:20
  python3 benches/transfer.py --epochs 1 --seeds 0 --k 5 --source-epochs 1      # a smoke test
  python3 benches/transfer.py --source S --compare 10 --epochs 40               # the options at K = 10
Runs live in --workdir (default runs/transfer); a run whose last.safetensors holds all its
epochs is not trained again, so a killed study continues where it stopped.
"""
import argparse
import concurrent.futures
import csv
import json
import os
import random
import shlex
import statistics
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "data")

# --compare: the transfer options, one at a time and in the usual combinations.
VARIANTS = [
    ("scratch", None),
    ("fine-tune (all layers at --lr)", ""),
    ("--pretrained-lr-scale 0.1", "--pretrained-lr-scale 0.1"),
    ("--bn-reestimate start", "--bn-reestimate start"),
    ("--bn-reestimate start, --pretrained-lr-scale 0.1", "--bn-reestimate start --pretrained-lr-scale 0.1"),
    ("--freeze front", "--freeze front"),
    ("--freeze front, --pretrained-lr-scale 0.1", "--freeze front --pretrained-lr-scale 0.1"),
    ("--linear-probe", "--linear-probe"),
    ("--linear-probe --bn-reestimate start", "--linear-probe --bn-reestimate start"),
]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wavnet", help="the binary (default: build and use target/release/wavnet)")
    ap.add_argument("--source", help="source model file (default: train one on --source-data)")
    ap.add_argument("--source-data", default="recipes/everyday/source.csv")
    ap.add_argument("--source-epochs", type=int, default=40)
    ap.add_argument("--source-args", default="--val-split val", help="extra flags of the source's training")
    ap.add_argument("--targets", default="esc10,fsdd", help="comma-separated: esc10, fsdd")
    ap.add_argument("--k", default="5,10,20,all", help="clips per class, comma-separated; `all` = the whole training part")
    ap.add_argument("--epochs", default="5:60,10:40,20:30,all:20",
                    help="epochs per K as K:E pairs (the same for transfer and scratch), or one number for every K")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--transfer", default="", help="flags of the transfer runs besides --init, e.g. '--pretrained-lr-scale 0.1'")
    ap.add_argument("--train-args", default="--device cpu --batch 32 --lr 3e-3 --augment default",
                    help="flags of every target run (transfer and scratch); --batch is lowered to the training clips")
    ap.add_argument("--compare", metavar="K", help="instead: every transfer option (and scratch) at this K")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=FLAGS",
                    help="with --compare: these variants instead of the built-in list (FLAGS `scratch` = no --init)")
    ap.add_argument("--metric", choices=["last", "best"], default="last")
    ap.add_argument("--jobs", type=int, default=1, help="trainings at once")
    ap.add_argument("--workdir", default="runs/transfer")
    ap.add_argument("--results", help="Markdown results file (default: WORKDIR/results.md)")
    return ap.parse_args()


def st_metadata(path):
    """The metadata of a safetensors file (its JSON header's __metadata__)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


def finished(out, epochs):
    """The training summary of a run in `out` that completed `epochs` epochs, else None."""
    path = os.path.join(out, "last.safetensors")
    if not os.path.isfile(path):
        return None
    s = json.loads(st_metadata(path).get("wavnet.summary", "{}"))
    return s if s.get("epochs_done") == epochs and s.get("history") else None


def run_score(out, epochs, metric):
    """Validation accuracy (%) of a finished run in `out`, or None if it is not finished."""
    s = finished(out, epochs)
    if s is None:
        return None
    accs = [h["val_accuracy"] for h in s["history"]]
    if None in accs:
        sys.exit(f"{out}: a run without validation scores")
    return 100.0 * (accs[-1] if metric == "last" else max(accs))


def train(wavnet, args, out, log):
    cmd = [wavnet, "train", "--quiet", "--force", "--out", out] + args
    with open(log, "w") as f:
        f.write(shlex.join(cmd) + "\n")
        f.flush()
        p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        tail = open(log).read()[-2000:]
        sys.exit(f"training failed (exit {p.returncode}): {shlex.join(cmd)}\n{tail}")


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def target_parts(name):
    """(train rows, validation rows) of a target, fnames made absolute."""
    if name == "esc10":
        path = os.path.join(SHARED, "esc10", "manifest.csv")
        rows = read_rows(path)
        tr = [r for r in rows if r["fold"] in ("1", "2", "3")]
        va = [r for r in rows if r["fold"] == "4"]
    elif name == "fsdd":
        path = os.path.join(SHARED, "fsdd", "manifest.csv")
        rows = read_rows(path)
        tr = [r for r in rows if r["split"] == "train"]
        va = [r for r in rows if r["split"] == "test"]
    else:
        sys.exit(f"--targets: unknown target {name!r} (esc10, fsdd)")
    base = os.path.dirname(os.path.abspath(path))
    absolute = lambda rs: [(os.path.join(base, r["fname"]), r["label"]) for r in rs]
    return absolute(tr), absolute(va)


def subset_manifest(workdir, target, k, seed, tr, va):
    """Writes the manifest of K clips per class (seeded) plus the validation part; returns
    (path, training clips)."""
    by = {}
    for f, l in tr:
        by.setdefault(l, []).append(f)
    if k == "all":
        chosen = tr
    else:
        rng = random.Random(f"{target}-{k}-{seed}")
        chosen = []
        for label in sorted(by):
            files = sorted(by[label])
            if len(files) < int(k):
                sys.exit(f"{target}: class {label} has {len(files)} training clips, fewer than K = {k}")
            chosen += [(f, label) for f in rng.sample(files, int(k))]
    path = os.path.join(workdir, "manifests", f"{target}-k{k}-s{seed}.csv")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["fname", "label", "split"])
        w.writerows([(p, l, "train") for p, l in chosen] + [(p, l, "val") for p, l in va])
    return path, len(chosen)


def epochs_for(spec, k):
    if ":" not in spec:
        return int(spec)
    table = dict(p.split(":") for p in spec.split(","))
    if str(k) not in table:
        sys.exit(f"--epochs {spec}: no budget for K = {k}")
    return int(table[str(k)])


def mean_sd(v):
    if not v:
        return "-"
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{statistics.mean(v):.1f} ± {sd:.1f}"


def main():
    a = parse_args()
    os.chdir(ROOT)
    os.makedirs(a.workdir, exist_ok=True)
    cache = os.path.join(a.workdir, "cache")
    wavnet = a.wavnet
    if not wavnet:
        subprocess.run(["cargo", "build", "--release", "--quiet"], check=True)
        wavnet = os.path.join(ROOT, "target", "release", "wavnet")
    source = a.source
    if not source:
        out = os.path.join(a.workdir, "source")
        if finished(out, a.source_epochs) is None:
            print(f"training the source model on {a.source_data} ({a.source_epochs} epochs) ...", file=sys.stderr, flush=True)
            train(wavnet, ["--data", a.source_data, "--epochs", str(a.source_epochs), "--disk-cache", cache]
                  + shlex.split(a.train_args) + shlex.split(a.source_args), out, os.path.join(a.workdir, "source.log"))
        source = os.path.join(out, "best.safetensors")
    cfg = json.loads(st_metadata(source)["wavnet.config"])
    # Scratch runs: the source's architecture (sizes, sample rate, crop, dropout, loss).
    arch_json = os.path.join(a.workdir, "source-config.json")
    with open(arch_json, "w") as f:
        json.dump(cfg, f)
    arch = ["--config", arch_json]

    if a.compare:
        variants = VARIANTS
        if a.variant:
            variants = [(v.split("=", 1)[0], None if v.split("=", 1)[1] == "scratch" else v.split("=", 1)[1]) for v in a.variant]
        ks = [a.compare]
    else:
        variants = [("scratch", None), ("transfer", a.transfer)]
        ks = a.k.split(",")
    targets = a.targets.split(",")

    jobs = []  # (target, k, variant name, seed, out, args, epochs)
    for target in targets:
        tr, va = target_parts(target)
        for k in ks:
            epochs = epochs_for(a.epochs, k)
            for seed in a.seeds:
                manifest, n = subset_manifest(a.workdir, target, k, seed, tr, va)
                common = shlex.split(a.train_args)
                if "--batch" in common:
                    i = common.index("--batch")
                    common[i + 1] = str(min(int(common[i + 1]), n))
                common = ["--data", manifest, "--val-split", "val", "--epochs", str(epochs), "--seed", str(seed),
                          "--disk-cache", cache] + common
                for vi, (name, flags) in enumerate(variants):
                    extra = arch if flags is None else ["--init", source, "--crop", str(cfg["crop_seconds"])] + shlex.split(flags)
                    tag = "scratch" if flags is None else ("transfer" if not a.compare else f"v{vi}")
                    out = os.path.join(a.workdir, target, f"k{k}-{tag}-s{seed}")
                    jobs.append((target, k, name, seed, out, common + extra, epochs))

    def work(j):
        target, k, name, seed, out, args, epochs = j
        score = run_score(out, epochs, a.metric)
        if score is None:
            os.makedirs(out, exist_ok=True)
            train(wavnet, args, out, out + ".log")
            score = run_score(out, epochs, a.metric)
        print(f"{target} K={k} {name} seed {seed}: {score:.1f} %", file=sys.stderr, flush=True)
        return score

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        scores = list(ex.map(work, jobs))

    runs_csv = os.path.join(a.workdir, "runs.csv")
    with open(runs_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["target", "k", "variant", "seed", "epochs", "accuracy", "out"])
        for (target, k, name, seed, out, _, epochs), s in zip(jobs, scores):
            w.writerow([target, k, name, seed, epochs, f"{s:.2f}", out])
    acc = {}
    for (target, k, name, _, _, _, epochs), s in zip(jobs, scores):
        acc.setdefault((target, k, name, epochs), []).append(s)

    lines = [f"Source: `{source}`. Validation accuracy ({a.metric} epoch), mean ± sd over seeds {' '.join(map(str, a.seeds))}; "
             f"flags of every run: `{a.train_args}`" + (f"; transfer: `--init SOURCE {a.transfer}`" if not a.compare else "") + ".", ""]
    if a.compare:
        lines += [f"| target | K | epochs | variant | accuracy % | vs scratch |", "|---|---|---|---|---|---|"]
        for target in targets:
            epochs = epochs_for(a.epochs, a.compare)
            base = acc.get((target, a.compare, variants[0][0], epochs), [])
            for name, _ in variants:
                v = acc[(target, a.compare, name, epochs)]
                delta = f"{statistics.mean(v) - statistics.mean(base):+.1f}" if base and name != variants[0][0] else ""
                lines.append(f"| {target} | {a.compare} | {epochs} | {name} | {mean_sd(v)} | {delta} |")
    else:
        lines += ["| target | clips per class | epochs | scratch % | transfer % | transfer - scratch |", "|---|---|---|---|---|---|"]
        for target in targets:
            for k in ks:
                epochs = epochs_for(a.epochs, k)
                s, t = acc[(target, k, "scratch", epochs)], acc[(target, k, "transfer", epochs)]
                lines.append(f"| {target} | {k} | {epochs} | {mean_sd(s)} | {mean_sd(t)} | {statistics.mean(t) - statistics.mean(s):+.1f} |")
    table = "\n".join(lines) + "\n"
    results = a.results or os.path.join(a.workdir, "results.md")
    with open(results, "w") as f:
        f.write(table)
    print(table)
    print(f"(each run: {runs_csv}; this table: {results})", file=sys.stderr)


if __name__ == "__main__":
    main()
