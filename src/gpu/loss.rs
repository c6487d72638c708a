//! The losses, forward and backward fused, one invocation per row: `shaders/softmax_ce.wgsl`
//! (softmax cross-entropy with soft targets) and `shaders/sigmoid_bce.wgsl` (binary
//! cross-entropy per class). Both take the same buffers, so one wrapper dispatches either.
use super::{check_len, groups, u, Access::*, GpuBuf, GpuDevice, Kernel};

pub(super) const SOFTMAX_CE: Kernel = Kernel {
    shader: "softmax_ce",
    source: include_str!("../../shaders/softmax_ce.wgsl"),
    entry: "softmax_ce_forward_backward",
    wg: 64,
    bindings: &[ReadWrite, ReadWrite, Read, Read],
};

pub(super) const SIGMOID_BCE: Kernel = Kernel {
    shader: "sigmoid_bce",
    source: include_str!("../../shaders/sigmoid_bce.wgsl"),
    entry: "sigmoid_bce_forward_backward",
    wg: 64,
    bindings: &[ReadWrite, ReadWrite, Read, Read],
};

/// losses (B) =; dlogits (B, K) =; logits (B, K); targets (B, K).
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_backward(
    d: &GpuDevice, kernel: &Kernel, losses: &GpuBuf, dlogits: &GpuBuf, logits: &GpuBuf, targets: &GpuBuf, b: usize,
    k: usize,
) {
    let op = kernel.entry;
    assert!(k > 0, "{op}: K must be > 0");
    check_len(op, "losses", losses, b);
    check_len(op, "dlogits", dlogits, b * k);
    check_len(op, "logits", logits, b * k);
    check_len(op, "targets", targets, b * k);
    d.dispatch(kernel, &[losses, dlogits, logits, targets], &[u(op, b), u(op, k)], groups(b, kernel.wg));
}
