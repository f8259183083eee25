//! A contact's notes.

use reqwest::Method;
use secrecy::SecretString;

use super::{Call, GhlClient, Response};
use crate::error::GhlError;
use crate::types::{NewNote, NoteResponse, NotesResponse, SucceededResponse, UpdateNote};

impl GhlClient {
    /// `GET /contacts/{contactId}/notes` (`{notes}`, no paging).
    pub async fn list_notes(
        &self,
        token: &SecretString,
        contact_id: &str,
    ) -> Result<Response<NotesResponse>, GhlError> {
        let call = Call::new(
            "list_notes",
            Method::GET,
            &["contacts", contact_id, "notes"],
        );
        self.send(call.bearer(token)).await
    }

    /// `GET /contacts/{contactId}/notes/{id}`.
    pub async fn get_note(
        &self,
        token: &SecretString,
        contact_id: &str,
        note_id: &str,
    ) -> Result<Response<NoteResponse>, GhlError> {
        let call = Call::new(
            "get_note",
            Method::GET,
            &["contacts", contact_id, "notes", note_id],
        );
        self.send(call.bearer(token)).await
    }

    /// `POST /contacts/{contactId}/notes` (201 `{note}`) with only a body; see
    /// [`GhlClient::create_note_with`] for title, colour, pin and author.
    pub async fn create_note(
        &self,
        token: &SecretString,
        contact_id: &str,
        body: &str,
    ) -> Result<Response<NoteResponse>, GhlError> {
        self.create_note_with(token, contact_id, &NewNote::new(body))
            .await
    }

    /// `POST /contacts/{contactId}/notes` (201 `{note}`).
    pub async fn create_note_with(
        &self,
        token: &SecretString,
        contact_id: &str,
        note: &NewNote,
    ) -> Result<Response<NoteResponse>, GhlError> {
        let call = Call::new(
            "create_note",
            Method::POST,
            &["contacts", contact_id, "notes"],
        )
        .bearer(token)
        .json(note)?;
        self.send(call).await
    }

    /// `PUT /contacts/{contactId}/notes/{id}` (`{note}`) replacing only the body; see
    /// [`GhlClient::update_note_with`] for the other fields.
    pub async fn update_note(
        &self,
        token: &SecretString,
        contact_id: &str,
        note_id: &str,
        body: &str,
    ) -> Result<Response<NoteResponse>, GhlError> {
        let update = UpdateNote {
            body: Some(body.to_owned()),
            ..UpdateNote::default()
        };
        self.update_note_with(token, contact_id, note_id, &update)
            .await
    }

    /// `PUT /contacts/{contactId}/notes/{id}` (`{note}`): only the fields set change.
    pub async fn update_note_with(
        &self,
        token: &SecretString,
        contact_id: &str,
        note_id: &str,
        update: &UpdateNote,
    ) -> Result<Response<NoteResponse>, GhlError> {
        let call = Call::new(
            "update_note",
            Method::PUT,
            &["contacts", contact_id, "notes", note_id],
        )
        .bearer(token)
        .json(update)?;
        self.send(call).await
    }

    /// `DELETE /contacts/{contactId}/notes/{id}` (`{succeded}`).
    pub async fn delete_note(
        &self,
        token: &SecretString,
        contact_id: &str,
        note_id: &str,
    ) -> Result<Response<SucceededResponse>, GhlError> {
        let call = Call::new(
            "delete_note",
            Method::DELETE,
            &["contacts", contact_id, "notes", note_id],
        );
        self.send(call.bearer(token)).await
    }
}
