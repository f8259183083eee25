//! Authenticated clients of the admin gRPC API.

use std::net::SocketAddr;

use relay_contracts::admin::admin_client::AdminClient;

use crate::ADMIN_TOKEN;

/// Adds the test admin token to every call.
#[derive(Clone, Copy, Debug)]
pub struct TestToken;

impl tonic::service::Interceptor for TestToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let value = format!("Bearer {ADMIN_TOKEN}")
            .parse()
            .map_err(|_| tonic::Status::internal("token header"))?;
        req.metadata_mut().insert("authorization", value);
        Ok(req)
    }
}

pub type TestAdminClient = AdminClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, TestToken>,
>;

/// An authenticated admin client, or why it cannot connect (yet).
pub async fn try_admin_client(
    addr: SocketAddr,
) -> Result<TestAdminClient, tonic::transport::Error> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    Ok(AdminClient::with_interceptor(channel, TestToken))
}
