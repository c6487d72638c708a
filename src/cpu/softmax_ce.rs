//! Softmax cross-entropy with soft targets; forward and backward fused.

/// losses (B) =; dlogits (B, K) =; logits (B, K); targets (B, K).
/// losses[b] = s * lse - sum_k y_k z_k (s = sum_k y_k); dlogits = (p s - y) / B.
pub fn softmax_ce_forward_backward(losses: &mut [f32], dlogits: &mut [f32], logits: &[f32], targets: &[f32], b: usize, k: usize) {
    for bi in 0..b {
        let z = &logits[bi * k..(bi + 1) * k];
        let y = &targets[bi * k..(bi + 1) * k];
        let zmax = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let sumexp: f32 = z.iter().map(|v| (v - zmax).exp()).sum();
        let lse = zmax + sumexp.ln();
        let s: f32 = y.iter().sum();
        let yz: f32 = y.iter().zip(z).map(|(y, z)| y * z).sum();
        losses[bi] = s * lse - yz;
        for j in 0..k {
            let p = (z[j] - lse).exp();
            dlogits[bi * k + j] = (p * s - y[j]) / b as f32;
        }
    }
}
