use clap::Parser;
use relay_common::config::{ConfigArgs, load_or_exit, process_env};
use relay_poller::{PollerConfig, PollerServer};

/// Poller: turns GHL contact changes (the Contacts polling triggers) into TRIGGERS events.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg: PollerConfig = load_or_exit("relay-poller", &args.config);
    let telemetry =
        relay_common::telemetry::init(&cfg.telemetry, "relay-poller", process_env("RUST_LOG"))?;
    let server = PollerServer::from_config(cfg, telemetry.log_control.clone()).await?;
    tracing::info!(admin = %server.admin_addr(), "poller starting");
    server.run(relay_common::shutdown::on_signal()).await?;
    telemetry.shutdown();
    Ok(())
}
