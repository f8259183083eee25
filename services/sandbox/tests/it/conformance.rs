//! Conformance with GHL's official OpenAPI files (vendored in `tests/ghl-openapi/`, or
//! `$RELAY_GHL_OPENAPI_DIR`): a scenario drives every Contacts operation (and the location,
//! business, campaign, workflow and OAuth operations the sandbox simulates) through success
//! and error paths; every response's status must be declared by the operation and its body
//! must validate against the declared schema (JSON Schema, via the `jsonschema` crate). Where
//! the sandbox deliberately follows observed behaviour instead, the difference must be listed
//! in [`DEVIATIONS`], and every listed deviation must actually be observed. The result is
//! `services/sandbox/CONFORMANCE.md`: the test fails when the file is stale; run it with
//! `SANDBOX_BLESS=1` to rewrite it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use jsonschema::{Draft, Validator};
use relay_sandbox::{
    Appointment, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_COMPANY_ID, DEMO_LOCATION_ID, FaultKind,
    FaultSpec, LocationSeed, NewAuthCode, NewLocation, SandboxConfig,
};
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::helpers::{TestSandbox, VERSION, send};

/// The spec files the sandbox simulates parts of (paths under `apps/`).
const SPEC_FILES: &[&str] = &[
    "contacts",
    "locations",
    "custom-fields",
    "businesses",
    "campaigns",
    "workflows",
    "oauth",
];

/// What kind of difference a finding is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// The operation does not declare this status.
    UndeclaredStatus,
    /// The status is declared, without a schema: nothing to validate against.
    NoSchema,
    /// The body does not validate; the instance path with array indices as `*`.
    Schema(String),
}

/// A place where the sandbox follows observed behaviour (or its own stricter reading) rather
/// than the spec.
struct Deviation {
    /// A short name.
    title: &'static str,
    /// The kind of difference.
    kind: fn(&Kind) -> bool,
    /// Which statuses (empty: any).
    statuses: &'static [u16],
    /// Which operations, as `METHOD /template` (empty: any).
    operations: &'static [&'static str],
    /// What the spec says.
    spec: &'static str,
    /// What the sandbox does, and why.
    sandbox: &'static str,
}

fn undeclared(k: &Kind) -> bool {
    *k == Kind::UndeclaredStatus
}

fn no_schema(k: &Kind) -> bool {
    *k == Kind::NoSchema
}

fn custom_field_value(k: &Kind) -> bool {
    matches!(k, Kind::Schema(p) if p.ends_with("/customFields/*/value"))
}

fn bulk_responses(k: &Kind) -> bool {
    matches!(k, Kind::Schema(p) if p == "/responses/*")
}

fn string_message(k: &Kind) -> bool {
    matches!(k, Kind::Schema(p) if p == "/message")
}

fn task_items(k: &Kind) -> bool {
    matches!(k, Kind::Schema(p) if p == "/tasks/*")
}

/// Every accepted difference. Each must be observed by the scenario.
const DEVIATIONS: &[Deviation] = &[
    Deviation {
        title: "403 when a token reaches for another location",
        kind: undeclared,
        statuses: &[403],
        operations: &[],
        spec: "no operation declares 403",
        sandbox: "403 `{\"statusCode\":403,\"message\":\"The token does not have access to this location.\",\"error\":\"Forbidden\"}` when the token's location differs from the one named (integrator findings F.36, n8n issue #11353)",
    },
    Deviation {
        title: "404 for unknown resources",
        kind: undeclared,
        statuses: &[404],
        operations: &[],
        spec: "v2 declares no 404 (only the v3 common schemas define `NotFoundDTO`)",
        sandbox: "404 `{\"statusCode\":404,\"message\":\"Contact not found\"}` (and Task, Note, Campaign, Workflow, Business, Custom field, Tag) in the v3 `NotFoundDTO` shape",
    },
    Deviation {
        title: "429 over the rate limits",
        kind: undeclared,
        statuses: &[429],
        operations: &[],
        spec: "no operation declares 429",
        sandbox: "429 `{\"statusCode\":429,\"message\":\"Too Many Requests - Rate limit exceeded\"}` with the five `X-RateLimit-*` headers and no `Retry-After` over the documented budgets (findings A.1, A.2)",
    },
    Deviation {
        title: "Bulk operations need a token",
        kind: undeclared,
        statuses: &[401],
        operations: &[
            "POST /contacts/bulk/tags/update/{type}",
            "POST /contacts/bulk/business",
        ],
        spec: "the two bulk operations declare no security and no 401",
        sandbox: "they need a sub-account token like every Contacts operation (the rendered docs list \"Sub-Account Token\"); without one, the usual 401",
    },
    Deviation {
        title: "Query parameters are whitelisted",
        kind: undeclared,
        statuses: &[422],
        operations: &["GET /contacts/search/duplicate", "GET /businesses/"],
        spec: "declares 200, 400, 401 only",
        sandbox: "unknown or missing query parameters are a 422 with a message array, as the NestJS validation pipe answers for bodies (e.g. `phone=` instead of `number=`, finding E.30)",
    },
    Deviation {
        title: "Unknown business in bulk business",
        kind: undeclared,
        statuses: &[400],
        operations: &["POST /contacts/bulk/business"],
        spec: "declares 200 and 422 only",
        sandbox: "400 `Business not found` for a `businessId` the location does not have (the sandbox's choice; GHL's answer is undocumented)",
    },
    Deviation {
        title: "Typed custom field values",
        kind: custom_field_value,
        statuses: &[200, 201],
        operations: &[],
        spec: "`CustomFieldSchema.value` is a string",
        sandbox: "values keep the type of their field: numbers for `NUMERICAL`/`MONETORY`, string arrays for `CHECKBOX`/`MULTIPLE_OPTIONS` (finding D.23; the write shapes declare these types)",
    },
    Deviation {
        title: "Bulk tag results are objects",
        kind: bulk_responses,
        statuses: &[201],
        operations: &["POST /contacts/bulk/tags/update/{type}"],
        spec: "`UpdateTagsResponseDTO.responses` is `string[]`",
        sandbox: "objects `{contactId, message, type, oldTags, tagsAdded|tagsRemoved}`, as the spec's own example shows",
    },
    Deviation {
        title: "A business-rule 422 with a string message",
        kind: string_message,
        statuses: &[422],
        operations: &["POST /contacts/"],
        spec: "`UnprocessableDTO.message` is an array",
        sandbox: "a string for the business rule \"Contacts without email, phone, firstName and lastName are not allowed.\" (observed, finding B.9)",
    },
    Deviation {
        title: "Task search results are task objects",
        kind: task_items,
        statuses: &[200],
        operations: &["POST /locations/{locationId}/tasks/search"],
        spec: "`LocationTaskListSuccessfulResponseDto.tasks` items are typed `array` (related-endpoints.md: \"items untyped\")",
        sandbox: "each item is a task object `{id, title, body, assignedTo, dueDate, completed, contactId}`, the `TaskSchema` the contact task endpoints return",
    },
    Deviation {
        title: "Search and duplicate search without a response schema",
        kind: no_schema,
        statuses: &[200, 400],
        operations: &["POST /contacts/search", "GET /contacts/search/duplicate"],
        spec: "200 (and, for search, 400) without a schema; the search body `SearchBodyV2DTO` is empty too",
        sandbox: "search answers `{contacts, total, traceId}` with a `searchAfter` cursor on every contact (initial spec `be089e5`, finding E.25) and 400 `{statusCode, message, error}` for bad filters (`Invalid field additional_phones`, finding E.26); duplicate search answers `{contact}` or `{contact: null}` as clients read it",
    },
];

