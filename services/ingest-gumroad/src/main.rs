//! `relay-ingest-gumroad`: Gumroad webhook ingest.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    relay_ingest::entry::main("relay-ingest-gumroad", relay_ingest_gumroad::Gumroad).await
}
