//! The `rtweb` binary: parse the command line, bind, serve.

use std::process::ExitCode;

use rtweb::access::open_warning;
use rtweb::config::{parse_args, Command, USAGE};
use rtweb::Server;

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(config)) => *config,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("rtweb: {message}");
            return ExitCode::from(2);
        }
    };
    let server = match Server::bind(config.clone()) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("rtweb: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = server.local_addr().map_or(config.addr, |a| a);
    if let Some(warning) = open_warning(&config, addr) {
        eprintln!("{warning}");
    }
    let shared = server.shared();
    println!(
        "rtweb listening on http://{addr}/  ({} event loop(s); {})",
        config.threads,
        shared.hub().describe()
    );
    let served = server.run();
    // Drained (or failed): close the store cleanly either way.
    if let Err(e) = shared.close_store() {
        eprintln!("rtweb: closing the store: {e}");
        return ExitCode::FAILURE;
    }
    match served {
        Ok(()) => {
            eprintln!("rtweb: drained; store closed");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rtweb: {e}");
            ExitCode::FAILURE
        }
    }
}
