use std::path::PathBuf;

#[allow(clippy::disallowed_methods)] // build scripts read cargo's environment
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        // Clients bring their own channel; keeps tonic's transport out of this crate.
        .build_transport(false)
        .file_descriptor_set_path(out.join("relay_descriptor.bin"))
        .compile_protos(
            &[
                "../../proto/relay/admin/v1/admin.proto",
                "../../proto/relay/mapper/v1/mapper.proto",
                "../../proto/relay/dlq/v1/dlq.proto",
                "../../proto/relay/writer/v1/writer.proto",
            ],
            &["../../proto"],
        )?;
    println!("cargo:rerun-if-changed=../../proto");
    Ok(())
}
