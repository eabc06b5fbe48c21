//! Pushing a run's gauges to a Prometheus PushGateway after every pair.
//!
//! The [`Pusher`] keeps every pair's gauges of the run in its own [`Registry`] and, after each
//! pair, PUTs all of them to `<url>/metrics/job/netbench/run/<run>`. PUT replaces the group, and
//! the group always holds the whole run so far, so a long run is visible from its first pair
//! and a push that failed is made good by the next one.
//!
//! Failures (gateway down, wrong credentials, untrusted certificate) come back as a
//! [`MetricsError`] for the caller to log as a warning; they change nothing else.

use crate::{chain, pair_gauges, MetricsError};
use netbench_proto::{PairResult, RunId};
use prometheus::{Encoder, Registry, TextEncoder};
use reqwest::Url;
use std::path::PathBuf;
use std::time::Duration;

/// The `job` of the grouping key.
pub const JOB: &str = "netbench";

/// Giving up on connecting to the gateway after this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Giving up on a whole push after this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Basic auth user and password.
pub type Credentials = (String, Option<String>);

/// Where and how to push.
#[derive(Debug, Clone, Default)]
pub struct PushConfig {
    /// Base URL of the PushGateway, `http://` or `https://`, maybe with a path prefix
    /// (`https://gw.example.com/pushgateway`). Credentials may be given in it
    /// (`https://user:pass@host`) instead of `user`/`password`.
    pub url: String,
    /// Basic auth user.
    pub user: Option<String>,
    /// Basic auth password (needs `user`).
    pub password: Option<String>,
    /// A PEM file of CA certificates to trust in addition to the system's, for a gateway with a
    /// private CA.
    pub ca_file: Option<PathBuf>,
}

/// Pushes one run's pair gauges; see the module docs.
pub struct Pusher {
    client: reqwest::Client,
    /// `<url>/metrics/job/netbench/run/<run>`, without credentials.
    group_url: Url,
    auth: Option<Credentials>,
    registry: Registry,
    /// Serializes pushes, so that an older snapshot never overwrites a newer one.
    push_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("group_url", &self.group_url.as_str())
            .field("user", &self.auth.as_ref().map(|(u, _)| u))
            .finish_non_exhaustive()
    }
}

/// The group URL for a run and the credentials found in the URL, if any. Pure.
pub fn group_url(base: &str, run: &RunId) -> Result<(Url, Option<Credentials>), MetricsError> {
    let bad = |reason: &str| MetricsError::BadUrl {
        url: redact(base),
        reason: reason.to_string(),
    };
    let mut url = Url::parse(base.trim()).map_err(|e| {
        bad(&format!(
            "{e}; give the gateway's base URL, like http://pushgateway:9091"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "it must not have a query or fragment; give the gateway's base URL",
        ));
    }
    // The URL keeps them percent-encoded (`p%40ss`); basic auth wants them as they are.
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|d| d.into_owned())
            .map_err(|_| bad("its user or password is not UTF-8 once percent-decoded"))
    };
    let creds = if url.username().is_empty() {
        None
    } else {
        Some((
            decode(url.username())?,
            url.password().map(decode).transpose()?,
        ))
    };
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let path = format!(
        "{}/metrics/job/{JOB}/run/{}",
        url.path().trim_end_matches('/'),
        run.as_str()
    );
    url.set_path(&path);
    Ok((url, creds))
}

/// The URL with any password replaced, for messages.
fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Why a request got no answer, without reqwest's "error sending request for url (...)"
/// that repeats the URL.
fn send_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!(
            "no answer within {} s (connect timeout {} s)",
            REQUEST_TIMEOUT.as_secs(),
            CONNECT_TIMEOUT.as_secs()
        );
    }
    let reason = match std::error::Error::source(e) {
        Some(inner) => chain(inner),
        None => e.to_string(),
    };
    if reason.contains("certificate") {
        format!("{reason}; if the gateway uses a private CA, give its certificate as the CA file")
    } else {
        reason
    }
}

