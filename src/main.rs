//! The `wavnet` binary: parse, run, print `Error: ...` and exit with a code.
use clap::Parser;

fn main() {
    let cli = wavnet::cli::Cli::parse();
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
