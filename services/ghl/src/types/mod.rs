//! Request and response bodies, typed from the official spec (`apps/contacts.json`,
//! `apps/oauth.json`, `apps/locations.json`). Request bodies declare only the DTO's properties
//! and omit unset fields: GHL answers 422 to a property its DTO does not declare. Response
//! types carry the fields Relay reads; most keep the rest in a flattened `extra` map.

mod contact;
mod location;
mod membership;
mod note;
mod oauth;
mod search;
mod task;

pub use contact::{
    Appointment, AppointmentsResponse, BusinessContactsUpdate, BusinessContactsUpdateResponse,
    Contact, ContactResponse, CreateContact, CustomFieldInput, CustomFieldValue, DndSetting,
    DndSettings, DndStatus, DuplicateContactResponse, InboundDndSetting, InboundDndSettings,
    InboundDndStatus, SucceededResponse, UpdateContact, UpdateContactResponse, UpsertContact,
    UpsertContactResponse,
};
pub use location::{Location, LocationResponse, LocationSettings};
pub use membership::{
    AddFollowersResponse, AddToCampaign, BulkTagAction, BulkTagOutcome, BulkTags, BulkTagsResponse,
    Followers, RemoveFollowersResponse, Tags, TagsResponse, WorkflowEnrolment,
};
pub use note::{NewNote, Note, NoteResponse, NotesResponse, UpdateNote};
pub use oauth::TokenGrant;
pub use search::{
    BusinessContacts, ContactListResponse, ContactsMeta, FilterOperator, GroupOperator,
    ListContacts, ListedContact, MAX_LIST_LIMIT, MAX_SEARCH_PAGE_LIMIT, Range, SearchContacts,
    SearchContactsResponse, SearchFilter, SearchSort, SortDirection, SortField,
};
pub use task::{NewTask, Task, TaskCompletion, TaskResponse, TasksResponse, UpdateTask};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_omits_unset_fields() {
        let body = UpsertContact {
            location_id: "loc".into(),
            email: Some("a@b.c".into()),
            ..Default::default()
        };
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"locationId": "loc", "email": "a@b.c"})
        );
    }

    #[test]
    fn search_filters_serialize_as_ghl_documents_them() {
        let body = SearchContacts::new("loc", 100)
            .filter(SearchFilter::email("a@b.c"))
            .filter(SearchFilter::any(vec![
                SearchFilter::tag("vip"),
                SearchFilter::exists("phone"),
            ]))
            .filter(SearchFilter::date_updated(Range::between(
                "2026-01-01T00:00:00Z",
                "2026-01-02T00:00:00Z",
            )))
            .sort(SearchSort::asc(SortField::DateUpdated))
            .search_after(vec![serde_json::json!(1), serde_json::json!("id")]);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({
                "locationId": "loc",
                "pageLimit": 100,
                "searchAfter": [1, "id"],
                "filters": [
                    {"field": "email", "operator": "eq", "value": "a@b.c"},
                    {"group": "OR", "filters": [
                        {"field": "tags", "operator": "eq", "value": "vip"},
                        {"field": "phone", "operator": "exists"},
                    ]},
                    {"field": "dateUpdated", "operator": "range",
                     "value": {"gte": "2026-01-01T00:00:00Z", "lt": "2026-01-02T00:00:00Z"}},
                ],
                "sort": [{"field": "dateUpdated", "direction": "asc"}],
            })
        );
    }

    #[test]
    fn a_token_grant_reads_the_spec_shape_and_hides_the_tokens() {
        let grant: TokenGrant = serde_json::from_value(serde_json::json!({
            "access_token": "at", "token_type": "Bearer", "expires_in": 86399.0,
            "refresh_token": "rt", "scope": "contacts.write", "userType": "Location",
            "locationId": "loc", "companyId": "co", "userId": "u", "isBulkInstallation": false,
        }))
        .unwrap();
        assert_eq!(grant.expires_in, 86_399);
        assert_eq!(grant.location_id.as_deref(), Some("loc"));
        assert_eq!(grant.user_type.as_deref(), Some("Location"));
        assert_eq!(grant.company_id.as_deref(), Some("co"));
        let debug = format!("{grant:?}");
        assert!(
            !debug.contains("\"at\"") && !debug.contains("\"rt\""),
            "{debug}"
        );
    }

    #[test]
    fn business_paging_is_sent_as_strings() {
        let q = BusinessContacts {
            location_id: "loc".into(),
            limit: Some(10),
            skip: Some(20),
            query: None,
        };
        assert_eq!(
            serde_json::to_value(&q).unwrap(),
            serde_json::json!({"locationId": "loc", "limit": "10", "skip": "20"})
        );
    }
}
