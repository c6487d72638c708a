#!/usr/bin/env python3
"""Transfer-learning study (issue #8): fine-tuning a source model against training from scratch at
the same budget, with K clips per class.

Targets: ESC-10 (folds 1-3 train, fold 4 held out) and FSDD (split train, split test held out).
For each K and seed, a seeded subset of K clips per class of the training part (`all` = every
clip) is written as a manifest, and trained twice with the same flags, seed and number of clip
passes (epochs = --passes / clips, at least --min-epochs): from scratch, and from --source with
`--init SOURCE` plus --transfer-args. Runs have no validation set; each run's last model is scored
once by `wavnet eval` on the held-out part. Results go to OUT/results.jsonl (a killed study goes
on where it stopped) and a Markdown table of mean ± sd over the seeds is printed.

Source model (ESC-50 folds 1-4 without the ESC-10 classes, plus UrbanSound8K folds 1-9):
  wavnet train --data recipes/everyday/source.csv --epochs 40 --device cpu --out runs/source
The study (from the repository root, after `cargo build --release`; the README's table):
  python3 benches/transfer.py --source runs/source/last.safetensors --target esc10 --out runs/transfer
One transfer option at a time against plain fine-tuning, at one K:
  python3 benches/transfer.py --source S --k 5 --arms transfer --transfer-args="--linear-probe"
"""
import argparse, csv, json, os, random, subprocess, sys, statistics, time

TARGETS = {
    "esc10": ("esc10/manifest.csv", lambda r: r["fold"] != "4", ["--fold", "4"]),
    "fsdd": ("fsdd/manifest.csv", lambda r: r["split"] == "train", ["--split", "test"]),
}

def subset(shared, target, k, seed, out):
    rel, is_train, _ = TARGETS[target]
    path = os.path.join(shared, "data", rel)
    base = os.path.dirname(os.path.abspath(path))
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if is_train(r)]
    by = {}
    for r in rows:
        by.setdefault(r["label"], []).append(r)
    rng = random.Random(f"{target}-{k}-{seed}")
    picked = []
    for label in sorted(by):
        rs = sorted(by[label], key=lambda r: r["fname"])
        rng.shuffle(rs)
        picked += rs if k == "all" else rs[: int(k)]
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["fname", "label"])
        for r in picked:
            w.writerow([os.path.join(base, r["fname"]), r["label"]])
    return len(picked)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wavnet", default="target/release/wavnet")
    ap.add_argument("--shared", default="../shared")
    ap.add_argument("--source", required=True, help="source model file (or 'default')")
    ap.add_argument("--target", choices=TARGETS, default="esc10")
    ap.add_argument("--k", default="5,10,20,all")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--passes", type=int, default=12000, help="clip passes per run (epochs = passes / clips)")
    ap.add_argument("--min-epochs", type=int, default=20)
    ap.add_argument("--arms", default="scratch,transfer")
    ap.add_argument("--transfer-args", default="", help="extra train flags of the transfer arm")
    ap.add_argument("--train-args", default="--augment default --batch 32 --lr 3e-3")
    ap.add_argument("--out", default="runs/transfer")
    ap.add_argument("--results", default=None)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    results = a.results or os.path.join(a.out, "results.jsonl")
    done = set()
    if os.path.exists(results):
        for line in open(results):
            d = json.loads(line); done.add((d["target"], d["k"], d["arm"], d["seed"], d["transfer_args"]))
    for k in a.k.split(","):
        for seed in a.seeds.split(","):
            man = os.path.join(a.out, f"{a.target}-k{k}-s{seed}.csv")
            n = subset(a.shared, a.target, k, seed, man)
            epochs = max(a.min_epochs, round(a.passes / n))
            for arm in a.arms.split(","):
                targs = a.transfer_args if arm == "transfer" else ""
                if (a.target, k, arm, int(seed), targs) in done:
                    continue
                run = os.path.join(a.out, f"{a.target}-k{k}-{arm}{'-' + targs.replace(' ', '').replace('-', '') if targs else ''}-s{seed}")
                cmd = [a.wavnet, "train", "--data", man, "--epochs", str(epochs), "--seed", seed, "--device", "cpu",
                       "--out", run, "--force", "--quiet"] + a.train_args.split()
                if arm == "transfer":
                    cmd += ["--init", a.source] + targs.split()
                t0 = time.time()
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                secs = time.time() - t0
                ev = subprocess.run([a.wavnet, "eval", "--model", os.path.join(run, "last.safetensors"), "--device", "cpu",
                                     "--data", os.path.join(a.shared, "data", TARGETS[a.target][0]), "--json"] + TARGETS[a.target][2],
                                    check=True, capture_output=True, text=True)
                acc = json.loads(ev.stdout)["scores"]["accuracy"] * 100
                d = {"target": a.target, "k": k, "arm": arm, "seed": int(seed), "transfer_args": targs, "clips": n,
                     "epochs": epochs, "acc": acc, "train_s": round(secs, 1), "cmd": " ".join(cmd)}
                with open(results, "a") as f:
                    f.write(json.dumps(d) + "\n")
                print(f"{a.target} k={k} {arm} {targs} seed {seed}: {acc:.2f} % ({n} clips, {epochs} epochs, {secs:.0f} s)", flush=True)
    table(results)

def table(results):
    rows = [json.loads(l) for l in open(results)]
    keys = sorted({(r["target"], r["k"], r["arm"], r["transfer_args"]) for r in rows}, key=lambda t: (t[0], 999 if t[1] == "all" else int(t[1]), t[2], t[3]))
    print("| target | clips/class | arm | options | epochs | accuracy (mean ± sd) | seeds |")
    print("|---|---|---|---|---|---|---|")
    for t in keys:
        accs = [r["acc"] for r in rows if (r["target"], r["k"], r["arm"], r["transfer_args"]) == t]
        ep = {r["epochs"] for r in rows if (r["target"], r["k"], r["arm"], r["transfer_args"]) == t}
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"| {t[0]} | {t[1]} | {t[2]} | {t[3] or '—'} | {','.join(map(str, sorted(ep)))} | {statistics.mean(accs):.1f} ± {sd:.1f} | {len(accs)} |")

if __name__ == "__main__":
    main()
