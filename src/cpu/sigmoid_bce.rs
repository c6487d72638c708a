//! Binary cross-entropy on logits, one sigmoid per class (multi-label); forward and backward
//! fused like `softmax_ce`.

/// losses (B) =; dlogits (B, K) =; logits (B, K); targets (B, K) in [0, 1].
/// losses[b] = sum_k max(z, 0) - z y + ln(1 + exp(-|z|)) (= -y ln s(z) - (1 - y) ln(1 - s(z)),
/// computed stably); dlogits[b, k] = (s(z) - y) / B, s the logistic sigmoid.
pub fn sigmoid_bce_forward_backward(losses: &mut [f32], dlogits: &mut [f32], logits: &[f32], targets: &[f32], b: usize, k: usize) {
    for bi in 0..b {
        let mut l = 0.0f32;
        for j in 0..k {
            let (z, y) = (logits[bi * k + j], targets[bi * k + j]);
            l += z.max(0.0) - z * y + (-z.abs()).exp().ln_1p();
            dlogits[bi * k + j] = (sigmoid(z) - y) / b as f32;
        }
        losses[bi] = l;
    }
}

/// The logistic sigmoid 1 / (1 + exp(-z)), without overflow for large |z|.
pub fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}
