//! The `wavnet` binary: parse, run, print `Error: ...` and exit with a code.

fn main() {
    // Before any thread starts: a private XDG_RUNTIME_DIR keeps Mesa's window-system warning
    // off the terminal when GPU adapters are probed.
    wavnet::gpu::private_runtime_dir();
    // `train --recipe FILE` becomes the recipe's flags followed by the typed ones.
    let args = wavnet::recipe::expand_args(std::env::args_os().collect()).unwrap_or_else(|e| {
        eprintln!("Error: {e}");
        std::process::exit(2)
    });
    let cli = wavnet::cli::Cli::parse_args(args).unwrap_or_else(|e| e.exit());
    match wavnet::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        // A closed pipe (`wavnet tag ... | head`) ends the output quietly.
        Err(e) if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) => {
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::exit(2);
        }
    }
}
