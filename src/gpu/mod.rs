//! The `gpu` device: every op as a WGSL compute shader run through wgpu.
