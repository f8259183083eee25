use clap::Parser;
use relay_common::config::{ConfigArgs, load_or_exit, process_env};
use relay_writer::{WriterConfig, WriterServer};

/// Writer: applies contact plans to the GHL API inside each location's rate limits.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg: WriterConfig = load_or_exit("relay-writer", &args.config);
    let telemetry =
        relay_common::telemetry::init(&cfg.telemetry, "relay-writer", process_env("RUST_LOG"))?;
    let server = WriterServer::from_config(cfg, telemetry.log_control.clone()).await?;
    tracing::info!(admin = %server.admin_addr(), "writer starting");
    server.run(relay_common::shutdown::on_signal()).await?;
    telemetry.shutdown();
    Ok(())
}
