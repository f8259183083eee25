use clap::Parser;
use relay_common::config::{ConfigArgs, load_or_exit, process_env};
use relay_ingest::IngestServer;
use relay_ingest_shift4shop::{Shift4shop, Shift4shopConfig};

/// Shift4shop webhook ingest: verifies deliveries and publishes them to JetStream.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let Shift4shopConfig(cfg) = load_or_exit("relay-ingest-shift4shop", &args.config);
    let telemetry = relay_common::telemetry::init(
        &cfg.telemetry,
        "relay-ingest-shift4shop",
        process_env("RUST_LOG"),
    )?;
    let server = IngestServer::from_config(cfg, Shift4shop, telemetry.log_control.clone()).await?;
    tracing::info!(listen = %server.local_addr(), admin = %server.admin_addr(), "ingest-shift4shop starting");
    server.run(relay_common::shutdown::on_signal()).await?;
    telemetry.shutdown();
    Ok(())
}
