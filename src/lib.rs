//! wavnet: audio tagging from the raw waveform. A learnable Gabor filterbank and a 1-D CNN,
//! forward and backward, on two devices: WGSL compute shaders through `wgpu` (`gpu`) and a
//! plain-Rust rayon twin (`cpu`) that is the reference for every kernel.

// Ops take outputs, inputs and sizes explicitly (llm.c's convention), so kernels have long
// argument lists on purpose.
#![allow(clippy::too_many_arguments)]
pub mod backend;
pub mod bench;
pub mod builtin;
pub mod cli;
pub mod cpu;
pub mod data;
pub mod device;
pub mod gpu;
pub mod html_report;
pub mod infer;
pub mod io;
pub mod metrics;
pub mod model;
pub mod recipe;
pub mod report;
pub mod serve;
pub mod specaug;
pub mod tag;
pub mod train;
