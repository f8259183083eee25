//! `relay.mapper.v1.Mapper`: connections, preview and replay, on the mapper's admin port.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use relay_contracts::StorefrontEvent;
use relay_contracts::mapper_admin::mapper_server::Mapper;
use relay_contracts::mapper_admin::{
    ApplyConnectionsRequest, ApplyConnectionsResponse, Connection, DeleteConnectionRequest,
    DeleteConnectionResponse, GetConnectionRequest, ListConnectionsRequest,
    ListConnectionsResponse, PreviewRequest, PreviewResponse, ReplayProgress, ReplayRequest,
};
use tonic::{Request, Response, Status};

use crate::MapperHandler;
use crate::replay::{self, ReplayRange};
use crate::rules;

pub struct MapperAdmin {
    handler: Arc<MapperHandler>,
}

impl MapperAdmin {
    pub fn new(handler: Arc<MapperHandler>) -> Self {
        Self { handler }
    }
}

#[tonic::async_trait]
impl Mapper for MapperAdmin {
    async fn apply_connections(
        &self,
        req: Request<ApplyConnectionsRequest>,
    ) -> Result<Response<ApplyConnectionsResponse>, Status> {
        let req = req.into_inner();
        let file = if req.file_name.is_empty() {
            "<request>"
        } else {
            &req.file_name
        };
        let resp = self
            .handler
            .connections()
            .apply(file, &req.yaml, req.dry_run)
            .await?;
        Ok(Response::new(resp))
    }

    async fn list_connections(
        &self,
        _: Request<ListConnectionsRequest>,
    ) -> Result<Response<ListConnectionsResponse>, Status> {
        Ok(Response::new(ListConnectionsResponse {
            connections: self.handler.connections().list(),
        }))
    }

    async fn get_connection(
        &self,
        req: Request<GetConnectionRequest>,
    ) -> Result<Response<Connection>, Status> {
        Ok(Response::new(
            self.handler
                .connections()
                .connection(&req.into_inner().key)?,
        ))
    }

    async fn delete_connection(
        &self,
        req: Request<DeleteConnectionRequest>,
    ) -> Result<Response<DeleteConnectionResponse>, Status> {
        let deleted = self
            .handler
            .connections()
            .delete(&req.into_inner().key)
            .await?;
        Ok(Response::new(DeleteConnectionResponse { deleted }))
    }

    async fn preview(
        &self,
        req: Request<PreviewRequest>,
    ) -> Result<Response<PreviewResponse>, Status> {
        let req = req.into_inner();
        let event = StorefrontEvent::decode(req.event_json.as_bytes())
            .map_err(|e| Status::invalid_argument(format!("event_json: {e}")))?;
        let plans = if req.connection_yaml.is_empty() {
            let key = if req.connection.is_empty() {
                format!("{}.{}", event.source, event.connection)
            } else {
                req.connection.clone()
            };
            let loaded = self
                .handler
                .connections()
                .get_key(&key)
                .ok_or_else(|| Status::not_found(format!("no connection {key}")))?;
            loaded.compiled.plans(&event)
        } else {
            let compiled = rules::compile_file(&req.connection_yaml, "<rules>").map_err(|es| {
                Status::invalid_argument(
                    es.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n"),
                )
            })?;
            let key = format!("{}.{}", event.source, event.connection);
            let c = compiled.iter().find(|c| c.key() == key).ok_or_else(|| {
                Status::not_found(format!("the rules file has no connection {key}"))
            })?;
            c.plans(&event)
        }
        .map_err(|e| Status::failed_precondition(format!("cannot map this event: {e}")))?;
        let plans_json = plans
            .iter()
            .map(|p| serde_json::to_string_pretty(p).map_err(|e| Status::internal(e.to_string())))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(PreviewResponse { plans_json }))
    }

    type ReplayStream = Pin<Box<dyn Stream<Item = Result<ReplayProgress, Status>> + Send>>;

    async fn replay(
        &self,
        req: Request<ReplayRequest>,
    ) -> Result<Response<Self::ReplayStream>, Status> {
        let range = ReplayRange::from_request(req.get_ref()).map_err(Status::invalid_argument)?;
        if !self.handler.connections().is_loaded() {
            return Err(Status::unavailable(
                "the connections registry is not loaded yet",
            ));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(replay::run(self.handler.clone(), range, tx));
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        Ok(Response::new(Box::pin(futures::StreamExt::map(stream, Ok))))
    }
}
