//! Linear layer (PyTorch layout: weight (K, C)).
use super::gemm;

/// out (B, K) =; x (B, C); w (K, C); bias (K). out = x w^T + bias.
pub fn linear_forward(out: &mut [f32], x: &[f32], w: &[f32], bias: &[f32], b: usize, c: usize, k: usize) {
    for bi in 0..b {
        out[bi * k..(bi + 1) * k].copy_from_slice(&bias[..k]);
    }
    gemm(b, c, k, x, c, 1, w, 1, c, 1.0, out, k, 1);
}

/// dx (B, C) =; dw (K, C) =; dbias (K) =; dout (B, K); x (B, C); w (K, C).
/// dx = dout w; dw = dout^T x; dbias = sum_b dout.
#[allow(clippy::too_many_arguments)]
pub fn linear_backward(dx: &mut [f32], dw: &mut [f32], dbias: &mut [f32], dout: &[f32], x: &[f32], w: &[f32], b: usize, c: usize, k: usize) {
    gemm(b, k, c, dout, k, 1, w, c, 1, 0.0, dx, c, 1);
    gemm(k, b, c, dout, 1, k, x, c, 1, 0.0, dw, c, 1);
    for j in 0..k {
        dbias[j] = (0..b).map(|bi| dout[bi * k + j]).sum();
    }
}
