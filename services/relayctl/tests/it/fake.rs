//! An in-process admin port: `relay.mapper.v1.Mapper` and `relay.admin.v1.Admin` over real gRPC
//! on 127.0.0.1, behind a bearer token, with canned answers and a record of every request.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use relay_contracts::admin::admin_server::{Admin, AdminServer};
use relay_contracts::admin::{
    GetStatusRequest, GetStatusResponse, PauseRequest, PauseResponse, ResumeRequest,
    ResumeResponse, SetLogLevelRequest, SetLogLevelResponse,
};
use relay_contracts::mapper_admin::mapper_server::{Mapper, MapperServer};
use relay_contracts::mapper_admin::{
    ApplyConnectionsRequest, ApplyConnectionsResponse, ChangeAction, Connection, ConnectionChange,
    DeleteConnectionRequest, DeleteConnectionResponse, GetConnectionRequest,
    ListConnectionsRequest, ListConnectionsResponse, PreviewRequest, PreviewResponse,
    ReplayProgress, ReplayRequest, ValidationError,
};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

pub(crate) const TOKEN: &str = "s3cret";

/// What the fake was asked.
#[derive(Default)]
pub(crate) struct Recorded {
    pub(crate) applies: Vec<ApplyConnectionsRequest>,
    pub(crate) previews: Vec<PreviewRequest>,
    pub(crate) replays: Vec<ReplayRequest>,
    pub(crate) paused: bool,
}

#[derive(Clone, Default)]
struct State {
    recorded: Arc<Mutex<Recorded>>,
    connections: Arc<Mutex<BTreeMap<String, Connection>>>,
}

pub(crate) struct FakeAdminPort {
    pub(crate) url: String,
    state: State,
}

impl FakeAdminPort {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let state = State::default();
        state
            .connections
            .lock()
            .unwrap()
            .insert("gumroad.demo".into(), connection("gumroad", "demo", 3));
        let check = |req: Request<()>| match req.metadata().get("authorization") {
            Some(v) if v == format!("Bearer {TOKEN}").as_str() => Ok(req),
            Some(_) => Err(Status::unauthenticated("invalid admin token")),
            None => Err(Status::unauthenticated("missing admin token")),
        };
        let router = tonic::transport::Server::builder()
            .add_service(MapperServer::with_interceptor(
                FakeMapper(state.clone()),
                check,
            ))
            .add_service(AdminServer::with_interceptor(
                FakeAdmin(state.clone()),
                check,
            ));
        tokio::spawn(async move {
            router
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
                .unwrap();
        });
        Self {
            url: format!("http://{addr}"),
            state,
        }
    }

    pub(crate) fn recorded(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.state.recorded.lock().unwrap()
    }

    pub(crate) fn connection_keys(&self) -> Vec<String> {
        self.state
            .connections
            .lock()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }
}

pub(crate) fn connection(source: &str, name: &str, revision: u64) -> Connection {
    Connection {
        key: format!("{source}.{name}"),
        source: source.into(),
        name: name.into(),
        location_id: format!("{name}-location"),
        enabled: true,
        rules: 2,
        playbook: "default".into(),
        yaml: format!("source: {source}\nname: {name}\nlocation_id: {name}-location\n"),
        revision,
    }
}

struct FakeMapper(State);

/// Plans the fake previews: a ContactPlan v1 as the mapper would publish it.
pub(crate) const PLAN: &str = r#"{"v":1,"id":"pln_01JDXA","location_id":"demo-location","connection":"gumroad/demo","source_event_id":"evt_01JDXA","contact":{"lookup":{"by":"external_id","value":{"field_key":"gumroad_customer_id","value":"cus_1"}},"fields":{"email":"ann@example.com"}},"steps":[{"action":"upsert_contact"},{"action":"add_tags","tags":["customer","ebook"]}]}"#;

fn progress(done: u64, total: u64, finished: bool, error: &str) -> ReplayProgress {
    ReplayProgress {
        done,
        total,
        planned: done * 8 / 10,
        unmatched: done / 10,
        failed: done / 10,
        plans: done,
        duplicates: 1,
        finished,
        error: error.into(),
        replay_id: "rpl_test".into(),
    }
}

#[tonic::async_trait]
impl Mapper for FakeMapper {
    async fn apply_connections(
        &self,
        request: Request<ApplyConnectionsRequest>,
    ) -> Result<Response<ApplyConnectionsResponse>, Status> {
        let req = request.into_inner();
        self.0.recorded.lock().unwrap().applies.push(req.clone());
        if req.yaml.trim().is_empty() {
            return Err(Status::invalid_argument(format!(
                "{}: empty document",
                req.file_name
            )));
        }
        if req.yaml.contains("add_tag:") {
            return Ok(Response::new(ApplyConnectionsResponse {
                errors: vec![
                    ValidationError {
                        file: req.file_name.clone(),
                        line: 7,
                        column: 13,
                        message: "unknown step `add_tag` (did you mean `add_tags`?)".into(),
                    },
                    ValidationError {
                        file: req.file_name,
                        line: 2,
                        column: 5,
                        message: "missing field `location_id`".into(),
                    },
                ],
                changes: vec![],
                applied: false,
            }));
        }
        let changes = vec![
            ConnectionChange {
                key: "gumroad.demo".into(),
                action: ChangeAction::Unchanged.into(),
                diff: String::new(),
            },
            ConnectionChange {
                key: "bmc.demo".into(),
                action: ChangeAction::Create.into(),
                diff: "--- bmc.demo\n+++ bmc.demo\n@@ -0,0 +1 @@\n+source: bmc\n".into(),
            },
            ConnectionChange {
                key: "thrivecart.shop".into(),
                action: ChangeAction::Update.into(),
                diff: "--- thrivecart.shop (stored)\n+++ thrivecart.shop (new)\n@@ -1,2 +1,2 @@\n source: thrivecart\n-enabled: true\n+enabled: false\n".into(),
            },
        ];
        if !req.dry_run {
            let mut stored = self.0.connections.lock().unwrap();
            stored.insert("bmc.demo".into(), connection("bmc", "demo", 1));
            stored.insert(
                "thrivecart.shop".into(),
                connection("thrivecart", "shop", 5),
            );
        }
        Ok(Response::new(ApplyConnectionsResponse {
            errors: vec![],
            changes,
            applied: !req.dry_run,
        }))
    }