/// One operation of a spec file.
struct Operation {
    file: &'static str,
    method: String,
    template: String,
    /// Path segments; `None` for a parameter.
    segments: Vec<Option<String>>,
    /// Declared statuses and their schema (converted), if any.
    responses: BTreeMap<u16, Option<Value>>,
}

impl Operation {
    fn key(&self) -> String {
        format!("{} {}", self.method, self.template)
    }

    /// How well `path` matches: the number of literal segments, or `None`.
    fn score(&self, method: &str, path: &str) -> Option<usize> {
        if !self.method.eq_ignore_ascii_case(method) {
            return None;
        }
        let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let segments: Vec<&Option<String>> = {
            let t = self.template.trim_end_matches('/');
            let n = t.split('/').count();
            self.segments.iter().take(n).collect()
        };
        if parts.len() != segments.len() {
            return None;
        }
        let mut literal = 0;
        for (p, s) in parts.iter().zip(segments) {
            match s {
                Some(lit) if lit == p => literal += 1,
                Some(_) => return None,
                None if p.is_empty() => return None,
                None => {}
            }
        }
        Some(literal)
    }
}

/// Converts an OpenAPI 3.0 schema to JSON Schema (draft 7): `nullable` becomes a `null`
/// type, and `$ref`s point into one shared `definitions` object.
fn convert(schema: &Value, file: &str) -> Value {
    let Value::Object(obj) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (k, v) in obj {
        let v = match k.as_str() {
            "$ref" => Value::String(rewrite_ref(v.as_str().unwrap_or_default(), file)),
            "properties" => Value::Object(
                v.as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(p, s)| (p.clone(), convert(s, file)))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            "items" | "additionalProperties" | "not" => convert(v, file),
            "allOf" | "anyOf" | "oneOf" => Value::Array(
                v.as_array()
                    .map(|a| a.iter().map(|s| convert(s, file)).collect())
                    .unwrap_or_default(),
            ),
            "nullable" | "example" | "discriminator" | "xml" | "externalDocs" | "deprecated"
            | "readOnly" | "writeOnly" => continue,
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    if obj.get("nullable") == Some(&Value::Bool(true)) {
        if let Some(Value::String(t)) = out.get("type").cloned() {
            out.insert("type".into(), json!([t, "null"]));
        } else if out.contains_key("$ref") || out.contains_key("allOf") {
            let inner = Value::Object(std::mem::take(&mut out));
            out.insert("anyOf".into(), json!([inner, {"type": "null"}]));
        }
    }
    Value::Object(out)
}

fn rewrite_ref(r: &str, file: &str) -> String {
    let (doc, pointer) = r.split_once('#').unwrap_or(("", r));
    let name = pointer.rsplit('/').next().unwrap_or_default();
    let owner = if doc.is_empty() {
        file.to_owned()
    } else if doc.contains("common-schemas") {
        "common".to_owned()
    } else {
        doc.trim_start_matches("./")
            .trim_end_matches(".json")
            .to_owned()
    };
    format!("#/definitions/{owner}__{name}")
}

/// The operations and shared definitions of every spec file.
struct Spec {
    operations: Vec<Operation>,
    definitions: Map<String, Value>,
}

#[allow(clippy::disallowed_methods)] // a test's own knob, not service configuration
fn spec_dir() -> PathBuf {
    std::env::var_os("RELAY_GHL_OPENAPI_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ghl-openapi"),
        PathBuf::from,
    )
}

fn read_json(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (set RELAY_GHL_OPENAPI_DIR to the ghl-openapi folder)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("spec is JSON")
}

fn load_spec() -> Spec {
    let dir = spec_dir();
    let mut definitions = Map::new();
    let common = read_json(dir.join("common/common-schemas.json"));
    for (name, s) in common["components"]["schemas"]
        .as_object()
        .expect("common schemas")
    {
        definitions.insert(format!("common__{name}"), convert(s, "common"));
    }
    let mut operations = Vec::new();
    for file in SPEC_FILES {
        let doc = read_json(dir.join(format!("apps/{file}.json")));
        if let Some(schemas) = doc["components"]["schemas"].as_object() {
            for (name, s) in schemas {
                definitions.insert(format!("{file}__{name}"), convert(s, file));
            }
        }
        for (template, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                    continue;
                }
                let responses = op["responses"]
                    .as_object()
                    .map(|r| {
                        r.iter()
                            .filter_map(|(code, resp)| {
                                let code: u16 = code.parse().ok()?;
                                let schema = resp["content"]
                                    .as_object()
                                    .and_then(|c| c.values().next())
                                    .and_then(|m| m.get("schema"))
                                    .filter(|s| s.as_object().is_some_and(|o| !o.is_empty()))
                                    .map(|s| convert(s, file));
                                Some((code, schema))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                operations.push(Operation {
                    file,
                    method: method.to_uppercase(),
                    template: template.clone(),
                    segments: template
                        .split('/')
                        .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                        .collect(),
                    responses,
                });
            }
        }
    }
    Spec {
        operations,
        definitions,
    }
}

/// Checks responses and remembers what it saw.
struct Checker {
    spec: Spec,
    validators: HashMap<(usize, u16), Validator>,
    /// Operation index → statuses seen.
    seen: BTreeMap<usize, BTreeSet<u16>>,
    /// (operation key, status, kind) → an example message.
    findings: BTreeMap<(String, u16, Kind), String>,
    /// Requests that matched no operation of the copied specs.
    unmatched: BTreeSet<String>,
}

impl Checker {
    fn new() -> Self {
        Self {
            spec: load_spec(),
            validators: HashMap::new(),
            seen: BTreeMap::new(),
            findings: BTreeMap::new(),
            unmatched: BTreeSet::new(),
        }
    }

    fn operation(&self, method: &str, path: &str) -> Option<usize> {
        let path = path.split('?').next().unwrap_or(path);
        self.spec
            .operations
            .iter()
            .enumerate()
            .filter_map(|(i, op)| op.score(method, path).map(|s| (s, i)))
            .max_by_key(|(s, i)| (*s, std::cmp::Reverse(*i)))
            .map(|(_, i)| i)
    }

    fn validator(&mut self, op: usize, status: u16, schema: &Value) -> &Validator {
        let definitions = &self.spec.definitions;
        self.validators.entry((op, status)).or_insert_with(|| {
            let mut root = schema.as_object().cloned().unwrap_or_default();
            root.insert("definitions".into(), Value::Object(definitions.clone()));
            jsonschema::options()
                .with_draft(Draft::Draft7)
                .should_validate_formats(true)
                .build(&Value::Object(root))
                .expect("the spec's schema compiles")
        })
    }

    fn check(&mut self, method: &str, path: &str, status: u16, body: &Value) {
        let Some(index) = self.operation(method, path) else {
            self.unmatched.insert(format!("{method} {path}"));
            return;
        };
        self.seen.entry(index).or_default().insert(status);
        let key = self.spec.operations[index].key();
        let declared = self.spec.operations[index].responses.get(&status).cloned();
        match declared {
            None => {
                self.findings
                    .entry((key, status, Kind::UndeclaredStatus))
                    .or_insert_with(|| body.to_string());
            }
            Some(None) => {
                self.findings
                    .entry((key, status, Kind::NoSchema))
                    .or_insert_with(|| body.to_string());
            }
            Some(Some(schema)) => {
                let errors: Vec<(String, String)> = self
                    .validator(index, status, &schema)
                    .iter_errors(body)
                    .map(|e| {
                        (
                            normalize_pointer(&e.instance_path().to_string()),
                            e.to_string(),
                        )
                    })
                    .collect();
                for (pointer, message) in errors {
                    self.findings
                        .entry((key.clone(), status, Kind::Schema(pointer)))
                        .or_insert(message);
                }
            }
        }
    }
}

fn normalize_pointer(p: &str) -> String {
    p.split('/')
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                "*"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Drives the sandbox and feeds every response to the checker.
struct Driver<'a> {
    sb: &'a TestSandbox,
    checker: Checker,
}

impl Driver<'_> {
    async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, value) = self.sb.call(method.clone(), path, body).await;
        self.checker
            .check(method.as_str(), path, status.as_u16(), &value);
        (status.as_u16(), value)
    }

    /// Calls and asserts the status.
    async fn expect(
        &mut self,
        status: u16,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let (got, value) = self.call(method.clone(), path, body).await;
        assert_eq!(got, status, "{method} {path} → {value}");
        value
    }

    async fn raw(
        &mut self,
        req: reqwest::RequestBuilder,
        method: &str,
        path: &str,
        status: u16,
    ) -> Value {
        let (got, value) = send(req).await;
        self.checker.check(method, path, got.as_u16(), &value);
        assert_eq!(got.as_u16(), status, "{method} {path} → {value}");
        value
    }
}

