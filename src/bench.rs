//! `wavnet bench`: end-to-end training-step and inference throughput of the default model, in
//! seconds of audio per second, on each device, beside the PyTorch twin run on the same
//! machine in the same invocation (when `python3 -c "import torch"` works).
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::Result;

use crate::backend::{AnyDevice, DeviceKind, DeviceTask};
use crate::device::Device;
use crate::model::{init_tensors, Config, Model};

#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub devices: Vec<DeviceKind>,
    pub batch: usize,
    pub seconds: f32,
    pub steps: usize,
    /// Path of `torch_wavnet.py`, run with the same batch and seconds.
    pub torch: Option<PathBuf>,
}

/// One device's figures.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchResult {
    pub device: String,
    pub train_step_s: f64,
    pub train_audio_per_s: f64,
    pub infer_s: f64,
    pub infer_audio_per_s: f64,
}

struct BenchTask {
    batch: usize,
    seconds: f32,
    steps: usize,
}

impl DeviceTask for BenchTask {
    type Out = Result<BenchResult>;
    fn run<D: Device>(self, dev: D) -> Result<BenchResult> {
        let mut cfg = Config::wavnet_s(16000, 10);
        cfg.crop_seconds = self.seconds;
        let l = cfg.crop();
        let values = init_tensors(&cfg, 0);
        let mut model = Model::new(dev, cfg.clone(), &values, self.batch, l).map_err(anyhow::Error::msg)?;
        let mut x = vec![0f32; self.batch * l];
        let mut s = 1u32;
        for v in x.iter_mut() {
            s = crate::device::hash_u32(s);
            *v = (s as f32 / u32::MAX as f32) * 2.0 - 1.0;
        }
        let mut y = vec![0f32; self.batch * cfg.classes];
        for b in 0..self.batch {
            y[b * cfg.classes + b % cfg.classes] = 1.0;
        }
        let step = |m: &mut Model<D>, i: u64| {
            m.forward(&x, true, i as u32);
            m.backward(&y);
            m.adamw_step(1e-3, 1e-2);
        };
        for i in 0..2 {
            step(&mut model, i);
        }
        let _ = model.loss(self.batch);
        let t = Instant::now();
        for i in 0..self.steps as u64 {
            step(&mut model, i);
        }
        let loss = model.loss(self.batch); // waits for the device
        let train = t.elapsed().as_secs_f64() / self.steps as f64;
        anyhow::ensure!(loss.is_finite(), "benchmark loss is {loss}");
        model.forward(&x, false, 0);
        let _ = model.logits();
        let t = Instant::now();
        for _ in 0..self.steps {
            model.forward(&x, false, 0);
        }
        let _ = model.logits();
        let infer = t.elapsed().as_secs_f64() / self.steps as f64;
        let audio = self.batch as f64 * self.seconds as f64;
        Ok(BenchResult {
            device: model.dev.name(),
            train_step_s: train,
            train_audio_per_s: audio / train,
            infer_s: infer,
            infer_audio_per_s: audio / infer,
        })
    }
}

/// The PyTorch twin's (train, inference) seconds of audio per second, if torch is importable.
pub fn run_torch(script: &PathBuf, batch: usize, seconds: f32, steps: usize) -> Result<(f64, f64), String> {
    let out = Command::new("python3")
        .arg(script)
        .args(["--batch", &batch.to_string(), "--seconds", &seconds.to_string(), "--steps", &steps.to_string()])
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("the twin failed (is torch installed? `pip install torch`): {}", err.lines().last().unwrap_or("")));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |key: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(key).and_then(|v| v.parse::<f64>().ok()))
            .ok_or_else(|| format!("no `{key}` in the twin's output: {text}"))
    };
    Ok((get("train_audio_s_per_s=")?, get("infer_audio_s_per_s=")?))
}

pub fn bench(o: &BenchOptions) -> Result<Vec<BenchResult>> {
    println!("wavnet-s, batch {} x {} s at 16 kHz, {} timed steps", o.batch, o.seconds, o.steps);
    let torch = o.torch.as_ref().map(|p| run_torch(p, o.batch, o.seconds, o.steps));
    match &torch {
        Some(Ok((t, i))) => println!("pytorch twin: train {t:.1} s audio/s, inference {i:.1} s audio/s"),
        Some(Err(e)) => println!("pytorch twin: not measured: {e}"),
        None => println!("pytorch twin: not measured (pass --torch ../shared/reference/torch_wavnet.py)"),
    }
    println!("{:<44} {:>10} {:>12} {:>10} {:>12} {:>9} {:>9}", "device", "step s", "train a/s", "infer s", "infer a/s", "train x", "infer x");
    let mut results = Vec::new();
    for kind in &o.devices {
        let dev = AnyDevice::open(*kind)?;
        let r = dev.run(BenchTask { batch: o.batch, seconds: o.seconds, steps: o.steps })?;
        let (rt, ri) = match &torch {
            Some(Ok((t, i))) => (format!("{:.2}", r.train_audio_per_s / t), format!("{:.2}", r.infer_audio_per_s / i)),
            _ => ("-".into(), "-".into()),
        };
        println!(
            "{:<44} {:>10.4} {:>12.1} {:>10.4} {:>12.1} {:>9} {:>9}",
            r.device, r.train_step_s, r.train_audio_per_s, r.infer_s, r.infer_audio_per_s, rt, ri
        );
        results.push(r);
    }
    println!("(a/s: seconds of audio per second; x: ratio to the PyTorch twin measured above)");
    Ok(results)
}
