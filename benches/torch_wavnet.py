"""PyTorch twin of wavnet's default model (the spec in the core issue), used as
the peer a user would pick instead: times a training step and an inference pass
on the same machine, same shapes. Run: python torch_wavnet.py [--batch 32] [--seconds 2]

This is the project's reference twin (../shared/reference/torch_wavnet.py) copied into the
repository so that it travels to GPU machines with benches/gpu.sh, with one addition:
--device (cpu, cuda, ...), timing with the device synchronised. The model is unchanged."""
import argparse, math, time
import torch, torch.nn as nn, torch.nn.functional as F

SR, NF, WIN, HOP = 16000, 64, 401, 160
# PyTorch defaults that wavnet mirrors: BatchNorm eps 1e-5, momentum 0.1 (running = 0.9 running
# + 0.1 batch, unbiased variance in the running estimate); AdamW betas (0.9, 0.999), eps 1e-8.

def mel(f): return 2595.0 * math.log10(1.0 + f / 700.0)
def imel(m): return 700.0 * (10 ** (m / 2595.0) - 1.0)

class Gabor(nn.Module):
    def __init__(self):
        super().__init__()
        pts = torch.tensor([imel(m) for m in torch.linspace(mel(60), mel(7800), NF + 2).tolist()])
        centre = pts[1:-1]; width = pts[2:] - pts[:-2]
        self.mu = nn.Parameter(2 * math.pi * centre / SR)                     # rad/sample
        self.sigma = nn.Parameter(SR * math.sqrt(2 * math.log(2)) / (math.pi * width))  # samples
        self.register_buffer("n", torch.arange(-(WIN // 2), WIN // 2 + 1, dtype=torch.float32))
    def forward(self, x):                                      # x: (B, L)
        mu = self.mu.clamp(0, math.pi); sigma = self.sigma.clamp(2.0, WIN / 2)
        env = torch.exp(-self.n[None] ** 2 / (2 * sigma[:, None] ** 2)) / (math.sqrt(2 * math.pi) * sigma[:, None])
        k = torch.cat([env * torch.cos(mu[:, None] * self.n[None]), env * torch.sin(mu[:, None] * self.n[None])])
        # frames centred on samples 0, HOP, 2*HOP, ... <= L: T = L // HOP + 1 (zeros outside the clip)
        y = F.conv1d(F.pad(x[:, None], (WIN // 2, WIN // 2 + 1)), k[:, None], stride=HOP)   # (B, 2F, T)
        e = y[:, :NF] ** 2 + y[:, NF:] ** 2
        return torch.log(e + 1e-5)

def block(ci, co):
    return nn.Sequential(nn.Conv1d(ci, co, 3, padding=1, bias=False), nn.BatchNorm1d(co), nn.ReLU(),
                         nn.Conv1d(co, co, 3, padding=1, bias=False), nn.BatchNorm1d(co), nn.ReLU(), nn.MaxPool1d(2))

class WavNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.front = Gabor(); self.norm = nn.BatchNorm1d(NF)
        self.body = nn.Sequential(block(64, 64), block(64, 128), block(128, 128), block(128, 256))
        self.drop = nn.Dropout(0.2); self.head = nn.Linear(256, classes)
    def forward(self, x):
        h = self.body(self.norm(self.front(x)))
        return self.head(self.drop(h.mean(-1) + h.amax(-1)))

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=2.0); ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, ...")
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    m = WavNet().to(dev); opt = torch.optim.AdamW(m.parameters(), 1e-3, weight_decay=1e-2)
    x = torch.randn(a.batch, int(a.seconds * SR)).to(dev); y = torch.randint(0, 10, (a.batch,)).to(dev)
    params = sum(p.numel() for p in m.parameters())
    def step():
        opt.zero_grad(); loss = F.cross_entropy(m(x), y); loss.backward(); opt.step(); return loss.item()
    for _ in range(2): step()
    sync(); t = time.perf_counter()
    for _ in range(a.steps): step()
    sync(); dt = (time.perf_counter() - t) / a.steps
    m.eval()
    with torch.no_grad():
        m(x); sync(); t = time.perf_counter()
        for _ in range(a.steps): m(x)
        sync(); di = (time.perf_counter() - t) / a.steps
    audio = a.batch * a.seconds
    print(f"torch {torch.__version__} device={dev} threads={torch.get_num_threads()} params={params} batch={a.batch} seconds={a.seconds}")
    print(f"train_step_s={dt:.4f} train_audio_s_per_s={audio/dt:.1f} infer_s={di:.4f} infer_audio_s_per_s={audio/di:.1f}")

if __name__ == "__main__":
    main()
