//! Helpers shared by the integration tests.
#![allow(dead_code)]
use std::path::PathBuf;

/// `../shared` beside the repository (the data and golden values are read in place).
pub fn shared() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    assert!(p.is_dir(), "{} is missing: the tests read real data and golden values from ../shared", p.display());
    p
}

/// Asserts |got - want| <= atol + rtol |want| element-wise; names the first mismatch.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length {} != {}", got.len(), want.len());
    let mut bad = 0;
    let mut first = None;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        // Negated on purpose: a NaN fails the check.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !((g - w).abs() <= atol + rtol * w.abs()) {
            bad += 1;
            first.get_or_insert((i, *g, *w));
        }
    }
    if let Some((i, g, w)) = first {
        panic!("{what}: {bad} of {} values differ; first at index {i}: got {g}, want {w} (atol {atol}, rtol {rtol})", got.len());
    }
}

/// Compares with a tolerance relative to the reference's largest magnitude.
pub fn assert_close_scaled(what: &str, got: &[f32], want: &[f32], rel: f32) {
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    assert_close(what, got, want, rel * scale, 0.0);
}

/// Generated clips for the command-line tests: class 0 a 1.8 kHz tone, 1 a 300 Hz tone, 2 noise.
pub const SR: u32 = 8000;
pub const CLASSES: [&str; 3] = ["high", "low", "noise"];

/// A tiny architecture so that training takes a fraction of a second.
pub const TINY: &str = r#"{"sample_rate": 8000, "filters": 16, "taps": 101, "hop": 80, "fmin": 60.0, "fmax": 3800.0,
  "crop_seconds": 0.5, "channels": [16, 32], "convs_per_block": 1, "dropout": 0.0, "classes": 3}"#;

/// One clip of 0.3-0.6 s of class `class` (see `CLASSES`).
pub fn clip(class: usize, rng: &mut impl rand::Rng) -> Vec<f32> {
    let n = rng.random_range(2400..4800);
    let f = [1800.0, 300.0, 0.0][class];
    (0..n)
        .map(|i| {
            let noise = rng.random_range(-1.0..1.0f32);
            if class == 2 { 0.5 * noise } else { 0.5 * (2.0 * std::f32::consts::PI * f * i as f32 / SR as f32).sin() + 0.02 * noise }
        })
        .collect()
}
