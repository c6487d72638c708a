//! The PyTorch twin's golden values (../shared/reference/golden): activations, loss, every
//! gradient, one AdamW step and eval-mode logits, matched on both devices.
mod common;

use std::collections::BTreeMap;

use common::{assert_close_scaled, shared};
use wavnet::device::Device;
use wavnet::io::read_safetensors;
use wavnet::model::{Config, Model};

const TOL: f32 = 1e-4;

struct Golden {
    t: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Golden {
    fn load() -> Golden {
        let f = read_safetensors(&shared().join("reference/golden/wavnet-s-golden.safetensors")).expect("golden file");
        Golden { t: f.tensors }
    }
    fn get(&self, name: &str) -> &[f32] {
        &self.t.get(name).unwrap_or_else(|| panic!("golden tensor {name} missing")).1
    }
    fn with_prefix(&self, p: &str) -> BTreeMap<String, Vec<f32>> {
        self.t.iter().filter_map(|(k, (_, v))| k.strip_prefix(p).map(|n| (n.to_string(), v.clone()))).collect()
    }
}

pub fn check_golden<D: Device>(dev: D) {
    let g = Golden::load();
    let mut cfg = Config::wavnet_s(16000, 10);
    cfg.dropout = 0.0;
    let (b, l) = (4, 16000);
    let mut model = Model::new(dev, cfg, &g.with_prefix("param."), b, l).expect("model");
    let name = model.dev.name();
    model.forward(g.get("input"), true, 0);
    for a in ["front", "norm", "block0", "block1", "block2", "block3", "pooled", "logits"] {
        let want = if a == "logits" { g.get("logits") } else { g.get(&format!("act.{a}")) };
        assert_close_scaled(&format!("[{name}] act.{a}"), &model.activation(a).unwrap(), want, TOL);
    }
    model.backward(g.get("target"));
    let loss = model.loss(b);
    let want = g.get("loss")[0];
    assert!((loss - want).abs() <= TOL * want.abs(), "[{name}] loss {loss} != {want}");
    for (n, grad) in model.grads() {
        assert_close_scaled(&format!("[{name}] grad.{n}"), &grad, g.get(&format!("grad.{n}")), TOL);
    }
    // The first AdamW step moves each weight by ~lr * sign(g), so a gradient that is ~0 in the
    // float64 reference can flip sign under float32 rounding and move by 2 lr. The gradients were
    // matched above; the step is checked from the reference gradients, which makes it exact.
    for t in model.tensors.iter().filter(|t| g.t.contains_key(&format!("grad.{}", t.spec.name))) {
        model.dev.upload(&t.grad, g.get(&format!("grad.{}", t.spec.name)));
    }
    model.adamw_step(1e-3, 1e-2);
    for (n, v) in model.values() {
        assert_close_scaled(&format!("[{name}] after_step.{n}"), &v, g.get(&format!("after_step.{n}")), TOL);
    }
    model.forward(g.get("input"), false, 0);
    assert_close_scaled(&format!("[{name}] eval_logits_after_step"), &model.logits(), g.get("eval_logits_after_step"), TOL);
}

#[test]
fn golden_matches_pytorch_on_cpu() {
    check_golden(wavnet::cpu::CpuDevice::new());
}

/// The GPU device for tests: fails with what to install when there is no adapter; the only way
/// to skip is `WAVNET_SKIP_GPU_TESTS=1`, which prints a loud line.
fn gpu() -> Option<wavnet::gpu::GpuDevice> {
    if std::env::var("WAVNET_SKIP_GPU_TESTS").as_deref() == Ok("1") {
        eprintln!("SKIPPED: WAVNET_SKIP_GPU_TESTS=1 (GPU golden tests not run)");
        return None;
    }
    match wavnet::gpu::GpuDevice::new(false) {
        Ok(d) => Some(d),
        Err(e) => panic!("{e}\n(install Mesa's Vulkan driver: apt-get install mesa-vulkan-drivers libvulkan1; or set WAVNET_SKIP_GPU_TESTS=1 to skip)"),
    }
}

#[test]
fn golden_matches_pytorch_on_gpu() {
    if let Some(d) = gpu() {
        check_golden(d);
    }
}

/// Twenty AdamW steps (dropout on) on the golden batch: the same losses on both devices, and
/// the loss falls. Adam moves every weight by about lr * sign(g) early on, so float32 rounding
/// in near-zero gradients makes the two trajectories drift apart in proportion to lr: at lr 1e-3
/// the losses agree to 1e-6 for three steps and differ by 1-10 % after ten; at lr 1e-4 they stay
/// within 0.2 % for all twenty steps.
fn twenty_steps<D: Device>(dev: D) -> Vec<f32> {
    let g = Golden::load();
    let cfg = Config::wavnet_s(16000, 10);
    let model = Model::new(dev, cfg, &g.with_prefix("param."), 4, 16000).expect("model");
    let mut model = model;
    (0..20)
        .map(|step| {
            model.forward(g.get("input"), true, wavnet::train::dropout_seed(3, step));
            model.backward(g.get("target"));
            model.adamw_step(1e-4, 1e-2);
            model.loss(4)
        })
        .collect()
}

#[test]
fn twenty_adamw_steps_agree_on_cpu_and_gpu_and_the_loss_falls() {
    let Some(d) = gpu() else { return };
    let cpu = twenty_steps(wavnet::cpu::CpuDevice::new());
    let gpu = twenty_steps(d);
    assert!(cpu[19] < 0.5 * cpu[0], "loss falls: {cpu:?}");
    for (i, (c, g)) in cpu.iter().zip(&gpu).enumerate() {
        assert!((c - g).abs() <= 2e-3 * c.abs().max(1.0), "step {i}: cpu loss {c}, gpu loss {g}\ncpu {cpu:?}\ngpu {gpu:?}");
    }
}