    async fn list_connections(
        &self,
        _: Request<ListConnectionsRequest>,
    ) -> Result<Response<ListConnectionsResponse>, Status> {
        Ok(Response::new(ListConnectionsResponse {
            connections: self
                .0
                .connections
                .lock()
                .unwrap()
                .values()
                .cloned()
                .collect(),
        }))
    }

    async fn get_connection(
        &self,
        request: Request<GetConnectionRequest>,
    ) -> Result<Response<Connection>, Status> {
        let key = request.into_inner().key;
        self.0
            .connections
            .lock()
            .unwrap()
            .get(&key)
            .cloned()
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("no connection {key}")))
    }

    async fn delete_connection(
        &self,
        request: Request<DeleteConnectionRequest>,
    ) -> Result<Response<DeleteConnectionResponse>, Status> {
        let key = request.into_inner().key;
        // `soft.*` keys answer `deleted: false` instead of NotFound: both mean "no such key".
        if key.starts_with("soft.") {
            return Ok(Response::new(DeleteConnectionResponse { deleted: false }));
        }
        match self.0.connections.lock().unwrap().remove(&key) {
            Some(_) => Ok(Response::new(DeleteConnectionResponse { deleted: true })),
            None => Err(Status::not_found(format!("no connection {key}"))),
        }
    }

    async fn preview(
        &self,
        request: Request<PreviewRequest>,
    ) -> Result<Response<PreviewResponse>, Status> {
        let req = request.into_inner();
        self.0.recorded.lock().unwrap().previews.push(req.clone());
        if req.event_json.contains("\"v\": 9") {
            return Err(Status::invalid_argument(
                "event: unsupported StorefrontEvent version 9 (supported: 1)",
            ));
        }
        if req.connection_yaml.is_empty()
            && !self
                .0
                .connections
                .lock()
                .unwrap()
                .contains_key(&req.connection)
        {
            return Err(Status::not_found(format!(
                "no connection {}",
                req.connection
            )));
        }
        let plans_json = if req.event_json.contains("unmatched") {
            vec![]
        } else {
            vec![PLAN.to_owned()]
        };
        Ok(Response::new(PreviewResponse { plans_json }))
    }

    type ReplayStream = Pin<Box<dyn Stream<Item = Result<ReplayProgress, Status>> + Send>>;

    async fn replay(
        &self,
        request: Request<ReplayRequest>,
    ) -> Result<Response<Self::ReplayStream>, Status> {
        let req = request.into_inner();
        self.0.recorded.lock().unwrap().replays.push(req.clone());
        let items: Vec<Result<ReplayProgress, Status>> = match req.subject.as_str() {
            "evt.none.>" => {
                return Err(Status::invalid_argument(
                    "subject evt.none.> matches no EVENTS subject",
                ));
            }
            "evt.fail.>" => vec![
                Ok(progress(0, 100, false, "")),
                Ok(progress(40, 100, true, "EVENTS: consumer deleted")),
            ],
            "evt.broken.>" => vec![
                Ok(progress(0, 100, false, "")),
                Ok(progress(10, 100, false, "")),
                Err(Status::internal("mapper shutting down")),
            ],
            "evt.short.>" => vec![
                Ok(progress(0, 100, false, "")),
                Ok(progress(50, 100, false, "")),
            ],
            _ => (0..=10)
                .map(|i| Ok(progress(i * 100, 1000, i == 10, "")))
                .collect(),
        };
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
    }
}

struct FakeAdmin(State);

#[tonic::async_trait]
impl Admin for FakeAdmin {
    async fn get_status(
        &self,
        _: Request<GetStatusRequest>,
    ) -> Result<Response<GetStatusResponse>, Status> {
        Ok(Response::new(GetStatusResponse {
            version: "0.1.0-test".into(),
            uptime_seconds: 42,
            ready: true,
            paused: self.0.recorded.lock().unwrap().paused,
            nats: relay_contracts::admin::NatsState::Connected.into(),
            ..Default::default()
        }))
    }

    async fn pause(&self, _: Request<PauseRequest>) -> Result<Response<PauseResponse>, Status> {
        self.0.recorded.lock().unwrap().paused = true;
        Ok(Response::new(PauseResponse { paused: true }))
    }

    async fn resume(&self, _: Request<ResumeRequest>) -> Result<Response<ResumeResponse>, Status> {
        self.0.recorded.lock().unwrap().paused = false;
        Ok(Response::new(ResumeResponse { paused: false }))
    }

    async fn set_log_level(
        &self,
        request: Request<SetLogLevelRequest>,
    ) -> Result<Response<SetLogLevelResponse>, Status> {
        Ok(Response::new(SetLogLevelResponse {
            filter: request.into_inner().filter,
        }))
    }
}
