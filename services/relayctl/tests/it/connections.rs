use crate::{FakeAdminPort, dead_url, file, relayctl, relayctl_with};

const GOOD: &str =
    "connections:\n  - source: bmc\n    name: demo\n    location_id: demo-location\n";
const BAD: &str = "connections:\n  - source: bmc\n    name: demo\n    rules:\n      - name: x\n        steps:\n          - add_tag: [a]\n";

#[tokio::test]
async fn apply_prints_changes_kubectl_style() {
    let port = FakeAdminPort::start().await;
    let (_dir, path) = file("conns.yaml", GOOD);
    let path = path.to_str().unwrap();
    let run = relayctl(&port, &["connections", "apply", "-f", path]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "\
gumroad.demo unchanged
bmc.demo created
thrivecart.shop configured
    --- thrivecart.shop (stored)
    +++ thrivecart.shop (new)
    @@ -1,2 +1,2 @@
     source: thrivecart
    -enabled: true
    +enabled: false
applied: 1 created, 1 configured, 1 unchanged
"
    );
    assert_eq!(run.stderr, "");
    let recorded = port.recorded();
    let req = &recorded.applies[0];
    assert_eq!(req.file_name, path, "file_name is the path as given");
    assert_eq!(req.yaml, GOOD);
    assert!(!req.dry_run);
    drop(recorded);
    assert!(port.connection_keys().contains(&"bmc.demo".to_owned()));
}

#[tokio::test]
async fn apply_dry_run_applies_nothing_and_says_so() {
    let port = FakeAdminPort::start().await;
    let (_dir, path) = file("conns.yaml", GOOD);
    let run = relayctl(
        &port,
        &[
            "connections",
            "apply",
            "--dry-run",
            "-f",
            path.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("bmc.demo created (dry run)\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("thrivecart.shop configured (dry run)\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .ends_with("dry run: nothing applied (1 to create, 1 to configure, 1 unchanged)\n"),
        "{}",
        run.stdout
    );
    assert!(port.recorded().applies[0].dry_run);
    assert_eq!(port.connection_keys(), ["gumroad.demo"]);
}

#[tokio::test]
async fn apply_validation_errors_exit_65() {
    let port = FakeAdminPort::start().await;
    let (_dir, path) = file("bad.yaml", BAD);
    let path = path.to_str().unwrap();
    let run = relayctl(&port, &["connections", "apply", "-f", path]).await;
    assert_eq!(run.code, 65, "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "{path}:7:13: unknown step `add_tag` (did you mean `add_tags`?)\n\
             {path}:2:5: missing field `location_id`\n\
             {path}: 2 errors — nothing was applied\n"
        )
    );

    let run = relayctl(&port, &["connections", "apply", "-f", path, "--json"]).await;
    assert_eq!(run.code, 65, "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["errors"][0]["line"], 7);
    assert_eq!(json["errors"][0]["column"], 13);
    assert_eq!(json["applied"], false);
}

#[tokio::test]
async fn apply_rejected_by_the_server_exits_65_with_its_message() {
    let port = FakeAdminPort::start().await;
    let (_dir, path) = file("empty.yaml", "");
    let run = relayctl(
        &port,
        &["connections", "apply", "-f", path.to_str().unwrap()],
    )
    .await;
    assert_eq!(run.code, 65, "{run:?}");
    assert!(
        run.stderr.contains("empty.yaml: empty document"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn apply_of_a_missing_file() {
    let port = FakeAdminPort::start().await;
    let run = relayctl(
        &port,
        &["connections", "apply", "-f", "/nonexistent/c.yaml"],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("cannot read /nonexistent/c.yaml"),
        "{}",
        run.stderr
    );
    assert!(port.recorded().applies.is_empty());
}

#[tokio::test]
async fn apply_json() {
    let port = FakeAdminPort::start().await;
    let (_dir, path) = file("conns.yaml", GOOD);
    let run = relayctl(
        &port,
        &[
            "--json",
            "connections",
            "apply",
            "-f",
            path.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["applied"], true);
    assert_eq!(json["dry_run"], false);
    assert_eq!(json["changes"][1]["key"], "bmc.demo");
    assert_eq!(json["changes"][1]["action"], "create");
    assert_eq!(json["errors"], serde_json::json!([]));
}

#[tokio::test]
async fn list_get_delete() {
    let port = FakeAdminPort::start().await;
    let run = relayctl(&port, &["connections", "list"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    for cell in ["gumroad.demo", "gumroad", "demo-location", "default", "3"] {
        assert!(run.stdout.contains(cell), "{cell}: {}", run.stdout);
    }

    let run = relayctl(&port, &["connections", "list", "--json"]).await;
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json[0]["key"], "gumroad.demo");
    assert_eq!(json[0]["revision"], 3);

    let run = relayctl(&port, &["connections", "get", "gumroad.demo"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "source: gumroad\nname: demo\nlocation_id: demo-location\n"
    );

    let run = relayctl(&port, &["connections", "get", "gumroad.demo", "--json"]).await;
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["location_id"], "demo-location");
    assert_eq!(json["enabled"], true);
    assert_eq!(json["rules"], 2);
    assert_eq!(json["playbook"], "default");

    let run = relayctl(&port, &["connections", "delete", "gumroad.demo"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "gumroad.demo deleted\n");
    assert!(port.connection_keys().is_empty());

    let run = relayctl(&port, &["connections", "list"]).await;
    assert!(run.stdout.starts_with("no connections"), "{}", run.stdout);
}

#[tokio::test]
async fn missing_connections_exit_1_clearly() {
    let port = FakeAdminPort::start().await;
    for args in [
        &["connections", "get", "gumroad.nope"][..],
        &["connections", "delete", "gumroad.nope"],
        &["connections", "delete", "soft.nope"],
    ] {
        let run = relayctl(&port, args).await;
        assert_eq!(run.code, 1, "{run:?}");
        let key = args[2];
        assert!(
            run.stderr
                .contains(&format!("connection \"{key}\" does not exist")),
            "{}",
            run.stderr
        );
    }
}

#[tokio::test]
async fn wrong_or_missing_token() {
    let port = FakeAdminPort::start().await;
    let run = relayctl_with(&port.url, "wrong", &["connections", "list"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "relayctl: mapper: the admin token was refused (invalid admin token)\n"
    );

    let service = format!("mapper={}", port.url);
    let cli = <relayctl::Cli as clap::Parser>::try_parse_from([
        "relayctl",
        "--service",
        &service,
        "connections",
        "list",
    ])
    .unwrap();
    if cli.token.is_none() {
        let mut con = relayctl::Console::new(std::io::sink(), std::io::sink());
        let e = relayctl::run_with(cli, &mut con).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "no admin token: pass --token or set RELAY_ADMIN_TOKEN"
        );
    }
}

#[tokio::test]
async fn unreachable_mapper() {
    let url = dead_url().await;
    let run = relayctl_with(&url, "t", &["connections", "list"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .starts_with(&format!("relayctl: mapper is unreachable at {url}: ")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.to_lowercase().contains("refused"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn no_mapper_among_the_services() {
    let port = FakeAdminPort::start().await;
    let service = format!("writer={}", port.url);
    let cli = <relayctl::Cli as clap::Parser>::try_parse_from([
        "relayctl",
        "--service",
        &service,
        "--token",
        crate::TOKEN,
        "connections",
        "list",
    ])
    .unwrap();
    let mut con = relayctl::Console::new(std::io::sink(), std::io::sink());
    let e = relayctl::run_with(cli, &mut con).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown service \"mapper\" (known: writer); pass --service mapper=URL"
    );
}
