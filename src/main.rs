//! The `wavnet` binary: parse, run, print `Error: ...` and exit with a code.
use clap::Parser;

fn main() {
    let cli = wavnet::cli::Cli::parse();
    match wavnet::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::exit(2);
        }
    }
}
