//! Test support for ChillFi's crates. Only ever a dev-dependency.
//! Each module is owned by the crate whose tests introduced it.

pub mod media;
pub mod s3;

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}
