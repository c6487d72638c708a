//! `shaders/sigmoid_bce.wgsl`: binary cross-entropy per class (sigmoid), forward and backward fused.
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel};

const SRC: &str = include_str!("../../shaders/sigmoid_bce.wgsl");
const FB: Kernel = Kernel {
    shader: "sigmoid_bce",
    source: SRC,
    entry: "sigmoid_bce_forward_backward",
    wg: 64,
    bindings: &[ReadWrite, ReadWrite, Read, Read],
};

/// losses (B) =; dlogits (B, K) =; logits (B, K); targets (B, K).
pub(super) fn forward_backward(
    d: &GpuDevice, losses: &GpuBuf, dlogits: &GpuBuf, logits: &GpuBuf, targets: &GpuBuf, b: usize, k: usize,
) {
    let op = "sigmoid_bce_forward_backward";
    assert!(k > 0, "{op}: K must be > 0");
    check_len(op, "losses", losses, b);
    check_len(op, "dlogits", dlogits, b * k);
    check_len(op, "logits", logits, b * k);
    check_len(op, "targets", targets, b * k);
    d.dispatch(&FB, &[losses, dlogits, logits, targets], &[u(op, b), u(op, k)], groups(b, FB.wg));
}