fn id(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in {v}"))
        .to_owned()
}

/// Every Contacts operation through its success path and its error paths, plus the related
/// endpoints the sandbox simulates.
async fn scenario(d: &mut Driver<'_>) {
    let loc = DEMO_LOCATION_ID;
    let sb = d.sb;
    sb.state
        .add_location(NewLocation::new("other-location", "pit-other"))
        .expect("location");
    let entities = sb.state.location_entities(loc).expect("demo location");
    let (user, campaign, workflow) = (
        entities.users[0].id.clone(),
        entities.campaigns[0].id.clone(),
        entities.workflows[0].id.clone(),
    );
    let missing = "AAAAAAAAAAAAAAAAAAAA";

    // Contacts core.
    let created = d
        .expect(201, Method::POST, "/contacts/", Some(json!({"locationId": loc, "firstName": "Ada", "email": "ada@x.io", "phone": "+1 555 010 0001", "tags": ["Vip"], "dndSettings": {"Email": {"status": "active"}}})))
        .await;
    let ada = id(&created, "/contact/id");
    d.expect(
        400,
        Method::POST,
        "/contacts/",
        Some(json!({"locationId": loc, "email": "ADA@x.io"})),
    )
    .await;
    d.expect(
        422,
        Method::POST,
        "/contacts/",
        Some(json!({"locationId": loc, "name": "Only"})),
    )
    .await;
    d.expect(
        422,
        Method::POST,
        "/contacts/",
        Some(json!({"locationId": loc, "email": "x@x.io", "additionalEmails": []})),
    )
    .await;
    d.expect(
        403,
        Method::POST,
        "/contacts/",
        Some(json!({"locationId": "other-location", "email": "x@x.io"})),
    )
    .await;
    let up = d
        .expect(200, Method::POST, "/contacts/upsert", Some(json!({"locationId": loc, "email": "bob@x.io", "customFields": [{"key": "lifetime_value", "field_value": 12.5}]})))
        .await;
    let bob = id(&up, "/contact/id");
    d.expect(
        200,
        Method::POST,
        "/contacts/upsert",
        Some(json!({"locationId": loc, "email": "bob@x.io", "lastName": "Roe"})),
    )
    .await;
    d.expect(
        400,
        Method::POST,
        "/contacts/upsert",
        Some(json!({"locationId": loc, "firstName": "x"})),
    )
    .await;
    d.expect(
        422,
        Method::POST,
        "/contacts/upsert",
        Some(json!({"locationId": loc, "email": "bob@x.io", "foo": 1})),
    )
    .await;
    d.expect(200, Method::GET, &format!("/contacts/{bob}"), None)
        .await;
    d.expect(404, Method::GET, &format!("/contacts/{missing}"), None)
        .await;
    d.expect(
        200,
        Method::PUT,
        &format!("/contacts/{ada}"),
        Some(json!({"lastName": "Lovelace", "tags": ["vip", "math"]})),
    )
    .await;
    d.expect(
        422,
        Method::PUT,
        &format!("/contacts/{ada}"),
        Some(json!({"gender": "female"})),
    )
    .await;
    d.expect(
        400,
        Method::PUT,
        &format!("/contacts/{bob}"),
        Some(json!({"email": "ada@x.io"})),
    )
    .await;
    let path = format!("/contacts/search/duplicate?locationId={loc}&email=ada%40x.io");
    d.expect(200, Method::GET, &path, None).await;
    d.expect(
        200,
        Method::GET,
        &format!("/contacts/search/duplicate?locationId={loc}&number=%2B15550109999"),
        None,
    )
    .await;
    d.expect(
        422,
        Method::GET,
        &format!("/contacts/search/duplicate?locationId={loc}&phone=1"),
        None,
    )
    .await;

    // Authentication and version errors (declared 401s).
    d.raw(
        sb.http
            .get(sb.url(&format!("/contacts/{ada}")))
            .header("Version", VERSION),
        "GET",
        &format!("/contacts/{ada}"),
        401,
    )
    .await;
    d.raw(
        sb.http
            .get(sb.url(&format!("/contacts/{ada}")))
            .bearer_auth(relay_sandbox::DEMO_TOKEN),
        "GET",
        &format!("/contacts/{ada}"),
        401,
    )
    .await;
    d.raw(
        sb.ghl_as("pit-other", Method::GET, &format!("/contacts/{ada}")),
        "GET",
        &format!("/contacts/{ada}"),
        403,
    )
    .await;

    // Tags.
    d.expect(
        201,
        Method::POST,
        &format!("/contacts/{ada}/tags"),
        Some(json!({"tags": ["New"]})),
    )
    .await;
    d.expect(
        422,
        Method::POST,
        &format!("/contacts/{ada}/tags"),
        Some(json!({"tags": "new"})),
    )
    .await;
    d.expect(
        200,
        Method::DELETE,
        &format!("/contacts/{ada}/tags"),
        Some(json!({"tags": ["new"]})),
    )
    .await;
    d.expect(
        404,
        Method::DELETE,
        &format!("/contacts/{missing}/tags"),
        Some(json!({"tags": ["new"]})),
    )
    .await;

    // Tasks.
    let base = format!("/contacts/{ada}/tasks");
    let task = d
        .expect(201, Method::POST, &base, Some(json!({"title": "Call", "dueDate": "2030-01-01T10:00:00Z", "completed": false, "assignedTo": user})))
        .await;
    let task = id(&task, "/task/id");
    d.expect(422, Method::POST, &base, Some(json!({"title": "Call"})))
        .await;
    d.expect(200, Method::GET, &base, None).await;
    d.expect(200, Method::GET, &format!("{base}/{task}"), None)
        .await;
    d.expect(404, Method::GET, &format!("{base}/{missing}"), None)
        .await;
    d.expect(
        200,
        Method::PUT,
        &format!("{base}/{task}"),
        Some(json!({"body": "about the order"})),
    )
    .await;
    d.expect(
        422,
        Method::PUT,
        &format!("{base}/{task}"),
        Some(json!({"dueDate": "later"})),
    )
    .await;
    d.expect(
        200,
        Method::PUT,
        &format!("{base}/{task}/completed"),
        Some(json!({"completed": true})),
    )
    .await;
    d.expect(
        422,
        Method::PUT,
        &format!("{base}/{task}/completed"),
        Some(json!({})),
    )
    .await;
    d.expect(200, Method::DELETE, &format!("{base}/{task}"), None)
        .await;

    // Notes.
    let base = format!("/contacts/{ada}/notes");
    let note = d
        .expect(
            201,
            Method::POST,
            &base,
            Some(json!({"body": "Met at the fair", "userId": user, "pinned": true})),
        )
        .await;
    let note = id(&note, "/note/id");
    d.expect(422, Method::POST, &base, Some(json!({"title": "no body"})))
        .await;
    d.expect(200, Method::GET, &base, None).await;
    d.expect(200, Method::GET, &format!("{base}/{note}"), None)
        .await;
    d.expect(
        200,
        Method::PUT,
        &format!("{base}/{note}"),
        Some(json!({"color": "#FFAA00"})),
    )
    .await;
    d.expect(
        404,
        Method::PUT,
        &format!("{base}/{missing}"),
        Some(json!({"color": "#FFAA00"})),
    )
    .await;
    d.expect(200, Method::DELETE, &format!("{base}/{note}"), None)
        .await;

    // Appointments.
    sb.state
        .seed_location(
            loc,
            LocationSeed {
                appointments: vec![Appointment {
                    contact_id: ada.clone(),
                    calendar_id: "cal-1".into(),
                    title: "Intro".into(),
                    status: "booked".into(),
                    start_time: "2030-01-02 10:00:00".into(),
                    end_time: "2030-01-02 10:30:00".into(),
                    appointment_status: "confirmed".into(),
                    assigned_user_id: user.clone(),
                    users: vec![user.clone()],
                    ..Appointment::default()
                }],
                ..LocationSeed::default()
            },
        )
        .expect("seed");
    d.expect(
        200,
        Method::GET,
        &format!("/contacts/{ada}/appointments"),
        None,
    )
    .await;
    d.expect(
        404,
        Method::GET,
        &format!("/contacts/{missing}/appointments"),
        None,
    )
    .await;

    // Followers, campaigns, workflows.
    let path = format!("/contacts/{ada}/followers");
    d.expect(201, Method::POST, &path, Some(json!({"followers": [user]})))
        .await;
    d.expect(422, Method::POST, &path, Some(json!({"followers": [1]})))
        .await;
    d.expect(
        200,
        Method::DELETE,
        &path,
        Some(json!({"followers": [user]})),
    )
    .await;
    let path = format!("/contacts/{ada}/campaigns/{campaign}");
    d.expect(201, Method::POST, &path, Some(json!({}))).await;
    d.expect(422, Method::POST, &path, Some(json!({"start": true})))
        .await;
    d.expect(200, Method::DELETE, &path, None).await;
    d.expect(
        404,
        Method::DELETE,
        &format!("/contacts/{ada}/campaigns/{missing}"),
        None,
    )
    .await;
    d.expect(
        200,
        Method::DELETE,
        &format!("/contacts/{ada}/campaigns/removeAll"),
        None,
    )
    .await;
    let path = format!("/contacts/{ada}/workflow/{workflow}");
    d.expect(
        200,
        Method::POST,
        &path,
        Some(json!({"eventStartTime": "2030-06-23T03:30:00+01:00"})),
    )
    .await;
    d.expect(
        422,
        Method::POST,
        &path,
        Some(json!({"eventStartTime": "tomorrow"})),
    )
    .await;
    d.expect(200, Method::DELETE, &path, Some(json!({}))).await;
    d.expect(
        404,
        Method::DELETE,
        &format!("/contacts/{ada}/workflow/{missing}"),
        Some(json!({})),
    )
    .await;

    // Businesses and bulk.
    let biz = d
        .expect(
            201,
            Method::POST,
            "/businesses/",
            Some(json!({"name": "Acme", "locationId": loc})),
        )
        .await;
    let biz = id(&biz, "/buiseness/id");
    d.expect(
        422,
        Method::POST,
        "/businesses/",
        Some(json!({"locationId": loc})),
    )
    .await;
    d.expect(
        200,
        Method::GET,
        &format!("/businesses/?locationId={loc}"),
        None,
    )
    .await;
    d.expect(422, Method::GET, "/businesses/?limit=5", None)
        .await;
    d.expect(200, Method::GET, &format!("/businesses/{biz}"), None)
        .await;
    d.expect(
        200,
        Method::PUT,
        &format!("/businesses/{biz}"),
        Some(json!({"city": "Springfield"})),
    )
    .await;
    d.expect(
        200,
        Method::POST,
        "/contacts/bulk/business",
        Some(json!({"locationId": loc, "ids": [ada, bob], "businessId": biz})),
    )
    .await;
    d.expect(
        400,
        Method::POST,
        "/contacts/bulk/business",
        Some(json!({"locationId": loc, "ids": [ada], "businessId": "000000000000000000000000"})),
    )
    .await;
    d.expect(
        422,
        Method::POST,
        "/contacts/bulk/business",
        Some(json!({"ids": [ada]})),
    )
    .await;
    d.raw(
        sb.http
            .post(sb.url("/contacts/bulk/business"))
            .header("Version", VERSION)
            .json(&json!({})),
        "POST",
        "/contacts/bulk/business",
        401,
    )
    .await;
    d.expect(
        200,
        Method::GET,
        &format!("/contacts/business/{biz}?locationId={loc}&limit=10&skip=0"),
        None,
    )
    .await;
    d.expect(
        422,
        Method::GET,
        &format!("/contacts/business/{biz}?locationId={loc}&limit=ten"),
        None,
    )
    .await;
    d.expect(
        201,
        Method::POST,
        "/contacts/bulk/tags/update/add",
        Some(json!({"locationId": loc, "contacts": [ada, bob, "bad-id"], "tags": ["bulk"]})),
    )
    .await;
    d.expect(
        201,
        Method::POST,
        "/contacts/bulk/tags/update/remove",
        Some(json!({"locationId": loc, "contacts": [bob], "tags": [], "removeAllTags": true})),
    )
    .await;
    d.expect(
        422,
        Method::POST,
        "/contacts/bulk/tags/update/add",
        Some(json!({"locationId": loc, "contacts": [ada]})),
    )
    .await;
    d.raw(
        sb.http
            .post(sb.url("/contacts/bulk/tags/update/add"))
            .header("Version", VERSION)
            .json(&json!({})),
        "POST",
        "/contacts/bulk/tags/update/add",
        401,
    )
    .await;

    // Search, the deprecated list.
    d.expect(200, Method::POST, "/contacts/search", Some(json!({"locationId": loc, "pageLimit": 10, "filters": [{"field": "tags", "operator": "eq", "value": "vip"}], "sort": [{"field": "dateAdded", "direction": "desc"}]}))).await;
    d.expect(400, Method::POST, "/contacts/search", Some(json!({"locationId": loc, "pageLimit": 10, "filters": [{"field": "additional_phones", "operator": "nested"}]}))).await;
    d.expect(
        200,
        Method::GET,
        &format!("/contacts/?locationId={loc}&limit=1"),
        None,
    )
    .await;
    d.expect(
        422,
        Method::GET,
        &format!("/contacts/?locationId={loc}&limit=500"),
        None,
    )
    .await;

    // Rate limit (forced, to keep the scenario fast).
    sb.state
        .inject_fault(FaultSpec {
            kind: Some(FaultKind::RateLimit),
            count: Some(1),
            ..FaultSpec::default()
        })
        .expect("fault");
    d.expect(429, Method::GET, &format!("/contacts/{ada}"), None)
        .await;

    // Delete last.
    d.expect(200, Method::DELETE, &format!("/contacts/{bob}"), None)
        .await;
    d.expect(404, Method::DELETE, &format!("/contacts/{bob}"), None)
        .await;

    // Locations, custom fields, tags, campaigns, workflows.
    d.expect(200, Method::GET, &format!("/locations/{loc}"), None)
        .await;
    d.expect(403, Method::GET, "/locations/other-location", None)
        .await;
    let cf = format!("/locations/{loc}/customFields");
    d.expect(200, Method::GET, &format!("{cf}?model=contact"), None)
        .await;
    d.expect(422, Method::GET, &format!("{cf}?model=deal"), None)
        .await;
    let field = d
        .expect(
            201,
            Method::POST,
            &cf,
            Some(json!({"name": "Score", "dataType": "NUMERICAL"})),
        )
        .await;
    let field = id(&field, "/customField/id");
    d.expect(422, Method::POST, &cf, Some(json!({"name": "Score"})))
        .await;
    d.expect(
        400,
        Method::POST,
        &cf,
        Some(json!({"name": "score", "dataType": "TEXT"})),
    )
    .await;
    d.expect(200, Method::GET, &format!("{cf}/{field}"), None)
        .await;
    d.expect(
        200,
        Method::PUT,
        &format!("{cf}/{field}"),
        Some(json!({"name": "Score 2"})),
    )
    .await;
    d.expect(422, Method::PUT, &format!("{cf}/{field}"), Some(json!({})))
        .await;
    d.expect(200, Method::DELETE, &format!("{cf}/{field}"), None)
        .await;
    d.expect(404, Method::GET, &format!("{cf}/{field}"), None)
        .await;
    let tags = format!("/locations/{loc}/tags");
    d.expect(200, Method::GET, &tags, None).await;
    let tag = d
        .expect(200, Method::POST, &tags, Some(json!({"name": "Prospect"})))
        .await;
    let tag = id(&tag, "/tag/id");
    d.expect(400, Method::POST, &tags, Some(json!({"name": "prospect"})))
        .await;
    d.expect(422, Method::POST, &tags, Some(json!({}))).await;
    d.expect(200, Method::GET, &format!("{tags}/{tag}"), None)
        .await;
    d.expect(
        200,
        Method::PUT,
        &format!("{tags}/{tag}"),
        Some(json!({"name": "Lead"})),
    )
    .await;
    d.expect(200, Method::DELETE, &format!("{tags}/{tag}"), None)
        .await;
    d.expect(
        200,
        Method::GET,
        &format!("/campaigns/?locationId={loc}"),
        None,
    )
    .await;
    d.expect(422, Method::GET, "/campaigns/", None).await;
    d.expect(
        200,
        Method::GET,
        &format!("/workflows/?locationId={loc}"),
        None,
    )
    .await;
    d.expect(
        403,
        Method::GET,
        "/workflows/?locationId=other-location",
        None,
    )
    .await;
    d.expect(200, Method::DELETE, &format!("/businesses/{biz}"), None)
        .await;
    d.expect(
        201,
        Method::POST,
        &format!("/contacts/{ada}/tasks"),
        Some(json!({"title": "Follow up", "dueDate": "2030-02-01T09:00:00Z", "completed": false})),
    )
    .await;
    let tasks = format!("/locations/{loc}/tasks/search");
    d.expect(
        200,
        Method::POST,
        &tasks,
        Some(json!({"contactId": [ada], "completed": false, "limit": 10, "skip": 0})),
    )
    .await;
    d.expect(422, Method::POST, &tasks, Some(json!({"completed": "yes"})))
        .await;

    // OAuth.
    let code = sb
        .state
        .issue_auth_code(NewAuthCode {
            client_id: DEMO_CLIENT_ID.into(),
            location_id: loc.into(),
            user_id: None,
            company_id: None,
        })
        .expect("code")
        .code;
    let form = |extra: &[(&'static str, String)]| {
        let mut f: Vec<(&'static str, String)> = vec![
            ("client_id", DEMO_CLIENT_ID.into()),
            ("client_secret", DEMO_CLIENT_SECRET.into()),
        ];
        f.extend_from_slice(extra);
        f
    };
    let token = |f: Vec<(&'static str, String)>| sb.http.post(sb.url("/oauth/token")).form(&f);
    let grant = d
        .raw(
            token(form(&[
                ("grant_type", "authorization_code".into()),
                ("code", code),
            ])),
            "POST",
            "/oauth/token",
            200,
        )
        .await;
    let refresh = id(&grant, "/refresh_token");
    d.raw(
        token(form(&[
            ("grant_type", "refresh_token".into()),
            ("refresh_token", refresh.clone()),
        ])),
        "POST",
        "/oauth/token",
        200,
    )
    .await;
    d.raw(
        token(form(&[
            ("grant_type", "refresh_token".into()),
            ("refresh_token", refresh),
        ])),
        "POST",
        "/oauth/token",
        400,
    )
    .await;
    d.raw(
        token(vec![
            ("client_id", DEMO_CLIENT_ID.into()),
            ("client_secret", "nope".into()),
            ("grant_type", "refresh_token".into()),
        ]),
        "POST",
        "/oauth/token",
        401,
    )
    .await;
    d.raw(
        token(vec![("grant_type", "password".into())]),
        "POST",
        "/oauth/token",
        422,
    )
    .await;

    // Agency install: company token, location token, installed locations.
    let code = sb
        .state
        .issue_auth_code(NewAuthCode {
            client_id: DEMO_CLIENT_ID.into(),
            company_id: Some(DEMO_COMPANY_ID.into()),
            ..NewAuthCode::default()
        })
        .expect("agency code")
        .code;
    let agency = d
        .raw(
            token(form(&[
                ("grant_type", "authorization_code".into()),
                ("code", code),
                ("user_type", "Company".into()),
            ])),
            "POST",
            "/oauth/token",
            200,
        )
        .await;
    let agency = id(&agency, "/access_token");
    let location_token = |token: &str, f: &[(&str, &str)]| {
        sb.http
            .post(sb.url("/oauth/locationToken"))
            .bearer_auth(token)
            .header("Version", VERSION)
            .form(f)
    };
    let pair = [("companyId", DEMO_COMPANY_ID), ("locationId", loc)];
    for (token, fields, status) in [
        (agency.as_str(), &pair[..], 200),
        (agency.as_str(), &pair[..1], 422),
        (relay_sandbox::DEMO_TOKEN, &pair[..], 401),
    ] {
        d.raw(
            location_token(token, fields),
            "POST",
            "/oauth/locationToken",
            status,
        )
        .await;
    }
    let installed = |query: &str| {
        sb.http
            .get(sb.url(&format!("/oauth/installedLocations?{query}")))
            .bearer_auth(&agency)
            .header("Version", VERSION)
    };
    for (query, status) in [
        (
            format!("companyId={DEMO_COMPANY_ID}&appId={DEMO_CLIENT_ID}"),
            200,
        ),
        (format!("companyId={DEMO_COMPANY_ID}"), 422),
    ] {
        d.raw(
            installed(&query),
            "GET",
            &format!("/oauth/installedLocations?{query}"),
            status,
        )
        .await;
    }

    sb.state.advance_clock(Duration::from_secs(86_400));
    d.raw(
        sb.ghl_as(
            &id(&grant, "/access_token"),
            Method::GET,
            &format!("/contacts/{ada}"),
        ),
        "GET",
        &format!("/contacts/{ada}"),
        401,
    )
    .await;
}

fn report(checker: &Checker, accepted: &BTreeMap<usize, Vec<(String, u16, String)>>) -> String {
    let mut out = String::new();
    out.push_str("# Sandbox conformance with GHL's OpenAPI files\n\n");
    out.push_str(
        "Generated by the conformance test (`cargo test -p relay-sandbox --test it conformance`; \
         `SANDBOX_BLESS=1` rewrites this file, the test fails when it is stale). A scenario drives \
         every operation below through its success and error paths; each response's status must \
         be declared by the operation and its body must validate against the declared schema \
         (JSON Schema draft 7 via the `jsonschema` crate; OpenAPI `nullable` mapped to a `null` \
         type, `format` validated). Spec files: `apps/{contacts,locations,custom-fields,businesses,\
         campaigns,workflows,oauth}.json` and `common/common-schemas.json` from \
         `../shared/reference/ghl-openapi/`.\n\n",
    );
    out.push_str("## Operations exercised\n\n| spec | operation | statuses answered | schema checks |\n|---|---|---|---|\n");
    let mut unserved = Vec::new();
    for (i, op) in checker.spec.operations.iter().enumerate() {
        let Some(statuses) = checker.seen.get(&i) else {
            unserved.push(format!("`{}` {}", op.file, op.key()));
            continue;
        };
        let statuses: Vec<String> = statuses.iter().map(u16::to_string).collect();
        let differences = checker
            .findings
            .keys()
            .filter(|(k, _, _)| *k == op.key())
            .count();
        let note = if differences == 0 {
            "all pass".to_owned()
        } else {
            format!("{differences} listed below")
        };
        out.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            op.file,
            op.key(),
            statuses.join(", "),
            note
        ));
    }
    out.push_str("\n## Where the sandbox follows observed behaviour instead of the spec\n\n");
    out.push_str("Every difference the checks found is one of these (the test fails on any other), and each is observed by the scenario.\n\n");
    for (n, dev) in DEVIATIONS.iter().enumerate() {
        out.push_str(&format!(
            "### {}. {}\n\n- **Spec:** {}\n- **Sandbox:** {}\n- **Seen on:** ",
            n + 1,
            dev.title,
            dev.spec,
            dev.sandbox
        ));
        let seen: Vec<String> = accepted
            .get(&n)
            .map(|v| {
                v.iter()
                    .map(|(op, status, what)| format!("`{op}` {status}{what}"))
                    .collect()
            })
            .unwrap_or_default();
        out.push_str(&seen.join("; "));
        out.push_str("\n\n");
    }
    out.push_str("## Operations of the copied spec files the sandbox does not simulate\n\n");
    out.push_str(
        "Outside Relay's needs; requests to them answer NestJS' 404 `Cannot <METHOD> <path>`.\n\n",
    );
    for u in unserved {
        out.push_str(&format!("- {u}\n"));
    }
    out
}

