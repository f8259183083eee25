//! Reaching a service's admin port: endpoints, one authenticated channel shared by every API
//! client (Admin, Mapper), and what a gRPC error means to an operator.

use std::time::Duration;

use relay_contracts::admin::admin_client::AdminClient;
use relay_contracts::mapper_admin::mapper_client::MapperClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// The services of a local stack and their admin ports (deploy/local conventions).
pub const LOCAL_SERVICES: &[(&str, &str)] = &[
    ("ingest-gumroad", "http://127.0.0.1:9081"),
    ("ingest-thrivecart", "http://127.0.0.1:9082"),
    ("ingest-digistore24", "http://127.0.0.1:9083"),
    ("ingest-shift4shop", "http://127.0.0.1:9084"),
    ("ingest-bmc", "http://127.0.0.1:9085"),
    ("mapper", "http://127.0.0.1:9101"),
    ("writer", "http://127.0.0.1:9102"),
];

/// The service that serves `relay.mapper.v1.Mapper`.
pub(crate) const MAPPER: &str = "mapper";

/// A channel to one admin port that sends the bearer token on every call.
pub(crate) type AuthChannel = InterceptedService<Channel, Auth>;

/// One admin endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) url: String,
}

/// The endpoints from `--service NAME=URL`, or the local stack's when none is given.
pub(crate) fn targets(services: &[String]) -> anyhow::Result<Vec<Target>> {
    if services.is_empty() {
        return Ok(LOCAL_SERVICES
            .iter()
            .map(|(n, u)| Target {
                name: (*n).into(),
                url: (*u).into(),
            })
            .collect());
    }
    services
        .iter()
        .map(|s| {
            let (name, url) = s
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--service {s:?}: expected NAME=URL"))?;
            Ok(Target {
                name: name.to_owned(),
                url: url.to_owned(),
            })
        })
        .collect()
}

/// The endpoint named `name`.
pub(crate) fn find<'a>(targets: &'a [Target], name: &str) -> anyhow::Result<&'a Target> {
    targets.iter().find(|t| t.name == name).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown service {name:?} (known: {}); pass --service {name}=URL",
            targets
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// How to reach admin ports.
#[derive(Clone, Debug)]
pub(crate) struct ConnectOptions {
    pub(crate) token: Option<String>,
    /// Connect timeout, and the time a call may take to get its response (not a stream's end).
    pub(crate) timeout: Duration,
}

/// Connects to `t` and attaches the bearer token.
pub(crate) async fn connect(t: &Target, opts: &ConnectOptions) -> anyhow::Result<AuthChannel> {
    let endpoint = Endpoint::from_shared(t.url.clone())
        .map_err(|e| anyhow::anyhow!("{}: invalid URL {:?}: {e}", t.name, t.url))?
        .connect_timeout(opts.timeout)
        .timeout(opts.timeout);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| RpcError::Unreachable {
            service: t.name.clone(),
            url: t.url.clone(),
            detail: error_chain(&e),
        })?;
    let token = opts.token.as_deref().ok_or(RpcError::NoToken)?;
    let value: MetadataValue<Ascii> = format!("Bearer {token}").parse().map_err(|_| {
        anyhow::anyhow!("the admin token contains characters not allowed in a header")
    })?;
    Ok(InterceptedService::new(channel, Auth(value)))
}

pub(crate) async fn admin(
    t: &Target,
    opts: &ConnectOptions,
) -> anyhow::Result<AdminClient<AuthChannel>> {
    Ok(AdminClient::new(connect(t, opts).await?))
}

/// The gRPC service the mapper's admin port serves beside Admin.
pub(crate) const MAPPER_API: &str = "relay.mapper.v1.Mapper";

/// A connected `relay.mapper.v1.Mapper` client, and where it points (for error messages).
pub(crate) struct Mapper {
    pub(crate) client: MapperClient<AuthChannel>,
    target: Target,
    timeout: Duration,
}

