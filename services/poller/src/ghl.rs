//! Every GHL request of the poller: out of the location's budget (shared with the writer by
//! `share`), with the location's credentials (the writer's token store and refresh lock).

use std::future::Future;

use relay_contracts::Token;
use relay_ghl::auth::Auth;
use relay_ghl::budget::Budgets;
use relay_ghl::{GhlClient, GhlError, Response};
use secrecy::SecretString;

use crate::error::PollError;

pub(crate) struct Ghl {
    pub(crate) client: GhlClient,
    pub(crate) auth: Auth,
    pub(crate) budgets: Budgets,
}

impl Ghl {
    /// Makes one request for `location` with `f(client, token)`: waits for the budget, adapts
    /// it to the answer's rate-limit headers (a 429 holds and slows the location), and on a
    /// 401 retries once with the token the credentials give after the rejection.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        location: &Token,
        f: F,
    ) -> Result<Response<T>, PollError>
    where
        F: Fn(GhlClient, SecretString) -> Fut,
        Fut: Future<Output = Result<Response<T>, GhlError>>,
    {
        let budget = self.budgets.get(location);
        let mut token = self.auth.token(location).await?;
        let mut retried = false;
        loop {
            let waited = budget.acquire().await;
            metrics::histogram!("relay_poller_budget_wait_seconds").record(waited.as_secs_f64());
            match f(self.client.clone(), token.clone()).await {
                Ok(resp) => {
                    budget.observe(&resp.rate_limit);
                    return Ok(resp);
                }
                Err(e) => {
                    if let Some(info) = e.rate_limit() {
                        budget.observe(&info);
                    }
                    if e.is_rate_limited() {
                        budget.throttled(e.retry_after());
                    } else if e.is_unauthorized() && !retried {
                        retried = true;
                        token = self.auth.rejected(location, &token).await?;
                        continue;
                    }
                    return Err(e.into());
                }
            }
        }
    }
}