impl Pusher {
    /// Check the configuration and set up the HTTP client. Does not contact the gateway.
    pub fn new(cfg: PushConfig, run: &RunId) -> Result<Self, MetricsError> {
        let (group_url, url_creds) = group_url(&cfg.url, run)?;
        let auth = match (cfg.user, cfg.password, url_creds) {
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(MetricsError::BadUrl {
                    url: redact(&cfg.url),
                    reason: "it has credentials, and a user or password was given too; use one way"
                        .into(),
                })
            }
            (None, Some(_), None) => {
                return Err(MetricsError::Client(
                    "a PushGateway password was given without a user; give the user too".into(),
                ))
            }
            (Some(u), p, None) => Some((u, p)),
            (None, None, c) => c,
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("netbench/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &cfg.ca_file {
            let pem = std::fs::read(path).map_err(|source| MetricsError::CaFile {
                path: path.clone(),
                source,
            })?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| MetricsError::BadCa {
                    path: path.clone(),
                    reason: chain(&e),
                })?;
            if certs.is_empty() {
                return Err(MetricsError::BadCa {
                    path: path.clone(),
                    reason: "no BEGIN CERTIFICATE block found".into(),
                });
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let client = builder
            .build()
            .map_err(|e| MetricsError::Client(chain(&e)))?;
        Ok(Pusher {
            client,
            group_url,
            auth,
            registry: Registry::new(),
            push_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The URL pushed to (`<url>/metrics/job/netbench/run/<run>`), without credentials.
    pub fn url(&self) -> &str {
        self.group_url.as_str()
    }

    /// The run's gauges so far.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Add a finished pair's gauges and push the whole run so far. When the push fails the
    /// pair's gauges stay, and go with the next push.
    pub async fn push_pair(&self, result: &PairResult) -> Result<(), MetricsError> {
        let _serial = self.push_lock.lock().await;
        pair_gauges(&self.registry, result)?;
        self.put().await
    }

    /// Add a pair's gauges without pushing (a resumed run's stored pairs, pushed once after).
    pub fn add_pair(&self, result: &PairResult) -> Result<(), MetricsError> {
        pair_gauges(&self.registry, result)
    }

    /// Push the run's gauges as they are now (e.g. to retry after a failed push).
    pub async fn push(&self) -> Result<(), MetricsError> {
        let _serial = self.push_lock.lock().await;
        self.put().await
    }

    async fn put(&self) -> Result<(), MetricsError> {
        let encoder = TextEncoder::new();
        let mut body = Vec::new();
        encoder
            .encode(&self.registry.gather(), &mut body)
            .map_err(MetricsError::Encode)?;
        let mut req = self
            .client
            .put(self.group_url.clone())
            .header(reqwest::header::CONTENT_TYPE, encoder.format_type())
            .body(body);
        if let Some((user, password)) = &self.auth {
            req = req.basic_auth(user, password.as_ref());
        }
        let url = self.group_url.to_string();
        let resp = req.send().await.map_err(|e| MetricsError::Unreachable {
            url: url.clone(),
            reason: send_error(&e),
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = resp.text().await.unwrap_or_default();
        let body: String = body.trim().chars().take(500).collect();
        let hint = match status.as_u16() {
            401 | 403 => "; check the PushGateway user and password",
            404 => "; check the PushGateway URL (its base, without /metrics/...)",
            _ => "",
        };
        Err(MetricsError::Rejected {
            url,
            status: status.as_u16(),
            body: if body.is_empty() {
                status.canonical_reason().unwrap_or("no reason").to_string()
            } else {
                body
            },
            hint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunId {
        "abc123".parse().unwrap()
    }

    #[test]
    fn group_url_appends_the_grouping_key_to_any_prefix() {
        let (u, c) = group_url("http://127.0.0.1:9091", &run()).unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9091/metrics/job/netbench/run/abc123"
        );
        assert!(c.is_none());
        let (u, _) = group_url("https://gw.example/prefix/", &run()).unwrap();
        assert_eq!(
            u.as_str(),
            "https://gw.example/prefix/metrics/job/netbench/run/abc123"
        );
    }

    #[test]
    fn credentials_in_the_url_are_taken_out_of_it() {
        let (u, c) = group_url("https://me:secret@gw.example", &run()).unwrap();
        assert_eq!(
            u.as_str(),
            "https://gw.example/metrics/job/netbench/run/abc123"
        );
        assert_eq!(c, Some(("me".into(), Some("secret".into()))));
    }

    #[test]
    fn bad_urls_say_what_is_wrong_without_leaking_passwords() {
        for (url, words) in [
            ("pushgateway:9091", "scheme"),
            ("ftp://gw", "scheme must be http or https"),
            ("not a url", "like http://pushgateway:9091"),
            ("http://gw:9091/?x=1", "query"),
        ] {
            let e = group_url(url, &run()).unwrap_err().to_string();
            assert!(e.contains(words), "{url}: {e}");
        }
        let e = Pusher::new(
            PushConfig {
                url: "https://me:secret@gw".into(),
                user: Some("other".into()),
                ..Default::default()
            },
            &run(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("use one way"), "{e}");
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_a_clear_error() {
        let cfg = |p: &str| PushConfig {
            url: "https://127.0.0.1:1".into(),
            ca_file: Some(p.into()),
            ..Default::default()
        };
        let e = Pusher::new(cfg("/nonexistent/ca.pem"), &run()).unwrap_err();
        assert!(matches!(e, MetricsError::CaFile { .. }), "{e}");
        let e = Pusher::new(cfg("/etc/hostname"), &run()).unwrap_err();
        assert!(matches!(e, MetricsError::BadCa { .. }), "{e}");
    }
}
