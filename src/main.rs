//! The `nonstop` binary: parse the command line and dispatch (see `cli.rs`).

use clap::Parser;

fn main() -> std::process::ExitCode {
    match nonstop::cli::run(nonstop::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nonstop: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