impl Mapper {
    /// Connects to the `mapper` endpoint of `targets`.
    pub(crate) async fn connect(targets: &[Target], opts: &ConnectOptions) -> anyhow::Result<Self> {
        let target = find(targets, MAPPER)?.clone();
        let client = MapperClient::new(connect(&target, opts).await?);
        Ok(Self {
            client,
            target,
            timeout: opts.timeout,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.target.name
    }

    /// What a failed call means, in an operator's words.
    pub(crate) fn explain(&self, s: &tonic::Status) -> anyhow::Error {
        RpcError::from_status(&self.target, MAPPER_API, self.timeout, s).into()
    }
}

/// Sends `authorization: Bearer <token>`.
#[derive(Clone)]
pub struct Auth(MetadataValue<Ascii>);

impl tonic::service::Interceptor for Auth {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

/// Why a call to an admin API failed, in an operator's words.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("{service}: the request was rejected: {message}")]
    InvalidArgument { service: String, message: String },
    #[error("no admin token: pass --token or set RELAY_ADMIN_TOKEN")]
    NoToken,
    #[error("{service}: not found: {message}")]
    NotFound { service: String, message: String },
    #[error("{service}: {message} ({code:?})")]
    Other {
        service: String,
        code: tonic::Code,
        message: String,
    },
    #[error("{service}: timed out after {timeout:?} (raise --timeout)")]
    TimedOut { service: String, timeout: Duration },
    #[error("{service}: the admin token was refused ({message})")]
    Unauthenticated { service: String, message: String },
    #[error("{service} at {url} does not serve {api} (is it an older version?)")]
    Unimplemented {
        service: String,
        url: String,
        api: &'static str,
    },
    #[error("{service} is unreachable at {url}: {detail}")]
    Unreachable {
        service: String,
        url: String,
        detail: String,
    },
}

impl RpcError {
    /// What the call's failure means, from its status. `api` names the gRPC service called.
    pub(crate) fn from_status(
        t: &Target,
        api: &'static str,
        timeout: Duration,
        s: &tonic::Status,
    ) -> Self {
        let service = t.name.clone();
        let message = s.message().to_owned();
        match s.code() {
            tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => {
                RpcError::InvalidArgument { service, message }
            }
            tonic::Code::NotFound => RpcError::NotFound { service, message },
            tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => {
                RpcError::Unauthenticated { service, message }
            }
            tonic::Code::Unavailable => RpcError::Unreachable {
                service,
                url: t.url.clone(),
                detail: if message.is_empty() {
                    "unavailable".into()
                } else {
                    message
                },
            },
            tonic::Code::Unimplemented => RpcError::Unimplemented {
                service,
                url: t.url.clone(),
                api,
            },
            // tonic's client-side timeout surfaces as `Cancelled: Timeout expired`.
            tonic::Code::DeadlineExceeded => RpcError::TimedOut { service, timeout },
            tonic::Code::Cancelled if message.contains("Timeout expired") => {
                RpcError::TimedOut { service, timeout }
            }
            code => RpcError::Other {
                service,
                code,
                message,
            },
        }
    }

    /// The process exit code for this failure: the server rejecting the input is a data error
    /// (65, EX_DATAERR); everything else is 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            RpcError::InvalidArgument { .. } => crate::EX_DATAERR,
            _ => 1,
        }
    }
}

/// `e: cause: cause`, since transport errors hide the useful part (`Connection refused`) in
/// their sources.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            name: "mapper".into(),
            url: "http://127.0.0.1:9101".into(),
        }
    }

    fn explain(s: tonic::Status) -> RpcError {
        RpcError::from_status(&target(), MAPPER_API, Duration::from_secs(3), &s)
    }

    #[test]
    fn local_defaults_and_service_flags() {
        let local = targets(&[]).unwrap();
        assert_eq!(find(&local, MAPPER).unwrap().url, "http://127.0.0.1:9101");

        let given = targets(&["mapper=http://10.0.0.1:9101".into()]).unwrap();
        assert_eq!(
            given,
            [Target {
                name: "mapper".into(),
                url: "http://10.0.0.1:9101".into()
            }]
        );
        let err = find(&given, "writer").unwrap_err().to_string();
        assert!(
            err.contains("unknown service \"writer\" (known: mapper)"),
            "{err}"
        );
        assert!(targets(&["mapper".into()]).is_err());
    }

    #[test]
    fn statuses_read_as_operator_messages() {
        let e = explain(tonic::Status::unauthenticated("bad token"));
        assert_eq!(
            e.to_string(),
            "mapper: the admin token was refused (bad token)"
        );
        assert_eq!(e.exit_code(), 1);

        let e = explain(tonic::Status::invalid_argument("event: missing field `v`"));
        assert_eq!(
            e.to_string(),
            "mapper: the request was rejected: event: missing field `v`"
        );
        assert_eq!(e.exit_code(), 65);

        let e = explain(tonic::Status::not_found("no connection gumroad.x"));
        assert_eq!(e.to_string(), "mapper: not found: no connection gumroad.x");
        assert_eq!(e.exit_code(), 1);

        let e = explain(tonic::Status::unavailable("connection refused"));
        assert_eq!(
            e.to_string(),
            "mapper is unreachable at http://127.0.0.1:9101: connection refused"
        );

        let e = explain(tonic::Status::unimplemented(""));
        assert_eq!(
            e.to_string(),
            "mapper at http://127.0.0.1:9101 does not serve relay.mapper.v1.Mapper (is it an older version?)"
        );

        let e = explain(tonic::Status::cancelled("Timeout expired"));
        assert_eq!(
            e.to_string(),
            "mapper: timed out after 3s (raise --timeout)"
        );

        let e = explain(tonic::Status::internal("kv: boom"));
        assert_eq!(e.to_string(), "mapper: kv: boom (Internal)");
    }
}
