//! Keeping Mesa's window-system noise off the terminal.
//!
//! When the Vulkan or GL driver loads, Mesa's Wayland code prints
//! `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` (2–4 times) if that
//! variable is unset, as on a headless machine or in a container, although wavnet never opens a
//! window. Probing adapters for `--device auto` would print it even when the `cpu` device is
//! then picked. [`private_runtime_dir`] gives the process a private runtime directory instead.

use std::path::PathBuf;

/// When `XDG_RUNTIME_DIR` is unset or empty, creates `<temp>/wavnet-runtime-<uid>` (mode 0700,
/// owned by this user) and sets `XDG_RUNTIME_DIR` to it, so drivers find a valid one. Returns the
/// folder it set, or `None` when the variable was already set (or on a system without Mesa's
/// window-system code). Call it first thing in `main`, before any other thread starts: it
/// changes the process environment.
pub fn private_runtime_dir() -> Option<PathBuf> {
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        if std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|v| !v.is_empty()) {
            return None;
        }
        let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok()?;
        let dir = std::env::temp_dir().join(format!("wavnet-runtime-{uid}"));
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        // Only a real folder of ours that nobody else can write: never follow a planted symlink.
        let m = std::fs::symlink_metadata(&dir).ok()?;
        if !m.is_dir() || m.uid() != uid || m.permissions().mode() & 0o077 != 0 {
            return None;
        }
        std::env::set_var("XDG_RUNTIME_DIR", &dir);
        Some(dir)
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    {
        None
    }
}
