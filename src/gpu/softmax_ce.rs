//! `shaders/softmax_ce.wgsl`: softmax cross-entropy with soft targets, forward and backward fused.
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel};

const SRC: &str = include_str!("../../shaders/softmax_ce.wgsl");
const FB: Kernel = Kernel {
    shader: "softmax_ce",
    source: SRC,
    entry: "softmax_ce_forward_backward",
    wg: 64,
    bindings: &[ReadWrite, ReadWrite, Read, Read],
};

/// losses (B) =; dlogits (B, K) =; logits (B, K); targets (B, K).
pub(super) fn forward_backward(
    d: &GpuDevice, losses: &GpuBuf, dlogits: &GpuBuf, logits: &GpuBuf, targets: &GpuBuf, b: usize, k: usize,
) {
    let op = "softmax_ce_forward_backward";
    assert!(k > 0, "{op}: K must be > 0");
    check_len(op, "losses", losses, b);
    check_len(op, "dlogits", dlogits, b * k);
    check_len(op, "logits", logits, b * k);
    check_len(op, "targets", targets, b * k);
    d.dispatch(&FB, &[losses, dlogits, logits, targets], &[u(op, b), u(op, k)], groups(b, FB.wg));
}
