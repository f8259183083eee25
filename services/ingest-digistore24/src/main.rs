//! `relay-ingest-digistore24`: Digistore24 webhook ingest.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    relay_ingest::entry::main(
        "relay-ingest-digistore24",
        relay_ingest_digistore24::Digistore24,
    )
    .await
}
