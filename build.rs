//! Build script: the built-in model (`models/wavnet-everyday.safetensors`, embedded by
//! `src/builtin.rs`) must exist, else the build stops here with what to do.
use std::path::Path;

fn main() {
    const MODEL: &str = "models/wavnet-everyday.safetensors";
    println!("cargo::rerun-if-changed={MODEL}");
    let path = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join(MODEL);
    if !path.is_file() {
        eprintln!(
            "error: {MODEL} is missing: wavnet embeds it as its built-in model (`wavnet tag` without --model). \
             It is committed in the repository: check out the whole tree (`git checkout -- {MODEL}`, or `git lfs pull` \
             if it is a pointer), or train one with `wavnet train --recipe recipes/everyday.toml --out runs/everyday` \
             and copy runs/everyday/best.safetensors to {MODEL}. To build before it is committed, any model file \
             written by `wavnet train` (OUT/best.safetensors) placed there will do as a stand-in (do not commit it)."
        );
        std::process::exit(1);
    }
}
