use clap::Parser;
use relay_common::config::{ConfigArgs, load_or_exit, process_env};
use relay_mapper::{MapperConfig, MapperServer};

/// Mapper: turns storefront events into GHL contact plans.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg: MapperConfig = load_or_exit("relay-mapper", &args.config);
    let telemetry =
        relay_common::telemetry::init(&cfg.telemetry, "relay-mapper", process_env("RUST_LOG"))?;
    let server = MapperServer::from_config(cfg, telemetry.log_control.clone()).await?;
    tracing::info!(admin = %server.admin_addr(), "mapper starting");
    server.run(relay_common::shutdown::on_signal()).await?;
    telemetry.shutdown();
    Ok(())
}
