//! `relay.writer.v1.Writer` on the writer's admin port: the locations this replica drives, their
//! credentials and request budgets, and resuming a location its credentials paused.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use relay_contracts::nats::{COMMAND_PARTITIONS, partition_of};
use relay_contracts::writer_admin::writer_server::{Writer, WriterServer};
use relay_contracts::writer_admin::{
    AuthKind as ApiAuthKind, Budget as ApiBudget, ListLocationsRequest, ListLocationsResponse,
    LocationStatus, ResumeLocationRequest, ResumeLocationResponse,
};
use relay_contracts::{Namespace, Token};
use relay_ghl::GhlClient;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tonic::{Request, Response, Status};
use tracing::Instrument as _;

use crate::apply::{Location, Processor};
use crate::auth::{AuthError, AuthKind, LocationAuth};
use crate::ratelimit::BudgetSnapshot;

/// How long a private integration token check waits for the location's budget before giving
/// up on checking (a held location may wait until midnight).
const CHECK_BUDGET_WAIT: Duration = Duration::from_secs(2);

/// The gRPC service, ready for [`relay_common::worker::Worker::add_admin_service`] (which puts
/// it behind the admin token).
pub(crate) fn server(processor: Arc<Processor>, ghl: GhlClient) -> WriterServer<WriterAdmin> {
    WriterServer::new(WriterAdmin { processor, ghl })
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AdminError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("the writer is not configured for location {0}")]
    NotFound(String),
    #[error("location {location} is still paused: {reason}")]
    StillPaused { location: Token, reason: String },
    #[error("{0}")]
    Unavailable(String),
}

impl AdminError {
    fn auth(location: &Token, e: AuthError) -> Self {
        match e {
            AuthError::NotConfigured(_) => AdminError::NotFound(location.to_string()),
            AuthError::Paused(reason) => AdminError::StillPaused {
                location: location.clone(),
                reason,
            },
            e @ AuthError::Unavailable(_) => AdminError::Unavailable(e.to_string()),
        }
    }
}

impl From<AdminError> for Status {
    fn from(e: AdminError) -> Self {
        match &e {
            AdminError::InvalidRequest(_) => Status::invalid_argument(e.to_string()),
            AdminError::NotFound(_) => Status::not_found(e.to_string()),
            AdminError::StillPaused { .. } => Status::failed_precondition(e.to_string()),
            AdminError::Unavailable(_) => Status::unavailable(e.to_string()),
        }
    }
}

/// `relay.writer.v1.Writer` over this replica's processor (credentials, budgets, leases).
pub(crate) struct WriterAdmin {
    processor: Arc<Processor>,
    /// For checking a private integration token on resume.
    ghl: GhlClient,
}

impl WriterAdmin {
    fn list(&self, req: &ListLocationsRequest) -> Result<ListLocationsResponse, AdminError> {
        let only = if req.location_id.is_empty() {
            None
        } else {
            let id = self.configured(&req.location_id)?.0;
            tracing::Span::current().record("location", id.as_str());
            Some(id)
        };
        let (replica, held) = match self.processor.leases() {
            Some(leases) => {
                let snap = leases.snapshot();
                (snap.holder, snap.held)
            }
            None => (String::new(), Vec::new()),
        };
        let mut held_partitions: Vec<u32> = held
            .iter()
            .filter_map(|item| item.strip_prefix('p')?.parse().ok())
            .collect();
        held_partitions.sort_unstable();
        let mut auth: HashMap<Token, LocationAuth> = self
            .processor
            .auth
            .status()
            .into_iter()
            .map(|a| (a.location.clone(), a))
            .collect();
        let mut configured: Vec<_> = self
            .processor
            .locations
            .iter()
            .filter(|(id, _)| only.as_ref().is_none_or(|o| o == *id))
            .collect();
        configured.sort_by_key(|(id, _)| *id);
        let locations = configured
            .into_iter()
            .map(|(id, location)| {
                let partition = partition_of(id, COMMAND_PARTITIONS);
                let here = held.contains(&Namespace::partition_item(partition));
                let budget = location.budget.snapshot();
                status(id, partition, here, auth.remove(id), &budget)
            })
            .collect();
        Ok(ListLocationsResponse {
            locations,
            replica,
            held_partitions,
            partitions: u32::from(COMMAND_PARTITIONS),
        })
    }

