//! `relay-ingest-thrivecart`: Thrivecart webhook ingest.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    relay_ingest::entry::main(
        "relay-ingest-thrivecart",
        relay_ingest_thrivecart::Thrivecart,
    )
    .await
}
