//! The reads a poller makes, with the body as GHL returned it (`serde_json::Value`): trigger
//! events carry the item exactly as GHL sent it, including fields the typed models leave out.
//! Same requests, spans, metrics and errors as the typed operations.

use reqwest::Method;
use secrecy::SecretString;
use serde_json::Value;

use super::{Call, GhlClient, Response};
use crate::error::GhlError;
use crate::types::SearchContacts;

impl GhlClient {
    /// `GET /contacts/{contactId}` (`{contact}`), untyped.
    pub async fn get_contact_json(
        &self,
        token: &SecretString,
        contact_id: &str,
    ) -> Result<Response<Value>, GhlError> {
        self.send(Call::new("get_contact", Method::GET, &["contacts", contact_id]).bearer(token))
            .await
    }

    /// `POST /contacts/search` (`{contacts, total}`), untyped; every contact carries its
    /// `searchAfter` cursor.
    pub async fn search_contacts_json(
        &self,
        token: &SecretString,
        body: &SearchContacts,
    ) -> Result<Response<Value>, GhlError> {
        let call = Call::new("search_contacts", Method::POST, &["contacts", "search"])
            .bearer(token)
            .json(body)?;
        self.send(call).await
    }

    /// `GET /contacts/{contactId}/tasks` (`{tasks}`), untyped.
    pub async fn list_tasks_json(
        &self,
        token: &SecretString,
        contact_id: &str,
    ) -> Result<Response<Value>, GhlError> {
        let call = Call::new(
            "list_tasks",
            Method::GET,
            &["contacts", contact_id, "tasks"],
        );
        self.send(call.bearer(token)).await
    }

    /// `GET /contacts/{contactId}/notes` (`{notes}`), untyped.
    pub async fn list_notes_json(
        &self,
        token: &SecretString,
        contact_id: &str,
    ) -> Result<Response<Value>, GhlError> {
        let call = Call::new(
            "list_notes",
            Method::GET,
            &["contacts", contact_id, "notes"],
        );
        self.send(call.bearer(token)).await
    }
}
