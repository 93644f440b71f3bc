//! `cfsign healthcheck`: exit 0 when the service answers 200, so a container
//! image needs no curl. Without `--url` it checks the address `cfsign serve`
//! would listen on, read from the same flags and environment.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use url::Url;

use super::error::CliError;
use crate::config;

/// `cfsign healthcheck`: which address is checked, first match wins.
#[derive(Debug, Args)]
#[command(after_help = "\
Without --url the address is the one `cfsign serve` would listen on with the same flags and
environment: --listen/CFSIGN_LISTEN, else server.listen of --config/CFSIGN_CONFIG (with
CFSIGN_SERVER__LISTEN applied), else 127.0.0.1:8080. A 0.0.0.0 or :: address is checked on
loopback. Exit 0 when ready; 1 when not ready or unreachable; 2 for a bad flag or configuration.")]
pub struct HealthcheckArgs {
    /// URL to check: a base URL (`/readyz` is added), or one ending in
    /// `/readyz` or `/healthz` (used as is); `http://` when no scheme.
    #[arg(long, env = "CFSIGN_URL")]
    pub url: Option<String>,
    /// The address `serve` was given with --listen / CFSIGN_LISTEN.
    #[arg(long, env = "CFSIGN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// The configuration file `serve` runs with (its `server.listen`).
    #[arg(long, short, env = "CFSIGN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Give up after this long.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// Exit 0 when the service answers 200 (container HEALTHCHECK without curl).
pub fn healthcheck(args: HealthcheckArgs) -> Result<(), CliError> {
    let (url, from) = probe_target(&args)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Service(e.to_string()))?;
    let answer = rt.block_on(async {
        // A probe of the local service: never through a proxy from the
        // environment, never to wherever a redirect points.
        let client = reqwest::Client::builder()
            .timeout(args.timeout)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let response = client.get(url.clone()).send().await.map_err(|e| {
            if e.is_timeout() {
                format!("no answer within {}", humantime::format_duration(args.timeout))
            } else {
                root_cause(&e)
            }
        })?;
        Ok::<_, String>(response.status())
    });
    match answer {
        Ok(status) if status.is_success() => {
            println!("ready");
            Ok(())
        }
        Ok(status) => Err(CliError::Unhealthy(format!("GET {url} ({from}) answered {status}"))),
        Err(cause) => Err(CliError::Unhealthy(format!("GET {url} ({from}): {cause}"))),
    }
}

/// The URL to check, and where it came from (for the failure line).
fn probe_target(args: &HealthcheckArgs) -> Result<(Url, String), CliError> {
    if let Some(raw) = &args.url {
        return Ok((probe_url(raw)?, "--url".into()));
    }
    if let Some(listen) = args.listen {
        return Ok((
            listen_url(listen, "--listen")?,
            format!("--listen/CFSIGN_LISTEN {listen}"),
        ));
    }
    if let Some(path) = &args.config {
        let listen = listen_of(path)?;
        let from = format!("server.listen {listen} of {}", path.display());
        return Ok((listen_url(listen, "--config")?, from));
    }
    let default = SocketAddr::from((Ipv4Addr::LOCALHOST, 8080));
    Ok((listen_url(default, "--url")?, "the default address".into()))
}

/// `server.listen` as `serve` would read it (file, then `CFSIGN_*__*`).
fn listen_of(path: &Path) -> Result<SocketAddr, CliError> {
    Ok(config::load(path).map_err(CliError::Config)?.server.listen)
}

/// `--url` made whole: `http://` when it names no scheme; `/readyz`
/// appended unless the path already ends in `/readyz` or `/healthz`.
fn probe_url(raw: &str) -> Result<Url, CliError> {
    let malformed = |message: String| CliError::Malformed { flag: "--url", message };
    // `localhost:8080` would parse as the scheme `localhost`: look for `://`.
    let text = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    let mut url = Url::parse(&text).map_err(|e| malformed(format!("{raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(malformed(format!("{raw:?}: only http:// and https:// can be checked")));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    if path.ends_with("/readyz") || path.ends_with("/healthz") {
        url.set_path(&path);
    } else {
        url.set_path(&format!("{path}/readyz"));
    }
    Ok(url)
}

/// `http://addr/readyz`, on loopback when `addr` listens on every interface.
fn listen_url(addr: SocketAddr, flag: &'static str) -> Result<Url, CliError> {
    if addr.port() == 0 {
        return Err(CliError::Malformed {
            flag,
            message: format!("{addr} lets the kernel choose the port, so it cannot be checked: pass --url"),
        });
    }
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Url::parse(&format!("http://{}/readyz", SocketAddr::new(ip, addr.port()))).map_err(|e| CliError::Malformed {
        flag,
        message: e.to_string(),
    })
}

/// The innermost cause ("Connection refused (os error 111)"): reqwest's
/// own message only repeats the URL.
fn root_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: Option<&str>, listen: Option<&str>) -> HealthcheckArgs {
        HealthcheckArgs {
            url: url.map(str::to_owned),
            listen: listen.map(|l| l.parse().unwrap()),
            config: None,
            timeout: Duration::from_secs(1),
        }
    }

    fn target(url: Option<&str>, listen: Option<&str>) -> String {
        probe_target(&args(url, listen)).unwrap().0.to_string()
    }

    #[test]
    fn url_forms_become_one_probe_url() {
        for (given, checked) in [
            ("http://127.0.0.1:18080", "http://127.0.0.1:18080/readyz"),
            ("http://127.0.0.1:18080/", "http://127.0.0.1:18080/readyz"),
            ("http://127.0.0.1:18080/readyz", "http://127.0.0.1:18080/readyz"),
            ("http://127.0.0.1:18080/readyz/", "http://127.0.0.1:18080/readyz"),
            ("http://127.0.0.1:18080/healthz", "http://127.0.0.1:18080/healthz"),
            ("localhost:18080/readyz", "http://localhost:18080/readyz"),
            ("localhost:18080", "http://localhost:18080/readyz"),
            ("https://cfsign.internal/base/", "https://cfsign.internal/base/readyz"),
            ("[::1]:8080", "http://[::1]:8080/readyz"),
        ] {
            assert_eq!(target(Some(given), Some("127.0.0.1:1")), checked, "{given}");
        }
    }

    #[test]
    fn bad_urls_are_input_errors() {
        for bad in ["ftp://host/", "http://", "http://exa mple/"] {
            let error = probe_target(&args(Some(bad), None)).unwrap_err();
            assert!(
                matches!(error, CliError::Malformed { flag: "--url", .. }),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn listen_addresses_on_every_interface_are_checked_on_loopback() {
        assert_eq!(target(None, Some("0.0.0.0:9000")), "http://127.0.0.1:9000/readyz");
        assert_eq!(target(None, Some("[::]:9000")), "http://[::1]:9000/readyz");
        assert_eq!(target(None, Some("10.1.2.3:9000")), "http://10.1.2.3:9000/readyz");
        assert_eq!(target(None, None), "http://127.0.0.1:8080/readyz");
        assert!(matches!(
            probe_target(&args(None, Some("0.0.0.0:0"))),
            Err(CliError::Malformed { .. })
        ));
    }
}
