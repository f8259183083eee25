//! The client's types against GHL's official OpenAPI files (the copies the sandbox vendors in
//! `services/sandbox/tests/ghl-openapi/`, or `$RELAY_GHL_OPENAPI_DIR`):
//!
//! - every request DTO, fully populated, sends only properties its schema declares (GHL
//!   answers 422 to any other), at every depth, and declares every property of the schema;
//! - the query types send only declared query parameters, with the declared scalar types;
//! - the response types read the spec's own examples.

use std::collections::BTreeSet;
use std::path::PathBuf;

use relay_ghl::types::{
    AddToCampaign, BulkTags, BusinessContacts, BusinessContactsUpdate, ContactResponse,
    CreateContact, CustomFieldInput, DndSetting, DndSettings, DndStatus, Followers,
    InboundDndSetting, InboundDndSettings, InboundDndStatus, ListContacts, LocationResponse,
    NewNote, NewTask, NoteResponse, Range, SearchContacts, SearchFilter, SearchSort, SortField,
    Tags, TaskCompletion, TaskResponse, TokenGrant, UpdateContact, UpdateContactResponse,
    UpdateNote, UpdateTask, UpsertContact, WorkflowEnrolment,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

#[allow(clippy::disallowed_methods)] // a test's own knob, not service configuration
fn spec_dir() -> PathBuf {
    std::env::var_os("RELAY_GHL_OPENAPI_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sandbox/tests/ghl-openapi"),
        PathBuf::from,
    )
}

/// One spec file.
struct Spec {
    doc: Value,
}

impl Spec {
    fn load(file: &str) -> Self {
        let path = spec_dir().join("apps").join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e} (set RELAY_GHL_OPENAPI_DIR to the ghl-openapi folder)",
                path.display()
            )
        });
        Self {
            doc: serde_json::from_str(&text).expect("spec is JSON"),
        }
    }

    fn schema(&self, name: &str) -> &Value {
        let s = &self.doc["components"]["schemas"][name];
        assert!(s.is_object(), "no schema {name}");
        s
    }

    /// Follows a local `$ref`.
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("non-local $ref {r}"));
                self.resolve(self.schema(name))
            }
            None => schema,
        }
    }

    fn properties<'a>(&'a self, schema: &'a Value) -> Option<&'a Map<String, Value>> {
        self.resolve(schema)
            .get("properties")
            .and_then(Value::as_object)
    }

    /// Paths (`a.b[0].c`) of the keys in `value` that `schema` does not declare, at any depth.
    fn undeclared(&self, value: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
        let schema = self.resolve(schema);
        let alternatives = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array);
        if let Some(alternatives) = alternatives {
            // Conforms when one alternative declares everything.
            let mut best: Option<Vec<String>> = None;
            for alt in alternatives {
                let mut found = Vec::new();
                self.undeclared(value, alt, path, &mut found);
                if best.as_ref().is_none_or(|b| found.len() < b.len()) {
                    best = Some(found);
                }
            }
            out.extend(best.unwrap_or_default());
            return;
        }
        match value {
            Value::Object(map) => {
                let props = schema.get("properties").and_then(Value::as_object);
                for (k, v) in map {
                    let at = format!("{path}.{k}");
                    match props.and_then(|p| p.get(k)) {
                        Some(prop) => self.undeclared(v, prop, &at, out),
                        None => out.push(at),
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, v) in items.iter().enumerate() {
                        self.undeclared(v, item_schema, &format!("{path}[{i}]"), out);
                    }
                }
            }
            _ => {}
        }
    }

    /// An instance built from the schema's examples (first enum value, or a placeholder, where
    /// a property has none).
    fn example(&self, schema: &Value) -> Value {
        let schema = self.resolve(schema);
        if let Some(e) = schema.get("example") {
            return e.clone();
        }
        if let Some(e) = schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return e.clone();
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            return Value::Object(
                props
                    .iter()
                    .map(|(k, v)| (k.clone(), self.example(v)))
                    .collect(),
            );
        }
        if let Some(items) = schema.get("items") {
            return json!([self.example(items)]);
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("boolean") => json!(true),
            Some("number" | "integer") => json!(1),
            Some("array") => json!([]),
            Some("object") => json!({}),
            _ => json!("x"),
        }
    }

    /// The query parameters of an operation: name and declared type.
    fn query_parameters(&self, path: &str, method: &str) -> Vec<(String, String)> {
        self.doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("no parameters for {method} {path}"))
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or_default().to_owned(),
                    p["schema"]["type"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("serializes")
}

