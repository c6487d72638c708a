#!/usr/bin/env python3
"""Does weight averaging help a finished run? (the README's `--average-last` rows)

  python3 benches/average_probe.py watch OUT...        # beside `wavnet train --out OUT`:
      copies OUT/last.safetensors after every epoch to OUT/snaps/eNNNN.safetensors
  python3 benches/average_probe.py score OUT DATA FOLD LAST N...
      for each N: the mean of snapshots LAST-N+1..LAST (every tensor, running statistics
      included, as `train --average-last N` does), scored by `wavnet eval --fold FOLD`

Needs numpy; WAVNET (default target/release/wavnet) is the binary.
"""
import json, os, shutil, struct, subprocess, sys, time

import numpy as np

WAVNET = os.environ.get("WAVNET", "target/release/wavnet")


def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for k, v in header.items():
        if k == "__metadata__" or k.startswith(("optim.", "average.")):
            continue
        s, e = v["data_offsets"]
        tensors[k] = np.frombuffer(data[s:e], dtype=np.float32).reshape(v["shape"])
    return header["__metadata__"], tensors


def write(path, meta, tensors):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for k in sorted(tensors):
        b = tensors[k].astype(np.float32).tobytes()
        header[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


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
            meta, _ = read(tmp)
            epochs = json.loads(meta["wavnet.train_state"])["epochs_done"]
            os.rename(tmp, os.path.join(r, "snaps", f"e{epochs:04d}.safetensors"))
        time.sleep(2)


def score(run, data, fold, last, ns):
    for n in ns:
        meta, total = None, None
        for e in range(last - n + 1, last + 1):
            meta, t = read(os.path.join(run, "snaps", f"e{e:04d}.safetensors"))
            total = {k: v.astype(np.float64) for k, v in t.items()} if total is None else {k: total[k] + t[k] for k in total}
        meta = {k: v for k, v in meta.items() if k != "wavnet.train_state"}
        out = os.path.join(run, f"average-last-{n}.safetensors")
        write(out, meta, {k: v / n for k, v in total.items()})
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
