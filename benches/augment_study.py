"""Augmentation study on ESC-10: folds 1-3 train, fold 4 validation, one run per setting
(no augmentation, each augmentation alone, the default set), same seed and schedule.
Run from the repository root:  python3 benches/augment_study.py [--epochs 30] [--seeds 0 1]
Prints a Markdown table of the last-epoch and best validation accuracy."""
import argparse, json, os, re, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=30)
ap.add_argument("--seeds", type=int, nargs="+", default=[0])
ap.add_argument("--wavnet", default="target/release/wavnet")
ap.add_argument("--data", default="../shared/data/esc10/manifest.csv")
ap.add_argument("--only", nargs="+", help="run only these settings")
a = ap.parse_args()

def cfg(which):
    return json.loads(subprocess.check_output([a.wavnet, "augment", which]))

# Every augmentation at its studied range (the settings before this study chose the default).
ALL = json.loads('''{"gain_db": {"p": 0.5, "range": {"lo": -6.0, "hi": 6.0}}, "polarity": 0.5, "shift": {"p": 0.5, "range": {"lo": 0.0, "hi": 0.1}}, "noise": {"p": 0.5, "colors": ["white", "pink", "brown"], "snr_db": {"lo": 10.0, "hi": 40.0}}, "background": null, "mixup": null, "speed": {"p": 0.5, "range": {"lo": 0.9, "hi": 1.1}}, "time_mask": {"p": 0.5, "max_masks": 1, "max_fraction": 0.1}, "eq": {"p": 0.5, "freq_hz": {"lo": 100.0, "hi": 6000.0}, "q": {"lo": 0.5, "hi": 2.0}, "gain_db": {"lo": -12.0, "hi": 12.0}}, "reverb": {"p": 0.3, "rt60_s": {"lo": 0.1, "hi": 0.6}, "wet": {"lo": 0.1, "hi": 0.4}}}''')
default, none = ALL, cfg("none")
settings = {"none": none}
for key in ["gain_db", "polarity", "shift", "noise", "speed", "time_mask", "eq", "reverb"]:
    c = dict(none); c[key] = default[key]; settings[key] = c
extra = {
    "background": {"p": 0.5, "range": {"lo": 5.0, "hi": 20.0}},
    "mixup": {"p": 0.5, "alpha": 0.4},
}
for key, v in extra.items():
    c = dict(none); c[key] = v; settings[key] = c
settings["all but background and mixup (the earlier default)"] = default
# The set chosen from a 3-seed run of the rows above (what `wavnet augment default` now prints):
# the augmentations that helped alone; gain and EQ hurt, polarity is a no-op for this model
# (the Gabor energy |y|^2 is invariant to the waveform's sign), background and reverb were neutral.
chosen = dict(none)
for key in ["shift", "noise", "speed", "time_mask"]:
    chosen[key] = default[key]
chosen["mixup"] = extra["mixup"]
settings["measured set (the default)"] = chosen
if chosen != cfg("default"):
    print("note: `wavnet augment default` differs from the measured set", file=sys.stderr)
sm = dict(none); sm["shift"] = default["shift"]; sm["mixup"] = extra["mixup"]
settings["shift + mixup"] = sm
settings["filter mask 0.5:2:8 (on the device)"] = (none, ["--filter-mask", "0.5:2:8"])
if a.only:
    settings = {k: v for k, v in settings.items() if k in a.only}

tmp = tempfile.mkdtemp()
cache = os.path.join(tmp, "cache")
rows = []
for name, c in settings.items():
    c, args = c if isinstance(c, tuple) else (c, [])
    path = os.path.join(tmp, name.replace(" ", "_") + ".json")
    json.dump(c, open(path, "w"))
    lasts, bests = [], []
    for seed in a.seeds:
        out = os.path.join(tmp, f"run-{name}-{seed}".replace(" ", "_"))
        p = subprocess.run([a.wavnet, "train", "--data", a.data, "--val-fold", "4", "--epochs", str(a.epochs),
                            "--batch", "32", "--lr", "3e-3", "--seed", str(seed), "--device", "cpu", "--augment", path,
                            "--disk-cache", cache, "--out", out] + args, capture_output=True, text=True)
        accs = [float(x) for x in re.findall(r"acc ([0-9.]+) %", p.stderr)]
        if p.returncode != 0 or not accs:
            sys.exit(f"{name}: training failed:\n{p.stderr[-2000:]}")
        lasts.append(accs[-1]); bests.append(max(accs))
    mean = lambda v: sum(v) / len(v)
    rows.append((name, mean(lasts), mean(bests)))
    print(f"{name:12s} last {mean(lasts):6.2f} %  best {mean(bests):6.2f} %", file=sys.stderr, flush=True)

print(f"\n| augmentation (ESC-10, folds 1-3 -> 4, {a.epochs} epochs, seeds {a.seeds}) | val accuracy, last epoch | best epoch |")
print("|---|---|---|")
for name, last, best in rows:
    print(f"| {name} | {last:.1f} % | {best:.1f} % |")
