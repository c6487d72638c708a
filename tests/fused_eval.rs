//! The `cpu` device's fused eval forward (BatchNorm folded into the convs, fused ReLU/max-pool,
//! channels-last chunks; `wavnet::cpu::fused_eval`) against the op-by-op eval forward it
//! replaces, on shapes that are multiples of nothing (odd frame counts, so the max-pools drop
//! a frame; chunks that do not divide the batch).
mod common;

use std::collections::BTreeMap;

use common::assert_close_scaled;
use wavnet::cpu::fused_eval::CpuFusedEval;
use wavnet::cpu::CpuDevice;
use wavnet::device::{hash_u32, FusedEval};
use wavnet::model::{init_tensors, Config, Model};

/// Relative to the largest logit, as in tests/golden.rs: the two paths round differently (folded weights, one
/// product instead of three, a polynomial ln), nothing else.
const TOL: f32 = 1e-4;

/// Uniform values in [lo, hi) from a counter hash.
fn noise(n: usize, seed: u32, lo: f32, hi: f32) -> Vec<f32> {
    (0..n as u32).map(|i| lo + (hash_u32(i ^ hash_u32(seed)) as f32 / u32::MAX as f32) * (hi - lo)).collect()
}

/// A small model with odd sizes and BatchNorm statistics far from the identity.
fn odd_model(convs_per_block: usize) -> (Config, BTreeMap<String, Vec<f32>>, usize) {
    let mut cfg = Config::wavnet_s(8000, 3);
    cfg.filters = 5;
    cfg.taps = 31;
    cfg.hop = 7;
    cfg.channels = vec![6, 11, 9];
    cfg.convs_per_block = convs_per_block;
    let len = 7 * 37 + 3; // T0 = 38 frames -> 19 -> 9 -> 4 after the pools (odd in between)
    cfg.crop_seconds = len as f32 / 8000.0;
    let mut values = init_tensors(&cfg, 7);
    for (i, (name, v)) in values.iter_mut().enumerate() {
        let s = i as u32 * 4 + 1;
        let n = v.len();
        if name.ends_with("running_mean") || name.ends_with(".bias") && !name.starts_with("head") {
            *v = noise(n, s, -0.5, 0.5);
        } else if name.ends_with("running_var") {
            *v = noise(n, s, 0.3, 2.5);
        } else if name.contains("bn") && name.ends_with(".weight") || name == "norm.weight" {
            *v = noise(n, s, 0.5, 1.5);
        }
    }
    (cfg, values, len)
}

/// Eval-mode logits of `x` through the op-by-op path.
fn plain_logits(cfg: &Config, values: &BTreeMap<String, Vec<f32>>, batch: usize, len: usize, x: &[f32]) -> Vec<f32> {
    let mut m = Model::new(CpuDevice::new(), cfg.clone(), values, batch, len).expect("model");
    m.set_fused_eval(false);
    m.forward(x, false, 0);
    m.logits()
}

#[test]
fn fused_eval_equals_the_op_by_op_forward_for_any_chunking() {
    for convs in [1, 2, 3] {
        let (cfg, values, len) = odd_model(convs);
        let batch = 5;
        let x = noise(batch * len, 99, -1.0, 1.0);
        let want = plain_logits(&cfg, &values, batch, len, &x);
        // threads 1, 2, 5: chunks of 5, 3 + 2, and 1 clip.
        for threads in [1, 2, 5] {
            let mut f = CpuFusedEval::new(&cfg, &values, batch, len, threads).expect("fused");
            let mut got = vec![f32::NAN; batch * cfg.classes];
            f.forward(&x, &mut got);
            assert_close_scaled(&format!("convs {convs}, threads {threads} (chunk {})", f.chunk()), &got, &want, TOL);
            // Fewer clips than the batch (the tagger's last pass), through the same buffers.
            let mut part = vec![f32::NAN; 2 * cfg.classes];
            f.forward(&x[..2 * len], &mut part);
            assert_close_scaled(&format!("convs {convs}, threads {threads}, 2 clips"), &part, &want[..2 * cfg.classes], TOL);
        }
    }
}

#[test]
fn the_model_uses_the_fused_path_in_eval_and_rebuilds_it_after_a_training_step() {
    let (cfg, values, len) = odd_model(2);
    let batch = 4;
    let x = noise(batch * len, 5, -1.0, 1.0);
    let mut m = Model::new(CpuDevice::new(), cfg.clone(), &values, batch, len).expect("model");
    m.forward(&x, false, 0);
    let before = m.logits();
    assert_close_scaled("fused before the step", &before, &plain_logits(&cfg, &values, batch, len, &x), TOL);
    // A training step moves every weight and the running statistics: the folded copy must follow.
    m.forward(&x, true, 1);
    let mut y = vec![0.0; batch * cfg.classes];
    for b in 0..batch {
        y[b * cfg.classes + b % cfg.classes] = 1.0;
    }
    m.backward(&y);
    m.adamw_step(1e-2, 1e-2);
    m.forward(&x, false, 0);
    let after = m.logits();
    let want = plain_logits(&cfg, &m.values(), batch, len, &x);
    assert_close_scaled("fused after the step", &after, &want, TOL);
    let moved = before.iter().zip(&after).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(moved > 1e-3, "a training step at lr 1e-2 should move the logits (moved {moved})");
    // Writing a value directly, then `values_changed`.
    let i = m.tensors.iter().position(|t| t.spec.name == "head.bias").expect("head.bias");
    let bias = vec![3.0, -1.0, 0.5];
    wavnet::device::Device::upload(&m.dev, &m.tensors[i].value, &bias);
    m.values_changed();
    m.forward(&x, false, 0);
    assert_close_scaled("fused after values_changed", &m.logits(), &plain_logits(&cfg, &m.values(), batch, len, &x), TOL);
}

#[test]
#[should_panic(expected = "keeps no activations")]
fn reading_an_activation_after_a_fused_eval_forward_is_refused_not_stale() {
    let (cfg, values, len) = odd_model(2);
    let m = Model::new(CpuDevice::new(), cfg, &values, 2, len).expect("model");
    m.forward(&noise(2 * len, 3, -1.0, 1.0), false, 0);
    assert!(m.activation("logits").is_some(), "logits are current after a fused forward");
    let _ = m.activation("front");
}
