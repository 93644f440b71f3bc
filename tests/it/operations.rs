//! The commands an operator runs around the service: `cfsign healthcheck`
//! finds the address `cfsign serve` listens on (flags, environment and
//! configuration as `serve` reads them) and fails with one line; `serve
//! --help` and `dev --help` document the environment.

use std::time::Duration;

use crate::harness::binary::{Exited, Server, config_dir, run_cfsign_env};

const WAIT: Duration = Duration::from_secs(10);

fn healthcheck(args: &[&str], envs: &[(&str, &str)]) -> Exited {
    let mut all = vec!["healthcheck", "--timeout", "3s"];
    all.extend_from_slice(args);
    run_cfsign_env(&all, envs, WAIT)
}

#[track_caller]
fn assert_ready(out: &Exited, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: stdout {:?} stderr {:?}",
        out.stdout,
        out.stderr
    );
    assert_eq!(out.stdout, ["ready"], "{what}");
}

/// A port nothing listens on: bound, read, released.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A valid configuration file whose `server.listen` is `listen`.
fn config_listening_on(listen: String) -> (tempfile::TempDir, String) {
    let (dir, path) = config_dir(|c| {
        c.add_reports();
        c.server.listen = Some(listen);
    });
    (dir, path.display().to_string())
}

#[test]
fn healthcheck_finds_the_service_from_the_url_the_listen_address_or_the_config() {
    let server = Server::start(|c| c.add_reports());
    let port = server.addr.port();
    let base = server.base.clone();

    // --url: a base URL, the probe paths, no scheme.
    for url in [
        base.clone(),
        format!("{base}/"),
        format!("{base}/readyz"),
        format!("{base}/healthz"),
        format!("127.0.0.1:{port}/readyz"),
        format!("localhost:{port}"),
    ] {
        assert_ready(&healthcheck(&["--url", &url], &[]), &url);
    }
    let url_env = format!("127.0.0.1:{port}");
    assert_ready(&healthcheck(&[], &[("CFSIGN_URL", &url_env)]), "CFSIGN_URL");

    // CFSIGN_LISTEN, as the image sets it: every interface, checked on loopback.
    let listen = format!("0.0.0.0:{port}");
    assert_ready(&healthcheck(&[], &[("CFSIGN_LISTEN", &listen)]), "CFSIGN_LISTEN");
    assert_ready(&healthcheck(&["--listen", &listen], &[]), "--listen");

    // The configuration's server.listen, by flag or CFSIGN_CONFIG, with
    // CFSIGN_SERVER__LISTEN applied over the file as `serve` applies it.
    let (_dir, config) = config_listening_on(format!("0.0.0.0:{port}"));
    assert_ready(&healthcheck(&["--config", &config], &[]), "--config");
    assert_ready(&healthcheck(&[], &[("CFSIGN_CONFIG", &config)]), "CFSIGN_CONFIG");
    let (_dir, elsewhere) = config_listening_on(format!("127.0.0.1:{}", closed_port()));
    let env_listen = format!("127.0.0.1:{port}");
    assert_ready(
        &healthcheck(&["--config", &elsewhere], &[("CFSIGN_SERVER__LISTEN", &env_listen)]),
        "CFSIGN_SERVER__LISTEN over the file",
    );
    // CFSIGN_LISTEN beats the file's server.listen, for serve and for the check.
    assert_ready(
        &healthcheck(&["--config", &elsewhere], &[("CFSIGN_LISTEN", &listen)]),
        "CFSIGN_LISTEN over --config",
    );
}

#[test]
fn healthcheck_failures_are_one_line_naming_what_was_checked_and_why() {
    let port = closed_port();
    let listen = format!("0.0.0.0:{port}");
    let out = healthcheck(&[], &[("CFSIGN_LISTEN", &listen)]);
    assert_eq!(out.status.code(), Some(1), "{:?}", out.stderr);
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
    assert_eq!(out.stderr.len(), 1, "{:?}", out.stderr);
    let line = &out.stderr[0];
    assert!(line.starts_with("error: not ready: "), "{line}");
    assert!(line.contains(&format!("http://127.0.0.1:{port}/readyz")), "{line}");
    assert!(line.contains("CFSIGN_LISTEN"), "{line}");
    assert!(line.to_lowercase().contains("connection refused"), "{line}");
    assert!(!line.contains("builder error"), "{line}");

    // The configuration named: its file in the line.
    let (_dir, config) = config_listening_on(format!("127.0.0.1:{port}"));
    let out = healthcheck(&["--config", &config], &[]);
    assert_eq!(out.status.code(), Some(1), "{:?}", out.stderr);
    assert!(out.stderr[0].contains(&config), "{:?}", out.stderr);

    // Bad input: exit 2, one line.
    for (args, needle) in [
        (vec!["--url", "ftp://127.0.0.1/"], "--url"),
        (vec!["--url", "http://"], "--url"),
        (vec!["--listen", "0.0.0.0:0"], "--listen"),
        (vec!["--config", "/nonexistent/cfsign.toml"], "/nonexistent/cfsign.toml"),
    ] {
        let out = healthcheck(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {:?}", out.stderr);
        assert_eq!(out.stderr.len(), 1, "{args:?}: {:?}", out.stderr);
        assert!(
            out.stderr[0].starts_with("error: ") && out.stderr[0].contains(needle),
            "{args:?}: {:?}",
            out.stderr
        );
    }
}

#[test]
fn serve_and_dev_help_name_rust_log_and_the_environment_rule() {
    for command in ["serve", "dev"] {
        let out = run_cfsign_env(&[command, "--help"], &[], WAIT);
        assert_eq!(out.status.code(), Some(0), "{command}: {:?}", out.stderr);
        let text = out.stdout.join("\n");
        for needle in [
            "RUST_LOG",
            "CFSIGN_<SECTION>__<KEY>",
            "CFSIGN_SERVER__LISTEN",
            "CFSIGN_LISTEN",
        ] {
            assert!(
                text.contains(needle),
                "`cfsign {command} --help` does not mention {needle}:\n{text}"
            );
        }
    }
}
