//! `meshwork-xds --config mesh.yaml`: serve the mesh a file describes over xDS v3 ADS.

fn main() {
    eprintln!("meshwork-xds: not built yet");
    std::process::exit(2);
}
