//! Locations (`apps/locations.json`).

use reqwest::Method;
use secrecy::SecretString;

use super::{Call, GhlClient, Response};
use crate::error::GhlError;
use crate::types::LocationResponse;

impl GhlClient {
    /// `GET /locations/{locationId}` (scope `locations.readonly`): the location with its
    /// `settings.allowDuplicateContact`.
    pub async fn get_location(
        &self,
        token: &SecretString,
        location_id: &str,
    ) -> Result<Response<LocationResponse>, GhlError> {
        self.send(Call::new("get_location", Method::GET, &["locations", location_id]).bearer(token))
            .await
    }
}
