//! `relay-ingest-bmc`: Bmc webhook ingest.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    relay_ingest::entry::main("relay-ingest-bmc", relay_ingest_bmc::Bmc).await
}
