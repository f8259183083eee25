//! `relayctl`: the operator CLI over every service's admin gRPC API.
//!
//! - [`cli`]: the command line;
//! - `client`: endpoints, the authenticated channel every API client shares, gRPC errors;
//! - `status`: `status`, `pause`, `resume` (`relay.admin.v1.Admin`, every service);
//! - `connections`, `preview`, `replay`: the mapper's `relay.mapper.v1.Mapper`;
//! - `dlq`: dead letters, through `relay.dlq.v1.DeadLetters` on a worker (`--via`, default
//!   `writer`);
//! - `locations`: `locations list|resume` and `limits`, the writer's `relay.writer.v1.Writer`
//!   (`--via`, default `writer`);
//! - [`output`]: where output goes, tables and diffs.
//!
//! Exit codes: 0 success; 1 failure (unreachable, token refused, not found, a replay that
//! stopped on an error, a dead letter that was not redriven or not there to purge, a location
//! whose credentials GHL still refuses); 2 wrong
//! usage (including `dlq purge --all` without `--yes`); 65 (`EX_DATAERR`) input a service
//! rejected, such as an invalid connections file (nothing was applied).

pub mod cli;
mod client;
mod connections;
mod dlq;
mod locations;
pub mod output;
mod preview;
mod replay;
mod status;

use clap::CommandFactory as _;

pub use cli::{Cli, Command};
pub use client::{Auth, LOCAL_SERVICES, RpcError};
pub use output::Console;

use crate::cli::ColorChoice;
use crate::client::{ConnectOptions, Mapper, Target};

/// The exit code for input that was rejected as invalid (sysexits `EX_DATAERR`).
pub const EX_DATAERR: i32 = 65;
/// The exit code for wrong usage, as clap uses.
pub const EX_USAGE: i32 = 2;

/// The arguments are inconsistent in a way clap cannot check (e.g. `--since` after `--until`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// An input file is not what it should be.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DataError(pub String);

/// What every command needs from the global flags.
pub(crate) struct Context {
    targets: Vec<Target>,
    connect: ConnectOptions,
    json: bool,
    color: ColorChoice,
}

impl Context {
    /// A client for the `mapper` service's `relay.mapper.v1.Mapper`.
    pub(crate) async fn mapper(&self) -> anyhow::Result<Mapper> {
        Mapper::connect(&self.targets, &self.connect).await
    }
}

/// Runs the command on the process's stdout and stderr; returns the exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    run_with(cli, &mut Console::stdio()).await
}

/// Runs the command, writing to `con`; returns the exit code. Errors map to theirs with
/// [`exit_code`].
pub async fn run_with(cli: Cli, con: &mut Console) -> anyhow::Result<i32> {
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "relayctl", &mut con.out);
        return Ok(0);
    }
    let ctx = Context {
        targets: client::targets(&cli.services)?,
        connect: ConnectOptions {
            token: cli.token.clone(),
            timeout: cli.timeout,
        },
        json: cli.json,
        color: cli.color,
    };
    match &cli.command {
        Command::Status => status::status(con, ctx.json, &ctx.connect, &ctx.targets).await,
        Command::Pause { service } | Command::Resume { service } => {
            let pause = matches!(cli.command, Command::Pause { .. });
            let t = client::find(&ctx.targets, service)?;
            status::pause(con, ctx.json, &ctx.connect, t, pause).await
        }
        Command::Connections(c) => connections::run(con, &ctx, c).await,
        Command::Preview(args) => preview::run(con, &ctx, args).await,
        Command::Replay(args) => replay::run(con, &ctx, args).await,
        Command::Dlq(args) => dlq::run(con, &ctx, args).await,
        Command::Locations(args) => locations::run(con, &ctx, args).await,
        Command::Limits(args) => locations::limits(con, &ctx, args).await,
        Command::Completions { .. } => Ok(0), // printed above, before any endpoint is parsed
    }
}

/// The exit code for an error [`run`] returned: 65 for rejected input, 2 for wrong usage,
/// 1 otherwise.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    for cause in e.chain() {
        if let Some(rpc) = cause.downcast_ref::<RpcError>() {
            return rpc.exit_code();
        }
        if cause.is::<DataError>() {
            return EX_DATAERR;
        }
        if cause.is::<UsageError>() {
            return EX_USAGE;
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(&anyhow::anyhow!("boom")), 1);
        assert_eq!(
            exit_code(&DataError("e.json: not valid JSON".into()).into()),
            65
        );
        assert_eq!(
            exit_code(&UsageError("--since after --until".into()).into()),
            2
        );
        let rejected = RpcError::InvalidArgument {
            service: "mapper".into(),
            message: "bad".into(),
        };
        assert_eq!(
            exit_code(&anyhow::Error::from(rejected).context("preview")),
            65
        );
        let refused = RpcError::Unauthenticated {
            service: "mapper".into(),
            message: "bad token".into(),
        };
        assert_eq!(exit_code(&refused.into()), 1);
    }
}
