//! The whole `main` of an `ingest-<source>` binary: flags, configuration, telemetry, serve until
//! SIGTERM/Ctrl-C.

use clap::Parser;
use relay_common::config::{ConfigArgs, load_or_exit, process_env};

use crate::{IngestServer, Storefront, StorefrontConfig};

#[derive(Parser)]
#[command(
    version,
    about = "Relay webhook ingest: verifies deliveries and publishes them to JetStream"
)]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
}

/// Runs the ingest service for `storefront` under the name `service` (`relay-ingest-bmc`).
pub async fn main<S: Storefront>(service: &'static str, storefront: S) -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg = load_or_exit::<StorefrontConfig<S>>(service, &args.config).0;
    let telemetry =
        relay_common::telemetry::init(&cfg.telemetry, service, process_env("RUST_LOG"))?;
    let server = IngestServer::from_config(cfg, storefront, telemetry.log_control.clone()).await?;
    tracing::info!(listen = %server.local_addr(), admin = %server.admin_addr(), "{service} starting");
    server.run(relay_common::shutdown::on_signal()).await?;
    telemetry.shutdown();
    Ok(())
}
