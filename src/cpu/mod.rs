//! The `cpu` device: every op as plain Rust, parallel over the batch with rayon.