#[tokio::test]
async fn every_response_matches_the_official_openapi_or_a_listed_deviation() {
    let mut cfg = SandboxConfig::for_tests();
    cfg.clock = relay_sandbox::ClockMode::Frozen;
    cfg.rate_limit.burst_max = 100_000;
    let sb = TestSandbox::with_config(cfg).await;
    let mut driver = Driver {
        sb: &sb,
        checker: Checker::new(),
    };
    scenario(&mut driver).await;
    let checker = driver.checker;
    assert!(
        checker.unmatched.is_empty(),
        "requests outside the specs: {:?}",
        checker.unmatched
    );

    // Every Contacts operation is served (answered 2xx at least once).
    let mut missing = Vec::new();
    let contacts_ops = checker
        .spec
        .operations
        .iter()
        .filter(|o| o.file == "contacts")
        .count();
    assert_eq!(contacts_ops, 32, "apps/contacts.json has 32 operations");
    for (i, op) in checker.spec.operations.iter().enumerate() {
        if op.file == "contacts"
            && !checker
                .seen
                .get(&i)
                .is_some_and(|s| s.iter().any(|c| (200..300).contains(c)))
        {
            missing.push(op.key());
        }
    }
    assert!(
        missing.is_empty(),
        "Contacts operations never answered 2xx: {missing:?}"
    );

    // Every finding is an accepted deviation, and every deviation is observed.
    let mut accepted: BTreeMap<usize, Vec<(String, u16, String)>> = BTreeMap::new();
    let mut unexpected = Vec::new();
    for ((op, status, kind), example) in &checker.findings {
        let hit = DEVIATIONS.iter().position(|d| {
            (d.kind)(kind)
                && (d.statuses.is_empty() || d.statuses.contains(status))
                && (d.operations.is_empty() || d.operations.contains(&op.as_str()))
        });
        match hit {
            Some(n) => {
                let what = match kind {
                    Kind::Schema(p) => format!(" at `{p}`"),
                    _ => String::new(),
                };
                accepted
                    .entry(n)
                    .or_default()
                    .push((op.clone(), *status, what));
            }
            None => unexpected.push(format!("{op} → {status} {kind:?}: {example}")),
        }
    }
    assert!(
        unexpected.is_empty(),
        "differences from the spec not listed in DEVIATIONS:\n{}",
        unexpected.join("\n")
    );
    let unobserved: Vec<&str> = DEVIATIONS
        .iter()
        .enumerate()
        .filter(|(n, _)| !accepted.contains_key(n))
        .map(|(_, d)| d.sandbox)
        .collect();
    assert!(
        unobserved.is_empty(),
        "listed deviations the scenario never showed: {unobserved:?}"
    );

    let text = report(&checker, &accepted);
    #[allow(clippy::disallowed_methods)] // a test's own knob, not service configuration
    let bless = std::env::var_os("SANDBOX_BLESS").is_some();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("CONFORMANCE.md");
    if bless {
        std::fs::write(&path, &text).expect("write CONFORMANCE.md");
    } else {
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == text,
            "{} is stale; rerun with SANDBOX_BLESS=1 and review the diff",
            path.display()
        );
    }
}
