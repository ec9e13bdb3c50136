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
            eprintln!("rtweb: cannot listen on {}: {e}", config.addr);
            return ExitCode::FAILURE;
        }
    };
    let addr = server.local_addr().map_or(config.addr, |a| a);
    if let Some(warning) = open_warning(&config, addr) {
        eprintln!("{warning}");
    }
    println!(
        "rtweb listening on http://{addr}/  ({} event loop(s))",
        config.threads
    );
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rtweb: {e}");
            ExitCode::FAILURE
        }
    }
}
