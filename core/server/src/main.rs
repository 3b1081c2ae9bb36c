//! `chillfi`: the server and its administration commands.
//!
//! Layers (no module imports one that imports it back): transports (`socket/`, `http/`,
//! `subsonic/`) on top
//! of services (`service/`) on top of stores (`store/`); live changes travel up through the bus
//! (`bus.rs`). `app.rs` wires them, `serve.rs` runs them, `cli.rs` is the command line.

mod app;
mod bus;
mod cli;
mod config;
mod control;
mod error;
mod http;
mod logging;
mod metrics;
mod serve;
mod service;
mod socket;
mod store;
mod subsonic;

fn main() -> std::process::ExitCode {
    cli::main()
}
