//! `meshtop`: the operator's terminal UI for Meshwork admin endpoints.
//!
//! The views need the admin endpoint, which has not landed yet; until then the binary says so and
//! exits with a non-zero status rather than pretending to work.

fn main() {
    eprintln!(
        "meshtop: the terminal UI is not available in this build yet; it needs the admin endpoint.\n\
         Run the dev control plane instead: cargo run -p meshwork-examples --bin meshwork-xds -- --config examples/mesh/demo.yaml"
    );
    std::process::exit(2);
}
