use relay_ghl::GhlError;
use relay_ghl::auth::AuthError;

/// Why a poll did not complete. Nothing is lost either way: the cursor only moves after the
/// events of a page were published, so the next poll picks up where this one stopped.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The location's credentials are paused (until an operator resumes it).
    #[error("location paused: {0}")]
    AuthPaused(String),
    /// Credentials cannot be had now (token store or GHL's token endpoint away).
    #[error(transparent)]
    Auth(AuthError),
    /// The watch's cursor changed under us: another replica polls it (our lease was lost).
    #[error("the watch's cursor was written by another replica")]
    Conflict,
    #[error(transparent)]
    Ghl(Box<GhlError>),
    /// GHL answered something the trigger cannot read.
    #[error("unexpected GHL answer: {0}")]
    Malformed(String),
    /// NATS (publish or KV) failed.
    #[error("nats: {0}")]
    Nats(String),
    /// The lease was lost or the service is stopping.
    #[error("stopped")]
    Stopped,
}

impl From<AuthError> for PollError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Paused(reason) => PollError::AuthPaused(reason),
            other => PollError::Auth(other),
        }
    }
}

impl From<GhlError> for PollError {
    fn from(e: GhlError) -> Self {
        PollError::Ghl(Box::new(e))
    }
}

impl PollError {
    /// The `outcome` label of `relay_poller_polls_total`.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            PollError::AuthPaused(_) => "paused",
            PollError::Auth(_) => "auth_error",
            PollError::Conflict => "conflict",
            PollError::Ghl(e) if e.is_rate_limited() => "throttled",
            PollError::Ghl(_) => "ghl_error",
            PollError::Malformed(_) => "malformed",
            PollError::Nats(_) => "nats_error",
            PollError::Stopped => "stopped",
        }
    }
}
