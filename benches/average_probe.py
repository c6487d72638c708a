#!/usr/bin/env python3
"""Does weight averaging help a finished run? (the README's `--average-last` rows)

  python3 benches/average_probe.py watch OUT...        # beside `wavnet train --out OUT`:
      copies OUT/last.safetensors after every epoch to OUT/snaps/eNNNN.safetensors
  python3 benches/average_probe.py score OUT DATA FOLD LAST N...
      for each N: the mean of snapshots LAST-N+1..LAST (every tensor, running statistics
      included, as `train --average-last N` does), scored by `wavnet eval --fold FOLD`

Needs numpy and safetensors (`pip install numpy safetensors`); WAVNET (default
target/release/wavnet) is the binary.
"""
import json, os, shutil, subprocess, sys, time

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

WAVNET = os.environ.get("WAVNET", "target/release/wavnet")


def read(path):
    """(metadata, {name: array}) of a model file, without the optimizer and averaging state."""
    with safe_open(path, "np") as f:
        meta = f.metadata()
        return meta, {k: f.get_tensor(k) for k in f.keys() if not k.startswith(("optim.", "average."))}


def watch(runs):
    seen = {}
    while True:
        for r in runs:
            p = os.path.join(r, "last.safetensors")
            try:
                mtime = os.stat(p).st_mtime_ns
            except FileNotFoundError:
                continue
            if seen.get(r) == mtime:
                continue
            seen[r] = mtime
            os.makedirs(os.path.join(r, "snaps"), exist_ok=True)
            tmp = os.path.join(r, "snaps", "tmp")
            shutil.copy(p, tmp)  # train writes last.safetensors by rename: a copy is whole
            with safe_open(tmp, "np") as f:
                epochs = json.loads(f.metadata()["wavnet.train_state"])["epochs_done"]
            os.rename(tmp, os.path.join(r, "snaps", f"e{epochs:04d}.safetensors"))
        time.sleep(2)


def average(run, last, ns):
    """{n: (metadata, mean of snapshots last-n+1..last)} for each n, reading each snapshot once."""
    out, total, meta = {}, None, None
    for k in range(1, max(ns) + 1):  # the newest first, so each n is a prefix of the walk
        m, t = read(os.path.join(run, "snaps", f"e{last - k + 1:04d}.safetensors"))
        meta = meta or {key: v for key, v in m.items() if key != "wavnet.train_state"}
        total = {key: v.astype(np.float64) for key, v in t.items()} if total is None else {key: total[key] + t[key] for key in total}
        if k in ns:
            out[k] = (meta, {key: (v / k).astype(np.float32) for key, v in total.items()})
    return out


def score(run, data, fold, last, ns):
    for n, (meta, mean) in sorted(average(run, last, ns).items()):
        out = os.path.join(run, f"average-last-{n}.safetensors")
        save_file(mean, out, metadata=meta)
        r = subprocess.run([WAVNET, "eval", "--model", out, "--data", data, "--fold", str(fold), "--json"], capture_output=True, text=True, check=True)
        acc = json.loads(r.stdout)["scores"]["accuracy"]
        print(f"{run}: epoch {last} averaged over the last {n}: {100 * acc:.1f} %", flush=True)

if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "watch":
        watch(sys.argv[2:])
    elif len(sys.argv) > 6 and sys.argv[1] == "score":
        score(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), [int(n) for n in sys.argv[6:]])
    else:
        sys.exit(__doc__)
