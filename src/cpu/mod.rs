//! The `cpu` device: every op as plain Rust on slices, parallel over the batch with rayon.
//! It is the reference every WGSL kernel is tested against, and a usable trainer on machines
//! with no GPU. One file per op (the same split as `shaders/`), forward and backward side by side.
//!
//! Reductions over the batch (weight gradients) are summed over fixed chunks of the batch in a
//! fixed order, so results are bit-for-bit the same whatever the number of threads.
use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::device::{AdamW, Device, FusedEval};
use crate::model::Config;

pub mod adamw;
pub mod batchnorm;
pub mod conv1d;
pub mod dropout;
pub mod filter_mask;
pub mod filterbank;
pub mod fused_eval;
pub mod gabor;
pub mod globalpool;
pub mod linear;
pub mod log_energy;
pub mod maxpool;
pub mod relu;
pub mod sigmoid_bce;
pub mod softmax_ce;

/// A host tensor. Ops borrow inputs shared and outputs exclusively, so passing the same
/// buffer as input and output of one call panics instead of silently aliasing.
#[derive(Debug)]
pub struct CpuBuf(pub RefCell<Vec<f32>>);

/// The `cpu` device. Uses rayon's global pool (size it with `RAYON_NUM_THREADS` or `--threads`).
#[derive(Debug, Default, Clone)]
pub struct CpuDevice;

impl CpuDevice {
    pub fn new() -> CpuDevice {
        CpuDevice
    }
}

/// Batch items per chunk for reductions over the batch (fixed, so results do not depend on
/// the thread count).
pub(crate) const REDUCE_CHUNK: usize = 4;

