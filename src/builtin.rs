//! The built-in model: `models/wavnet-everyday.safetensors` (everyday sounds; see
//! `models/README.md`) embedded in the binary, so `wavnet tag DIR` works with no `--model`.
//! Every command that takes a model file takes the name `default` for it (`--model default`,
//! `train --init default`); a file that happens to be called `default` is `./default`.
use std::path::Path;

/// The name that stands for the built-in model wherever a model file is expected.
pub const NAME: &str = "default";

/// Where the embedded file lives in the source tree (its name in messages).
pub const SOURCE: &str = "models/wavnet-everyday.safetensors";

/// The model file's bytes (safetensors, as `wavnet train` writes them). `build.rs` stops the
/// build with a message when the file is missing.
pub static BYTES: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/wavnet-everyday.safetensors"));

/// Whether `path` names the built-in model (exactly `default`).
pub fn is_builtin(path: &Path) -> bool {
    path.as_os_str() == NAME
}

/// How a model is named in outputs and messages: the path, or `default (built-in
/// wavnet-everyday)` for the built-in model.
pub fn display(path: &Path) -> String {
    if is_builtin(path) {
        "default (built-in wavnet-everyday)".to_string()
    } else {
        path.display().to_string()
    }
}
