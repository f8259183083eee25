use clap::Parser;
use relay_common::config::{ConfigArgs, load_or_exit, process_env};
use relay_ingest::IngestServer;
use relay_ingest_gumroad::{Gumroad, GumroadConfig};

/// Gumroad webhook ingest: verifies deliveries and publishes them to JetStream.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let GumroadConfig(cfg) = load_or_exit("relay-ingest-gumroad", &args.config);
    let telemetry = relay_common::telemetry::init(
        &cfg.telemetry,
        "relay-ingest-gumroad",
        process_env("RUST_LOG"),
    )?;
    let server = IngestServer::from_config(cfg, Gumroad, telemetry.log_control.clone()).await?;
    tracing::info!(listen = %server.local_addr(), admin = %server.admin_addr(), "ingest-gumroad starting");
    server.run(relay_common::shutdown::on_signal()).await?;
    telemetry.shutdown();
    Ok(())
}