    async fn resume(
        &self,
        req: &ResumeLocationRequest,
    ) -> Result<ResumeLocationResponse, AdminError> {
        if req.location_id.is_empty() {
            return Err(AdminError::InvalidRequest("location_id is required".into()));
        }
        let (id, location) = self.configured(&req.location_id)?;
        tracing::Span::current().record("location", id.as_str());
        let auth = &self.processor.auth;
        let Some(reason) = auth.is_paused(&id) else {
            tracing::info!("location not paused; nothing to resume");
            return Ok(ResumeLocationResponse {
                resumed: false,
                paused_reason: String::new(),
                verified: false,
                detail: "the location is not paused".into(),
            });
        };
        let kind = auth
            .status()
            .into_iter()
            .find(|a| a.location == id)
            .map(|a| a.kind)
            .ok_or_else(|| AdminError::NotFound(id.to_string()))?;
        tracing::info!(reason = %reason, auth = kind.as_str(), "operator resumes the location");
        auth.resume(&id)
            .await
            .map_err(|e| AdminError::auth(&id, e))?;
        let (verified, detail) = match kind {
            AuthKind::OAuth => (
                true,
                "GHL issued a new access token (or a newer stored one was taken)".to_owned(),
            ),
            AuthKind::Pit => self.check_pit(&id, &location).await?,
        };
        tracing::info!(verified, detail = %detail, "location resumed");
        Ok(ResumeLocationResponse {
            resumed: true,
            paused_reason: reason,
            verified,
            detail,
        })
    }

    /// A private integration token has nothing to refresh: one cheap request
    /// (`GET /locations/{id}`) tells whether GHL takes it now. A 401 pauses the location again
    /// (as any request of its plans would); an answer that says nothing about the token leaves
    /// it resumed, unchecked.
    async fn check_pit(
        &self,
        id: &Token,
        location: &Location,
    ) -> Result<(bool, String), AdminError> {
        let auth = &self.processor.auth;
        let token = auth.token(id).await.map_err(|e| AdminError::auth(id, e))?;
        if tokio::time::timeout(CHECK_BUDGET_WAIT, location.budget.acquire())
            .await
            .is_err()
        {
            let why = "not checked: the location's request budget is held; its next plan tells";
            tracing::info!("{why}");
            return Ok((false, why.into()));
        }
        match self.ghl.get_location(&token, id.as_str()).await {
            Ok(resp) => {
                location.budget.observe(&resp.rate_limit);
                Ok((true, "GHL accepted the private integration token".into()))
            }
            Err(e) => {
                if let Some(info) = e.rate_limit() {
                    location.budget.observe(&info);
                }
                if e.is_rate_limited() {
                    location.budget.throttled(e.retry_after());
                }
                if e.is_unauthorized() {
                    return match auth.rejected(id, &token).await {
                        Err(AuthError::Paused(reason)) => Err(AdminError::StillPaused {
                            location: id.clone(),
                            reason: format!("{reason} ({e})"),
                        }),
                        Err(other) => Err(AdminError::auth(id, other)),
                        // Not the configured token (it cannot change at runtime): unknown.
                        Ok(_) => Ok((false, format!("not checked: {e}"))),
                    };
                }
                tracing::warn!(error.message = %e, "cannot check the private integration token");
                Ok((false, format!("not checked: {e}; its next plan tells")))
            }
        }
    }