/// C (m, n) = A (m, k) B (k, n) + beta C, with arbitrary element strides (rows, columns) for
/// each matrix. Bounds are checked before the unsafe call into the `gemm` crate (runtime-detected
/// AVX2/FMA or AVX-512 kernels).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    m: usize, k: usize, n: usize,
    a: &[f32], rsa: usize, csa: usize,
    b: &[f32], rsb: usize, csb: usize,
    beta: f32,
    c: &mut [f32], rsc: usize, csc: usize,
) {
    gemm_with(gemm::Parallelism::None, m, k, n, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
}

/// `gemm` spread over the rayon pool by blocks of C (each element of C is still one dot
/// product in a fixed order, so the result does not depend on the thread count).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_parallel(
    m: usize, k: usize, n: usize,
    a: &[f32], rsa: usize, csa: usize,
    b: &[f32], rsb: usize, csb: usize,
    beta: f32,
    c: &mut [f32], rsc: usize, csc: usize,
) {
    gemm_with(gemm::Parallelism::Rayon(0), m, k, n, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
}

#[allow(clippy::too_many_arguments)]
fn gemm_with(
    par: gemm::Parallelism,
    m: usize, k: usize, n: usize,
    a: &[f32], rsa: usize, csa: usize,
    b: &[f32], rsb: usize, csb: usize,
    beta: f32,
    c: &mut [f32], rsc: usize, csc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    if k > 0 {
        assert!(last(m, k, rsa, csa) < a.len(), "gemm: A out of bounds");
        assert!(last(k, n, rsb, csb) < b.len(), "gemm: B out of bounds");
    }
    assert!(last(m, n, rsc, csc) < c.len(), "gemm: C out of bounds");
    if k == 0 {
        c_scale(m, n, beta, c, rsc, csc);
        return;
    }
    // SAFETY: every index the product touches was bounds-checked above; `c` is exclusive.
    // gemm's convention: dst = alpha dst + beta lhs rhs (dst read only when `read_dst`).
    unsafe {
        gemm::gemm(
            m, n, k,
            c.as_mut_ptr(), csc as isize, rsc as isize, beta != 0.0,
            a.as_ptr(), csa as isize, rsa as isize,
            b.as_ptr(), csb as isize, rsb as isize,
            beta, 1.0, false, false, false,
            par,
        );
    }
}

/// C = beta C (an empty product).
fn c_scale(m: usize, n: usize, beta: f32, c: &mut [f32], rsc: usize, csc: usize) {
    for i in 0..m {
        for j in 0..n {
            let v = &mut c[i * rsc + j * csc];
            *v = if beta == 0.0 { 0.0 } else { beta * *v };
        }
    }
}

/// Sums per-chunk partial results in chunk order (deterministic).
pub(crate) fn sum_partials(out: &mut [f32], partials: Vec<Vec<f32>>) {
    out.fill(0.0);
    for p in partials {
        for (o, v) in out.iter_mut().zip(p) {
            *o += v;
        }
    }
}

impl Device for CpuDevice {
    type Buf = CpuBuf;

    fn name(&self) -> String {
        format!("cpu (rayon, {} threads)", rayon::current_num_threads())
    }
    fn alloc(&self, len: usize) -> CpuBuf {
        CpuBuf(RefCell::new(vec![0.0; len]))
    }
    fn len(&self, buf: &CpuBuf) -> usize {
        buf.0.borrow().len()
    }
    fn upload(&self, dst: &CpuBuf, src: &[f32]) {
        dst.0.borrow_mut()[..src.len()].copy_from_slice(src);
    }
    fn download(&self, src: &CpuBuf) -> Vec<f32> {
        src.0.borrow().clone()
    }
    fn sync(&self) {}

    fn gabor_forward(&self, kernel: &CpuBuf, mu: &CpuBuf, sigma: &CpuBuf, f: usize, w: usize) {
        gabor::gabor_forward(&mut kernel.0.borrow_mut(), &mu.0.borrow(), &sigma.0.borrow(), f, w)
    }
    fn gabor_backward(&self, dmu: &CpuBuf, dsigma: &CpuBuf, dkernel: &CpuBuf, mu: &CpuBuf, sigma: &CpuBuf, f: usize, w: usize) {
        gabor::gabor_backward(
            &mut dmu.0.borrow_mut(), &mut dsigma.0.borrow_mut(), &dkernel.0.borrow(), &mu.0.borrow(),
            &sigma.0.borrow(), f, w,
        )
    }
    fn filterbank_forward(&self, y: &CpuBuf, x: &CpuBuf, kernel: &CpuBuf, b: usize, l: usize, k2: usize, w: usize, h: usize, t: usize) {
        filterbank::filterbank_forward(&mut y.0.borrow_mut(), &x.0.borrow(), &kernel.0.borrow(), b, l, k2, w, h, t)
    }
    fn filterbank_backward(&self, dkernel: &CpuBuf, dy: &CpuBuf, x: &CpuBuf, b: usize, l: usize, k2: usize, w: usize, h: usize, t: usize) {
        filterbank::filterbank_backward(&mut dkernel.0.borrow_mut(), &dy.0.borrow(), &x.0.borrow(), b, l, k2, w, h, t)
    }
    fn log_energy_forward(&self, out: &CpuBuf, y: &CpuBuf, b: usize, f: usize, t: usize) {
        log_energy::log_energy_forward(&mut out.0.borrow_mut(), &y.0.borrow(), b, f, t)
    }
    fn log_energy_backward(&self, dy: &CpuBuf, dout: &CpuBuf, y: &CpuBuf, b: usize, f: usize, t: usize) {
        log_energy::log_energy_backward(&mut dy.0.borrow_mut(), &dout.0.borrow(), &y.0.borrow(), b, f, t)
    }
    fn batchnorm_forward(
        &self, out: &CpuBuf, mean: &CpuBuf, rstd: &CpuBuf, running_mean: &CpuBuf, running_var: &CpuBuf, x: &CpuBuf,
        weight: &CpuBuf, bias: &CpuBuf, b: usize, c: usize, t: usize, train: bool, momentum: f32, eps: f32,
    ) {
        batchnorm::batchnorm_forward(
            &mut out.0.borrow_mut(), &mut mean.0.borrow_mut(), &mut rstd.0.borrow_mut(),
            &mut running_mean.0.borrow_mut(), &mut running_var.0.borrow_mut(), &x.0.borrow(), &weight.0.borrow(),
            &bias.0.borrow(), b, c, t, train, momentum, eps,
        )
    }
    fn batchnorm_backward(
        &self, dx: &CpuBuf, dweight: &CpuBuf, dbias: &CpuBuf, dout: &CpuBuf, x: &CpuBuf, mean: &CpuBuf, rstd: &CpuBuf,
        weight: &CpuBuf, b: usize, c: usize, t: usize,
    ) {
        batchnorm::batchnorm_backward(
            &mut dx.0.borrow_mut(), &mut dweight.0.borrow_mut(), &mut dbias.0.borrow_mut(), &dout.0.borrow(),
            &x.0.borrow(), &mean.0.borrow(), &rstd.0.borrow(), &weight.0.borrow(), b, c, t,
        )
    }
    fn filter_mask_forward(&self, out: &CpuBuf, x: &CpuBuf, mask: &CpuBuf, b: usize, f: usize, t: usize) {
        filter_mask::filter_mask_forward(&mut out.0.borrow_mut(), &x.0.borrow(), &mask.0.borrow(), b, f, t)
    }
    fn filter_mask_backward(&self, dx: &CpuBuf, dout: &CpuBuf, mask: &CpuBuf, b: usize, f: usize, t: usize) {
        filter_mask::filter_mask_backward(&mut dx.0.borrow_mut(), &dout.0.borrow(), &mask.0.borrow(), b, f, t)
    }
    fn relu_forward(&self, out: &CpuBuf, x: &CpuBuf, n: usize) {
        relu::relu_forward(&mut out.0.borrow_mut(), &x.0.borrow(), n)
    }
    fn relu_backward(&self, dx: &CpuBuf, dout: &CpuBuf, out: &CpuBuf, n: usize) {
        relu::relu_backward(&mut dx.0.borrow_mut(), &dout.0.borrow(), &out.0.borrow(), n)
    }
    fn conv1d_forward(&self, out: &CpuBuf, x: &CpuBuf, w: &CpuBuf, b: usize, ci: usize, co: usize, t: usize) {
        conv1d::conv1d_forward(&mut out.0.borrow_mut(), &x.0.borrow(), &w.0.borrow(), b, ci, co, t)
    }
    fn conv1d_backward(&self, dx: &CpuBuf, dw: &CpuBuf, dout: &CpuBuf, x: &CpuBuf, w: &CpuBuf, b: usize, ci: usize, co: usize, t: usize) {
        conv1d::conv1d_backward(
            &mut dx.0.borrow_mut(), &mut dw.0.borrow_mut(), &dout.0.borrow(), &x.0.borrow(), &w.0.borrow(), b, ci, co, t,
        )
    }
    fn maxpool_forward(&self, out: &CpuBuf, x: &CpuBuf, b: usize, c: usize, t: usize) {
        maxpool::maxpool_forward(&mut out.0.borrow_mut(), &x.0.borrow(), b, c, t)
    }
    fn maxpool_backward(&self, dx: &CpuBuf, dout: &CpuBuf, x: &CpuBuf, b: usize, c: usize, t: usize) {
        maxpool::maxpool_backward(&mut dx.0.borrow_mut(), &dout.0.borrow(), &x.0.borrow(), b, c, t)
    }
    fn globalpool_forward(&self, out: &CpuBuf, x: &CpuBuf, b: usize, c: usize, t: usize) {
        globalpool::globalpool_forward(&mut out.0.borrow_mut(), &x.0.borrow(), b, c, t)
    }
    fn globalpool_backward(&self, dx: &CpuBuf, dout: &CpuBuf, x: &CpuBuf, b: usize, c: usize, t: usize) {
        globalpool::globalpool_backward(&mut dx.0.borrow_mut(), &dout.0.borrow(), &x.0.borrow(), b, c, t)
    }
    fn dropout_forward(&self, out: &CpuBuf, x: &CpuBuf, n: usize, p: f32, seed: u32) {
        dropout::dropout_forward(&mut out.0.borrow_mut(), &x.0.borrow(), n, p, seed)
    }
    fn dropout_backward(&self, dx: &CpuBuf, dout: &CpuBuf, n: usize, p: f32, seed: u32) {
        dropout::dropout_backward(&mut dx.0.borrow_mut(), &dout.0.borrow(), n, p, seed)
    }
    fn linear_forward(&self, out: &CpuBuf, x: &CpuBuf, w: &CpuBuf, bias: &CpuBuf, b: usize, c: usize, k: usize) {
        linear::linear_forward(&mut out.0.borrow_mut(), &x.0.borrow(), &w.0.borrow(), &bias.0.borrow(), b, c, k)
    }
    fn linear_backward(&self, dx: &CpuBuf, dw: &CpuBuf, dbias: &CpuBuf, dout: &CpuBuf, x: &CpuBuf, w: &CpuBuf, b: usize, c: usize, k: usize) {
        linear::linear_backward(
            &mut dx.0.borrow_mut(), &mut dw.0.borrow_mut(), &mut dbias.0.borrow_mut(), &dout.0.borrow(), &x.0.borrow(),
            &w.0.borrow(), b, c, k,
        )
    }
    fn softmax_ce_forward_backward(&self, losses: &CpuBuf, dlogits: &CpuBuf, logits: &CpuBuf, targets: &CpuBuf, b: usize, k: usize) {
        softmax_ce::softmax_ce_forward_backward(
            &mut losses.0.borrow_mut(), &mut dlogits.0.borrow_mut(), &logits.0.borrow(), &targets.0.borrow(), b, k,
        )
    }
    fn sigmoid_bce_forward_backward(&self, losses: &CpuBuf, dlogits: &CpuBuf, logits: &CpuBuf, targets: &CpuBuf, b: usize, k: usize) {
        sigmoid_bce::sigmoid_bce_forward_backward(
            &mut losses.0.borrow_mut(), &mut dlogits.0.borrow_mut(), &logits.0.borrow(), &targets.0.borrow(), b, k,
        )
    }
    fn adamw_step(&self, param: &CpuBuf, m: &CpuBuf, v: &CpuBuf, grad: &CpuBuf, n: usize, hp: &AdamW) {
        adamw::adamw_step(&mut param.0.borrow_mut(), &mut m.0.borrow_mut(), &mut v.0.borrow_mut(), &grad.0.borrow(), n, hp)
    }
    fn fused_eval(&self, cfg: &Config, values: &BTreeMap<String, Vec<f32>>, batch: usize, len: usize) -> Option<Box<dyn FusedEval>> {
        // The model checked its tensors when it was built, so this only fails on a bug; the
        // op-by-op path then runs instead, loudly.
        match fused_eval::CpuFusedEval::new(cfg, values, batch, len, rayon::current_num_threads()) {
            Ok(f) => Some(Box::new(f)),
            Err(e) => {
                eprintln!("warning: the fused eval forward cannot be built ({e}); running eval op by op");
                None
            }
        }
    }
}