/// Asserts `body` sends only what `schema_name` declares, sets every required property, and
/// (being fully populated) covers every declared property.
fn assert_conforms(spec: &Spec, schema_name: &str, body: &Value) {
    let schema = spec.schema(schema_name);
    let mut undeclared = Vec::new();
    spec.undeclared(body, schema, schema_name, &mut undeclared);
    assert!(
        undeclared.is_empty(),
        "{schema_name}: undeclared properties {undeclared:?}"
    );
    let sent: BTreeSet<&str> = body
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let declared: BTreeSet<&str> = spec
        .properties(schema)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let missing: Vec<_> = declared.difference(&sent).collect();
    assert!(
        missing.is_empty(),
        "{schema_name}: the type does not declare (or the instance does not set) {missing:?}"
    );
    for required in schema["required"].as_array().into_iter().flatten() {
        let name = required.as_str().unwrap_or_default();
        assert!(
            sent.contains(name),
            "{schema_name}: required {name} not sent"
        );
    }
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

fn dnd_settings() -> DndSettings {
    let on = || {
        Some(DndSetting {
            status: DndStatus::Permanent,
            message: some("asked"),
            code: some("103"),
        })
    };
    DndSettings {
        call: on(),
        email: on(),
        sms: on(),
        whatsapp: on(),
        gmb: on(),
        fb: on(),
    }
}

fn inbound_dnd_settings() -> InboundDndSettings {
    InboundDndSettings {
        all: Some(InboundDndSetting {
            status: InboundDndStatus::Active,
            message: some("no inbound"),
        }),
    }
}

fn custom_fields() -> Vec<CustomFieldInput> {
    vec![
        CustomFieldInput {
            id: some("6dvNaf7VhkQ9snc5vnjJ"),
            key: some("my_custom_field"),
            field_value: json!("text"),
        },
        CustomFieldInput::by_id("6dvNaf7VhkQ9snc5vnjK", json!(["a", "b"])),
        CustomFieldInput::by_id("6dvNaf7VhkQ9snc5vnjL", json!(100.5)),
    ]
}

fn create_contact() -> CreateContact {
    CreateContact {
        location_id: "ve9EPM428h8vShlRW1KT".into(),
        first_name: some("Rosan"),
        last_name: some("Deo"),
        name: some("Rosan Deo"),
        email: some("rosan@deos.com"),
        gender: some("male"),
        phone: some("+1 888-888-8888"),
        address1: some("3535 1st St N"),
        city: some("Dolomite"),
        state: some("AL"),
        postal_code: some("35061"),
        website: some("https://www.tesla.com"),
        timezone: some("America/Chihuahua"),
        dnd: Some(true),
        dnd_settings: Some(dnd_settings()),
        inbound_dnd_settings: Some(inbound_dnd_settings()),
        tags: vec!["a".into(), "b".into()],
        custom_fields: custom_fields(),
        source: some("public api"),
        date_of_birth: some("1990-09-25"),
        country: some("US"),
        company_name: some("DGS VolMAX"),
        assigned_to: some("y0BeYjuRIlDwsDcOHOJo"),
    }
}

fn upsert_contact() -> UpsertContact {
    let c = create_contact();
    UpsertContact {
        location_id: c.location_id,
        first_name: c.first_name,
        last_name: c.last_name,
        name: c.name,
        email: c.email,
        gender: c.gender,
        phone: c.phone,
        address1: c.address1,
        city: c.city,
        state: c.state,
        postal_code: c.postal_code,
        website: c.website,
        timezone: c.timezone,
        dnd: c.dnd,
        dnd_settings: c.dnd_settings,
        inbound_dnd_settings: c.inbound_dnd_settings,
        country: c.country,
        company_name: c.company_name,
        source: c.source,
        date_of_birth: c.date_of_birth,
        assigned_to: c.assigned_to,
        tags: Some(c.tags),
        custom_fields: c.custom_fields,
        create_new_if_duplicate_allowed: Some(true),
    }
}

fn update_contact() -> UpdateContact {
    let c = create_contact();
    UpdateContact {
        first_name: c.first_name,
        last_name: c.last_name,
        name: c.name,
        email: c.email,
        phone: c.phone,
        address1: c.address1,
        city: c.city,
        state: c.state,
        postal_code: c.postal_code,
        website: c.website,
        timezone: c.timezone,
        dnd: c.dnd,
        dnd_settings: c.dnd_settings,
        inbound_dnd_settings: c.inbound_dnd_settings,
        tags: Some(c.tags),
        custom_fields: c.custom_fields,
        source: c.source,
        date_of_birth: c.date_of_birth,
        country: c.country,
        assigned_to: c.assigned_to,
    }
}

#[test]
fn request_bodies_send_only_and_all_declared_properties() {
    let spec = Spec::load("contacts.json");
    let cases: Vec<(&str, Value)> = vec![
        ("CreateContactDto", to_json(&create_contact())),
        ("UpsertContactDto", to_json(&upsert_contact())),
        ("UpdateContactDto", to_json(&update_contact())),
        (
            "CreateTaskParams",
            to_json(&NewTask {
                title: "First Task".into(),
                body: some("lorem"),
                due_date: "2020-10-25T11:00:00Z".into(),
                completed: false,
                assigned_to: some("hxHGVRb1YJUscrCB8eXK"),
            }),
        ),
        (
            "UpdateTaskBody",
            to_json(&UpdateTask {
                title: some("First Task"),
                body: some("lorem"),
                due_date: some("2020-10-25T11:00:00Z"),
                completed: Some(true),
                assigned_to: some("hxHGVRb1YJUscrCB8eXK"),
            }),
        ),
        (
            "UpdateTaskStatusParams",
            to_json(&TaskCompletion { completed: true }),
        ),
        (
            "NotesDTO",
            to_json(&NewNote {
                body: "lorem".into(),
                user_id: some("GCs5KuzPqTls7vWclkEV"),
                title: some("Follow-up"),
                color: some("#FFAA00"),
                pinned: Some(true),
            }),
        ),
        (
            "UpdateNoteDTO",
            to_json(&UpdateNote {
                user_id: some("GCs5KuzPqTls7vWclkEV"),
                body: some("lorem"),
                title: some("Follow-up"),
                color: some("#FFAA00"),
                pinned: Some(false),
            }),
        ),
        (
            "TagsDTO",
            to_json(&Tags {
                tags: vec!["a".into()],
            }),
        ),
        (
            "UpdateTagsDTO",
            to_json(&BulkTags {
                contacts: vec!["qFSqySFkVvNzOSqgGqFi".into()],
                tags: vec!["tag-1".into()],
                location_id: "asdrwHvLUxlfw5SqKVCN".into(),
                remove_all_tags: Some(false),
            }),
        ),
        (
            "FollowersDTO",
            to_json(&Followers {
                followers: vec!["sx6wyHhbFdRXh302Lunr".into()],
            }),
        ),
        ("AddContactToCampaignDto", to_json(&AddToCampaign {})),
        (
            "CreateWorkflowDto",
            to_json(&WorkflowEnrolment {
                event_start_time: some("2021-06-23T03:30:00+01:00"),
            }),
        ),
        (
            "ContactsBusinessUpdate",
            to_json(&BusinessContactsUpdate {
                location_id: "PX8m5VwxEbcpFlzYEPVG".into(),
                ids: vec!["IDqvFHGColiyK6jiatuz".into()],
                business_id: some("63b7ec34ea409a9a8bd2a4ff"),
            }),
        ),
    ];
    for (schema, body) in &cases {
        assert_conforms(&spec, schema, body);
    }
    // The empty campaign DTO is sent as `{}`, and a detaching business update sends `null`.
    assert_eq!(cases[11].1, json!({}));
    let detach = to_json(&BusinessContactsUpdate {
        business_id: None,
        ..BusinessContactsUpdate::default()
    });
    assert_eq!(detach["businessId"], Value::Null);
    // Unset fields are omitted, not sent as null.
    let sparse = to_json(&UpdateContact {
        first_name: some("Ada"),
        ..UpdateContact::default()
    });
    assert_eq!(sparse, json!({"firstName": "Ada"}));
}

/// `SearchBodyV2DTO` is an empty schema: the body follows GHL's external search document
/// (reference `contacts-endpoints.md` §3), which these lists reproduce.
#[test]
fn the_search_body_uses_the_documented_fields() {
    let spec = Spec::load("contacts.json");
    assert!(
        spec.properties(spec.schema("SearchBodyV2DTO"))
            .is_none_or(Map::is_empty),
        "the spec now describes the search body: check it here instead"
    );
    let body = to_json(
        &SearchContacts::new("loc", 100)
            .page(2)
            .query("john")
            .filter(SearchFilter::email("a@b.c"))
            .filter(SearchFilter::any(vec![
                SearchFilter::tag("vip"),
                SearchFilter::not_exists("phone"),
            ]))
            .filter(SearchFilter::date_updated(Range {
                gt: Some(json!("2026-01-01T00:00:00Z")),
                gte: Some(json!("2026-01-01T00:00:00Z")),
                lt: Some(json!("2026-01-02T00:00:00Z")),
                lte: Some(json!("2026-01-02T00:00:00Z")),
            }))
            .filter(SearchFilter::custom_field("contact.order_id", "o-1"))
            .sort(SearchSort::desc(SortField::DateUpdated)),
    );
    let with_cursor = to_json(&SearchContacts::new("loc", 100).search_after(vec![json!(1)]));
    let documented: BTreeSet<&str> = [
        "locationId",
        "pageLimit",
        "page",
        "searchAfter",
        "filters",
        "sort",
        "query",
    ]
    .into();
    for b in [&body, &with_cursor] {
        for key in b.as_object().expect("object").keys() {
            assert!(documented.contains(key.as_str()), "undocumented {key}");
        }
    }
    assert!(
        with_cursor.get("page").is_none(),
        "page and searchAfter exclude each other"
    );

    fn check_filter(f: &Value) {
        let keys: BTreeSet<&str> = f
            .as_object()
            .expect("filter")
            .keys()
            .map(String::as_str)
            .collect();
        if keys.contains("group") {
            assert_eq!(keys, ["filters", "group"].into());
            assert!(["AND", "OR"].contains(&f["group"].as_str().unwrap_or_default()));
            f["filters"]
                .as_array()
                .expect("filters")
                .iter()
                .for_each(check_filter);
        } else {
            assert!(
                keys.is_subset(&["field", "operator", "value"].into()),
                "{f}"
            );
            let op = f["operator"].as_str().unwrap_or_default();
            let ops = [
                "eq",
                "not_eq",
                "contains",
                "not_contains",
                "exists",
                "not_exists",
                "range",
            ];
            assert!(ops.contains(&op), "{op}");
            assert_eq!(keys.contains("value"), !op.ends_with("exists"), "{f}");
            if op == "range" {
                let bounds: BTreeSet<&str> = f["value"]
                    .as_object()
                    .expect("range")
                    .keys()
                    .map(String::as_str)
                    .collect();
                assert!(bounds.is_subset(&["gt", "gte", "lt", "lte"].into()));
            }
        }
    }
    body["filters"]
        .as_array()
        .expect("filters")
        .iter()
        .for_each(check_filter);
    assert_eq!(
        body["sort"],
        json!([{"field": "dateUpdated", "direction": "desc"}])
    );
}

/// Sends only declared query parameters, with the declared scalar types, and covers them all.
fn assert_query_conforms(spec: &Spec, path: &str, query: &Value) {
    let declared = spec.query_parameters(path, "get");
    let map = query.as_object().expect("query object");
    for (k, v) in map {
        let (_, ty) = declared
            .iter()
            .find(|(name, _)| name == k)
            .unwrap_or_else(|| panic!("GET {path}: undeclared query parameter {k}"));
        let ok = match ty.as_str() {
            "string" => v.is_string(),
            "number" | "integer" => v.is_number(),
            "boolean" => v.is_boolean(),
            _ => true,
        };
        assert!(ok, "GET {path}: {k} is declared {ty}, sent {v}");
    }
    for (name, _) in &declared {
        assert!(map.contains_key(name), "GET {path}: the type lacks {name}");
    }
}

#[test]
fn query_types_send_declared_parameters() {
    let spec = Spec::load("contacts.json");
    let list = ListContacts {
        location_id: "loc".into(),
        limit: Some(100),
        start_after: Some(1_603_870_249_758),
        start_after_id: some("UIaE1WjAwWKdlyD7osQI"),
        query: some("John"),
    };
    assert_query_conforms(&spec, "/contacts/", &to_json(&list));
    let business = BusinessContacts {
        location_id: "loc".into(),
        limit: Some(10),
        skip: Some(10),
        query: some("contact name"),
    };
    assert_query_conforms(
        &spec,
        "/contacts/business/{businessId}",
        &to_json(&business),
    );
}

fn from_example<T: DeserializeOwned>(spec: &Spec, schema: &str) -> T {
    let example = spec.example(spec.schema(schema));
    serde_json::from_value(example.clone())
        .unwrap_or_else(|e| panic!("{schema} example does not decode: {e}\n{example:#}"))
}

#[test]
fn response_types_read_the_spec_examples() {
    let contacts = Spec::load("contacts.json");
    let got: ContactResponse = from_example(&contacts, "ContactsByIdSuccessfulResponseDto");
    let c = got.contact;
    assert_eq!(c.id, "seD4PfOuKoVMLkEZqohJ");
    assert_eq!(c.email.as_deref(), Some("rubika@deos.com"));
    assert_eq!(c.phone.as_deref(), Some("+18832327657"));
    assert_eq!(c.location_id.as_deref(), Some("ve9EPM428h8vShlRW1KT"));
    assert_eq!(c.tags.len(), 2);
    assert!(c.date_updated.is_some() && c.company_name.is_some() && c.dnd == Some(true));
    assert_eq!(c.custom_fields.len(), 1);

    let created: ContactResponse = from_example(&contacts, "CreateContactsSuccessfulResponseDto");
    assert!(created.contact.date_added.is_some());
    let updated: UpdateContactResponse =
        from_example(&contacts, "UpdateContactsSuccessfulResponseDto");
    assert!(updated.succeeded && !updated.contact.id.is_empty());
    let task: TaskResponse = from_example(&contacts, "TaskByIsSuccessfulResponseDto");
    assert!(task.task.completed && task.task.due_date.is_some() && task.task.contact_id.is_some());
    let note: NoteResponse = from_example(&contacts, "GetCreateUpdateNoteSuccessfulResponseDto");
    assert_eq!(note.note.color.as_deref(), Some("#FFAA00"));
    assert!(note.note.date_added.is_some() && note.note.user_id.is_some());
    let bulk: relay_ghl::types::BulkTagsResponse = from_example(&contacts, "UpdateTagsResponseDTO");
    assert!(bulk.succeeded);
    assert_eq!(bulk.responses.iter().filter(|r| r.is_error()).count(), 3);

    let oauth = Spec::load("oauth.json");
    let grant: TokenGrant = from_example(&oauth, "GetAccessCodeSuccessfulResponseDto");
    assert_eq!(grant.expires_in, 86_399);
    assert!(grant.token_type.is_some() && grant.scope.is_some());
    assert!(grant.location_id.is_some() && grant.company_id.is_some());
    assert_eq!(grant.user_type.as_deref(), Some("Location"));

    let locations = Spec::load("locations.json");
    let loc: LocationResponse = from_example(&locations, "GetLocationByIdSuccessfulResponseDto");
    assert_eq!(loc.location.id, "ve9EPM428h8vShlRW1KT");
    assert_eq!(loc.location.settings.allow_duplicate_contact, Some(false));
    assert!(loc.location.timezone.is_some() && loc.location.company_id.is_some());
}

/// The check itself: it flags what GHL would refuse, at any depth.
#[test]
fn undeclared_properties_are_caught_at_any_depth() {
    let spec = Spec::load("contacts.json");
    let body = json!({
        "firstName": "Ada",
        "gender": "female",
        "dndSettings": {"Email": {"status": "active", "reason": "x"}},
        "customFields": [{"id": "a", "field_value": "b", "fieldValue": "b"}],
    });
    let mut found = Vec::new();
    spec.undeclared(
        &body,
        spec.schema("UpdateContactDto"),
        "UpdateContactDto",
        &mut found,
    );
    found.sort();
    assert_eq!(
        found,
        [
            "UpdateContactDto.customFields[0].fieldValue",
            "UpdateContactDto.dndSettings.Email.reason",
            "UpdateContactDto.gender",
        ]
    );
}