    /// The configured location `raw` names.
    fn configured(&self, raw: &str) -> Result<(Token, Arc<Location>), AdminError> {
        let id = Token::parse(raw)
            .map_err(|e| AdminError::InvalidRequest(format!("location_id {raw:?}: {e}")))?;
        match self.processor.locations.get(&id) {
            Some(l) => Ok((id, l.clone())),
            None => Err(AdminError::NotFound(id.to_string())),
        }
    }
}

fn status(
    id: &Token,
    partition: u16,
    here: bool,
    auth: Option<LocationAuth>,
    b: &BudgetSnapshot,
) -> LocationStatus {
    let time =
        |t: Option<OffsetDateTime>| t.and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default();
    let auth_kind = match auth.as_ref().map(|a| a.kind) {
        Some(AuthKind::Pit) => ApiAuthKind::Pit,
        Some(AuthKind::OAuth) => ApiAuthKind::Oauth,
        None => ApiAuthKind::Unspecified,
    };
    let auth = auth.as_ref();
    LocationStatus {
        location_id: id.to_string(),
        partition: u32::from(partition),
        here,
        auth_kind: auth_kind.into(),
        paused_reason: auth.and_then(|a| a.paused.clone()).unwrap_or_default(),
        token_expires_at: time(auth.and_then(|a| a.expires_at)),
        token_refreshed_at: time(auth.and_then(|a| a.refreshed_at)),
        token_refreshed_by: auth
            .and_then(|a| a.refreshed_by.clone())
            .unwrap_or_default(),
        budget: Some(ApiBudget {
            window_ms: millis(b.window),
            configured_window_limit: b.configured_window_limit,
            window_limit: b.window_limit,
            effective_window_limit: b.effective_window_limit,
            configured_daily_limit: b.configured_daily_limit,
            daily_limit: b.daily_limit,
            hold_reason: b
                .hold_reason
                .map(|r| r.as_str().to_owned())
                .unwrap_or_default(),
            hold_detail: b.hold_reason.map(|r| r.to_string()).unwrap_or_default(),
            hold_remaining_ms: b.held_for.map(millis).unwrap_or(0),
            throttled_total: b.throttled_total,
            admitted_total: b.admitted_total,
        }),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[tonic::async_trait]
impl Writer for WriterAdmin {
    async fn list_locations(
        &self,
        req: Request<ListLocationsRequest>,
    ) -> Result<Response<ListLocationsResponse>, Status> {
        let span = rpc_span("ListLocations", &req);
        let req = req.into_inner();
        answer(async { self.list(&req) }, span).await
    }

    async fn resume_location(
        &self,
        req: Request<ResumeLocationRequest>,
    ) -> Result<Response<ResumeLocationResponse>, Status> {
        let span = rpc_span("ResumeLocation", &req);
        let req = req.into_inner();
        answer(self.resume(&req), span).await
    }
}

/// A server span for one call, child of the caller's trace context when it sent one.
fn rpc_span<T>(method: &'static str, req: &Request<T>) -> tracing::Span {
    let span = tracing::info_span!(
        "writer.admin",
        otel.name = %format!("writer.admin.{method}"),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = "relay.writer.v1.Writer",
        rpc.method = method,
        location = tracing::field::Empty,
    );
    relay_common::propagation::set_parent_from_http(&span, &req.metadata().clone().into_headers());
    span
}

async fn answer<T>(
    work: impl Future<Output = Result<T, AdminError>>,
    span: tracing::Span,
) -> Result<Response<T>, Status> {
    let result = work.instrument(span.clone()).await;
    if let Err(e) = &result {
        let _g = span.enter();
        match e {
            AdminError::InvalidRequest(_) | AdminError::NotFound(_) => {
                tracing::info!(error.message = %e, "writer admin request refused");
            }
            AdminError::StillPaused { .. } | AdminError::Unavailable(_) => {
                tracing::warn!(error.cause_chain = ?e, error.message = %e, "location not resumed");
            }
        }
    }
    result.map(Response::new).map_err(Status::from)
}
