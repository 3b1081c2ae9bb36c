// The web UI in web/dist is embedded at compile time (see src/web.rs). rust-embed only tracks the
// files it found, so a UI built after the server (or a new file in it) would not re-embed without
// telling cargo to watch the whole folder.
fn main() {
    println!("cargo:rerun-if-changed=../../web/dist");
    println!("cargo:rerun-if-changed=build.rs");
}
