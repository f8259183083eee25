use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = relayctl::Cli::parse();
    match relayctl::run(cli).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("relayctl: {e:#}");
            std::process::exit(relayctl::exit_code(&e));
        }
    }
}
