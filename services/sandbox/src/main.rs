//! `relay-sandbox`: parse args, load config, init telemetry, serve until SIGTERM/SIGINT.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use relay_common::config::{ConfigArgs, load_or_exit, process_env};
use relay_sandbox::{Sandbox, SandboxConfig};

/// A HighLevel (GHL) API v2 simulator: the local default target and the test oracle.
#[derive(Debug, Parser)]
#[command(name = "relay-sandbox", version, about)]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// Keep the state in this JSON file across restarts (the `data_file` setting): read at
    /// start, written after changes and at shutdown.
    #[arg(long, value_name = "PATH")]
    data_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut cfg: SandboxConfig = load_or_exit("relay-sandbox", &args.config);
    if let Some(path) = args.data_file {
        cfg.data_file = Some(path);
    }
    let telemetry =
        relay_common::telemetry::init(&cfg.telemetry, "relay-sandbox", process_env("RUST_LOG"))
            .context("cannot initialise telemetry")?;

    let listen = cfg.listen;
    let sandbox = Sandbox::bind(cfg)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!("sandbox listening on http://{}", sandbox.local_addr());

    let result = sandbox.run(relay_common::shutdown::on_signal()).await;
    // The tracer provider's shutdown blocks while it flushes.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    result.context("sandbox server failed")
}
