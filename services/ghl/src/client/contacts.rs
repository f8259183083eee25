//! Contacts: create, get, update, delete, upsert, duplicate search, search, the deprecated
//! list, contacts by business, business links and appointments.

use reqwest::Method;
use secrecy::SecretString;

use super::{Call, GhlClient, Response};
use crate::error::GhlError;
use crate::types::{
    AppointmentsResponse, BusinessContacts, BusinessContactsUpdate, BusinessContactsUpdateResponse,
    ContactListResponse, ContactResponse, CreateContact, DuplicateContactResponse, ListContacts,
    SearchContacts, SearchContactsResponse, SearchFilter, SearchSort, SortField, SucceededResponse,
    UpdateContact, UpdateContactResponse, UpsertContact, UpsertContactResponse,
};

impl GhlClient {
    /// `POST /contacts/` (201 `{contact}`). Creates even when a similar contact exists if the
    /// location allows duplicates; otherwise a match is a 400 whose
    /// [`GhlError::duplicate_contact_id`] names the existing contact.
    pub async fn create_contact(
        &self,
        token: &SecretString,
        body: &CreateContact,
    ) -> Result<Response<ContactResponse>, GhlError> {
        let call = Call::new("create_contact", Method::POST, &["contacts"])
            .trailing_slash()
            .bearer(token)
            .json(body)?;
        self.send(call).await
    }

    /// `GET /contacts/{contactId}`.
    pub async fn get_contact(
        &self,
        token: &SecretString,
        contact_id: &str,
    ) -> Result<Response<ContactResponse>, GhlError> {
        self.send(Call::new("get_contact", Method::GET, &["contacts", contact_id]).bearer(token))
            .await
    }

    /// `PUT /contacts/{contactId}` (`{succeded, contact}`). Only the fields set change; `tags`
    /// replaces every tag.
    pub async fn update_contact(
        &self,
        token: &SecretString,
        contact_id: &str,
        body: &UpdateContact,
    ) -> Result<Response<UpdateContactResponse>, GhlError> {
        let call = Call::new("update_contact", Method::PUT, &["contacts", contact_id])
            .bearer(token)
            .json(body)?;
        self.send(call).await
    }

    /// `DELETE /contacts/{contactId}` (`{succeded}`).
    pub async fn delete_contact(
        &self,
        token: &SecretString,
        contact_id: &str,
    ) -> Result<Response<SucceededResponse>, GhlError> {
        let call = Call::new("delete_contact", Method::DELETE, &["contacts", contact_id]);
        self.send(call.bearer(token)).await
    }

    /// `POST /contacts/upsert`: create or update by email/phone per the location's settings
    /// (200 with `new`).
    pub async fn upsert_contact(
        &self,
        token: &SecretString,
        body: &UpsertContact,
    ) -> Result<Response<UpsertContactResponse>, GhlError> {
        let call = Call::new("upsert_contact", Method::POST, &["contacts", "upsert"])
            .bearer(token)
            .json(body)?;
        self.send(call).await
    }

    /// `GET /contacts/search/duplicate?locationId=&email=&number=`: the contact the location's
    /// duplicate rules match (email first, then phone), or `None`.
    pub async fn find_duplicate(
        &self,
        token: &SecretString,
        location_id: &str,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Response<DuplicateContactResponse>, GhlError> {
        let mut call = Call::new(
            "find_duplicate",
            Method::GET,
            &["contacts", "search", "duplicate"],
        )
        .bearer(token)
        .query_pair("locationId", location_id);
        if let Some(e) = email {
            call = call.query_pair("email", e);
        }
        if let Some(p) = phone {
            call = call.query_pair("number", p);
        }
        self.send(call).await
    }

    /// `POST /contacts/search`: one page of matches. Search reads an index that lags writes
    /// by seconds on GHL; page on with [`SearchContacts::search_after`] and
    /// [`crate::types::SearchContactsResponse::next_cursor`].
    pub async fn search_contacts(
        &self,
        token: &SecretString,
        body: &SearchContacts,
    ) -> Result<Response<SearchContactsResponse>, GhlError> {
        let call = Call::new("search_contacts", Method::POST, &["contacts", "search"])
            .bearer(token)
            .json(body)?;
        self.send(call).await
    }

    /// `POST /contacts/search` for the oldest contact whose custom field (id or field key,
    /// `contact.<name>`) equals `value`: its id, or `None`. Search lags writes by seconds on
    /// GHL, so a contact created moments ago may not be found yet.
    pub async fn find_by_custom_field(
        &self,
        token: &SecretString,
        location_id: &str,
        field: &str,
        value: &str,
    ) -> Result<Response<Option<String>>, GhlError> {
        let body = SearchContacts::new(location_id, 1)
            .filter(SearchFilter::custom_field(field, value))
            .sort(SearchSort::asc(SortField::DateAdded));
        let call = Call::new(
            "find_by_custom_field",
            Method::POST,
            &["contacts", "search"],
        )
        .bearer(token)
        .json(&body)?;
        let resp: Response<SearchContactsResponse> = self.send(call).await?;
        Ok(resp.map(|b| b.contacts.into_iter().next().map(|c| c.id)))
    }

    /// `GET /contacts/?locationId=&limit=&startAfter=&startAfterId=&query=`, deprecated by
    /// GHL in favour of [`GhlClient::search_contacts`]: one page, newest first; the next
    /// page's query is [`ListContacts::next`].
    pub async fn list_contacts(
        &self,
        token: &SecretString,
        query: &ListContacts,
    ) -> Result<Response<ContactListResponse>, GhlError> {
        let call = Call::new("list_contacts", Method::GET, &["contacts"])
            .trailing_slash()
            .bearer(token)
            .query(query)?;
        self.send(call).await
    }

    /// `GET /contacts/business/{businessId}?locationId=&limit=&skip=&query=`: the contacts
    /// linked to a business (offset paging).
    pub async fn contacts_by_business(
        &self,
        token: &SecretString,
        business_id: &str,
        query: &BusinessContacts,
    ) -> Result<Response<ContactListResponse>, GhlError> {
        let call = Call::new(
            "contacts_by_business",
            Method::GET,
            &["contacts", "business", business_id],
        )
        .bearer(token)
        .query(query)?;
        self.send(call).await
    }

    /// `POST /contacts/bulk/business`: links contacts to a business, or detaches them.
    pub async fn update_business_contacts(
        &self,
        token: &SecretString,
        body: &BusinessContactsUpdate,
    ) -> Result<Response<BusinessContactsUpdateResponse>, GhlError> {
        let call = Call::new(
            "update_business_contacts",
            Method::POST,
            &["contacts", "bulk", "business"],
        )
        .bearer(token)
        .json(body)?;
        self.send(call).await
    }

    /// `GET /contacts/{contactId}/appointments` (`{events}`; read only, appointments are
    /// written through the Calendars API).
    pub async fn get_appointments(
        &self,
        token: &SecretString,
        contact_id: &str,
    ) -> Result<Response<AppointmentsResponse>, GhlError> {
        let call = Call::new(
            "get_appointments",
            Method::GET,
            &["contacts", contact_id, "appointments"],
        );
        self.send(call.bearer(token)).await
    }
}
