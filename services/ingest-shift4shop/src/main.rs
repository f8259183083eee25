//! `relay-ingest-shift4shop`: Shift4shop webhook ingest.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    relay_ingest::entry::main(
        "relay-ingest-shift4shop",
        relay_ingest_shift4shop::Shift4shop,
    )
    .await
}
