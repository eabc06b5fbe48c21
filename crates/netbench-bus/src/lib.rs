//! The thin NATS shell every netbench role shares.
//!
//! - [`NatsArgs`] / [`connect`]: one way to connect (URL, credentials, TLS CA), with a clear
//!   error when NATS cannot be reached and reconnect events in the log.
//! - [`request`] / [`reply`] / [`decode`]: control request-reply with the MessagePack codec and
//!   its `Content-Type` header.
//! - [`jetstream`]: the `NETBENCH` stream and `NETBENCH_RUNS` bucket, created from the very files
//!   shipped in `nats/`, and acked, deduplicated publishing.

pub mod auth;
pub mod cluster;
pub mod jetstream;
pub mod results_file;
pub mod tls;

use async_nats::{Client, HeaderMap, Message};
use netbench_proto::{codec, decode_control, encode_control, DecodeError, Reply};
use serde::{de::DeserializeOwned, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How to reach NATS. Shared by every subcommand (`#[command(flatten)]` in the CLI).
#[derive(Debug, Clone, Default)]
pub struct NatsArgs {
    pub url: String,
    pub user: Option<String>,
    pub password: Option<String>,
    /// CA certificate that the server's TLS certificate must chain to.
    pub tls_ca: Option<PathBuf>,
    /// A `.creds` file (user JWT and NKey seed, as `nsc generate creds` writes it), for a
    /// NATS server in operator (decentralised JWT) mode.
    pub creds: Option<PathBuf>,
    /// A file holding a user NKey seed (`SU…`), for a server that lists `nkey` users.
    pub nkey: Option<PathBuf>,
    /// A token, for a server with `authorization { token: … }`.
    pub token: Option<String>,
    /// How long to keep retrying the first connection (zero: fail fast, after one attempt).
    /// Pods use it: in Kubernetes the NATS Service may come up a moment after its clients.
    pub connect_wait: Duration,
    /// The stream and bucket names (and replicas, when creating them) of the roles that store
    /// (orchestrator, watch, launcher).
    pub store: jetstream::StoreConfig,
}

impl NatsArgs {
    /// Which login flags were given, for error messages (never their values).
    fn login_flags(&self) -> String {
        let mut given = Vec::new();
        if self.user.is_some() {
            given.push("--nats-user/--nats-password");
        }
        if self.creds.is_some() {
            given.push("--nats-creds");
        }
        if self.nkey.is_some() {
            given.push("--nats-nkey");
        }
        if self.token.is_some() {
            given.push("--nats-token");
        }
        if given.is_empty() {
            "none: the server wants a login, give one with --nats-creds, --nats-nkey, \
             --nats-token or --nats-user/--nats-password"
                .into()
        } else {
            given.join(", ")
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error(
        "cannot reach NATS at {url}: {source}. Is nats-server running there, with JetStream on? \
         Check --nats-url (or NATS_URL) and the credentials"
    )]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error(
        "NATS at {url} refused the login ({source}): check the credentials you gave \
         ({given}), that they are this server's and not expired or revoked"
    )]
    Refused {
        url: String,
        given: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error("request to {subject} failed: {source}")]
    Request {
        subject: String,
        #[source]
        source: async_nats::RequestError,
    },
    #[error("no one answers on {0}")]
    NoResponders(String),
    #[error("no answer on {subject} within {timeout:?}")]
    TimedOut { subject: String, timeout: Duration },
    #[error("bad reply on {subject}: {source}")]
    BadReply {
        subject: String,
        #[source]
        source: DecodeError,
    },
    /// A credentials file (`--nats-creds`, `--nats-nkey`) that cannot be used; checked before
    /// anything connects.
    #[error("{0}")]
    Credentials(String),
    #[error("publish failed: {0}")]
    Publish(String),
    #[error("JetStream: {0}")]
    JetStream(String),
    /// An existing stream or bucket that cannot hold netbench's data, or bad `--stream` /
    /// `--kv-bucket` / `--stream-replicas` values: nothing is changed.
    #[error("{0}")]
    Incompatible(String),
}

/// Counts connections (the first one and every reconnection), for logs and harness metrics.
#[derive(Debug, Default, Clone)]
pub struct ConnectionStats {
    connects: Arc<AtomicU64>,
}

impl ConnectionStats {
    /// How many times the client (re)connected.
    pub fn connects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }
    /// Reconnections: connections after the first.
    pub fn reconnects(&self) -> u64 {
        self.connects().saturating_sub(1)
    }
}

/// How often a client pings its server (async-nats: disconnect after two pings unanswered).
pub const PING_INTERVAL: Duration = Duration::from_secs(5);

/// Connect to NATS. `name` shows up in the server's connection list (`nats server report
/// connections`). When NATS is unreachable at first it retries for `args.connect_wait`, then
/// fails with a clear message (each attempt waits at most 10 s); once connected, the client
/// reconnects forever and logs each disconnect.
pub async fn connect(
    args: &NatsArgs,
    name: &str,
    stats: &ConnectionStats,
) -> Result<Client, BusError> {
    let connects = stats.connects.clone();
    let mut opts = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(10))
        // A server that vanished without closing the connection (its pod force-deleted, its
        // node gone) is noticed after two unanswered pings: ~10-15 s, not the default's minutes,
        // so a worker is back on another server of a cluster before its next task.
        .ping_interval(PING_INTERVAL)
        .max_reconnects(None)
        .reconnect_delay_callback(|attempt| {
            Duration::from_millis((50u64 << attempt.min(5) as u64).min(2000))
        })
        .event_callback(move |event| {
            let connects = connects.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        connects.fetch_add(1, Ordering::Relaxed);
                        tracing::info!("NATS connected")
                    }
                    async_nats::Event::Disconnected => {
                        tracing::warn!("NATS disconnected; reconnecting")
                    }
                    async_nats::Event::ServerError(e)
                        if auth_file::says_expired(&e.to_string()) =>
                    {
                        tracing::error!(
                            "the NATS server ended the login: {e}. {}",
                            auth_file::EXPIRED_ADVICE
                        )
                    }
                    async_nats::Event::ServerError(e) => tracing::error!(
                        "the NATS server refused: {e}. If it names a subject, the NATS user \
                         lacks that permission: allow it for the user or its account (the \
                         README lists what each role needs)"
                    ),
                    other => tracing::debug!("NATS event: {other}"),
                }
            }
        });
    if let (Some(u), Some(p)) = (&args.user, &args.password) {
        // Each role has its own inbox prefix, so permissions can keep replies private.
        opts = opts
            .user_and_password(u.clone(), p.clone())
            .custom_inbox_prefix(format!("_INBOX_{u}"));
    }
    if let Some(path) = &args.creds {
        let contents = auth_file::read_creds(path)?;
        opts = opts.credentials(&contents).map_err(|e| {
            BusError::Credentials(format!(
                "--nats-creds {}: {e}. Give the .creds file `nsc generate creds` writes",
                path.display()
            ))
        })?;
    }
    if let Some(path) = &args.nkey {
        opts = opts.nkey(auth_file::read_nkey(path)?);
    }
    if let Some(token) = &args.token {
        if token.is_empty() {
            return Err(BusError::Credentials(
                "--nats-token is empty: give the token the NATS server expects".into(),
            ));
        }
        opts = opts.token(token.clone());
    }
    if let Some(ca) = &args.tls_ca {
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    }
    let started = std::time::Instant::now();
    let mut attempt = 0u32;
    loop {
        match opts.clone().connect(server_list(&args.url)).await {
            Ok(client) => return Ok(client),
            // A refused login does not get better by waiting.
            Err(source)
                if matches!(
                    source.kind(),
                    async_nats::ConnectErrorKind::AuthorizationViolation
                        | async_nats::ConnectErrorKind::Authentication
                ) =>
            {
                return Err(BusError::Refused {
                    url: args.url.clone(),
                    given: args.login_flags(),
                    source,
                });
            }
            // The server ends a login whose JWT expired ("User Authentication Expired").
            Err(source) if auth_file::says_expired(&source.to_string()) => {
                return Err(BusError::Credentials(format!(
                    "NATS at {} ended the login: {source}. {}",
                    args.url,
                    auth_file::EXPIRED_ADVICE
                )));
            }
            Err(source) if started.elapsed() >= args.connect_wait => {
                return Err(BusError::Connect {
                    url: args.url.clone(),
                    source,
                });
            }
            Err(e) => {
                attempt += 1;
                tracing::info!("NATS at {} not reachable yet ({e}); retrying", args.url);
                tokio::time::sleep(Duration::from_millis((100u64 << attempt.min(4)).min(1000)))
                    .await;
            }
        }
    }
}

/// The servers of a URL list, `nats://a:4222,nats://b:4222` (every server of a NATS cluster, so
/// that a client fails over to the others when its server goes).
pub fn server_list(url: &str) -> Vec<&str> {
    url.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect()
}

/// Reading and checking `--nats-creds` and `--nats-nkey` files before connecting, so that a
/// bad file gets a message naming it and what is wrong with it.
pub mod auth_file {
    use super::BusError;
    use std::path::Path;

    const JWT_BEGIN: &str = "-----BEGIN NATS USER JWT-----";
    const SEED_BEGIN: &str = "-----BEGIN USER NKEY SEED-----";

    fn read(path: &Path, flag: &str, what: &str) -> Result<String, BusError> {
        std::fs::read_to_string(path).map_err(|e| {
            BusError::Credentials(format!(
                "{flag} {}: cannot read it ({e}). Give the path of {what}",
                path.display()
            ))
        })
    }

    /// The contents of a `.creds` file, checked: a user JWT block and a valid user seed.
    pub fn read_creds(path: &Path) -> Result<String, BusError> {
        const WHAT: &str = "the .creds file `nsc generate creds` writes";
        let contents = read(path, "--nats-creds", WHAT)?;
        let bad = |why: String| {
            BusError::Credentials(format!(
                "--nats-creds {}: {why}. Give {WHAT} (nsc generate creds -a ACCOUNT -n USER)",
                path.display()
            ))
        };
        let jwt = block_after(&contents, JWT_BEGIN)
            .ok_or_else(|| bad(format!("no user JWT in it (no \"{JWT_BEGIN}\" line)")))?;
        if jwt.split('.').count() != 3 {
            return Err(bad(
                "the user JWT in it is no JWT (not three dot-separated parts)".into(),
            ));
        }
        let exp = jwt_expiry(jwt).map_err(|why| bad(format!("its user JWT {why}")))?;
        check_not_expired(exp, now_unix()).map_err(|why| {
            BusError::Credentials(format!(
                "--nats-creds {}: {why}. Generate new creds for the user: extend its expiry \
                 (nsc edit user -a ACCOUNT -n USER --expiry 0, or a later date; push the account \
                 if the server uses a resolver) and write them again with \
                 nsc generate creds -a ACCOUNT -n USER",
                path.display()
            ))
        })?;
        let seed = block_after(&contents, SEED_BEGIN)
            .ok_or_else(|| bad(format!("no NKey seed in it (no \"{SEED_BEGIN}\" line)")))?;
        check_user_seed(seed).map_err(|why| bad(format!("its NKey seed {why}")))?;
        Ok(contents)
    }

    /// What to do about expired credentials.
    pub const EXPIRED_ADVICE: &str = "The credentials expired: generate new creds for the \
        user (extend its expiry with nsc edit user -a ACCOUNT -n USER --expiry, then \
        nsc generate creds -a ACCOUNT -n USER) and give the new file";

    /// Whether a server error says the user's authentication expired (the server sends
    /// `-ERR 'User Authentication Expired'` when a connected user's JWT expires).
    pub fn says_expired(error: &str) -> bool {
        error
            .to_ascii_lowercase()
            .contains("authentication expired")
    }

    /// Seconds since the Unix epoch, now.
    fn now_unix() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }

    /// The `exp` claim (Unix seconds) of a JWT, if it has one: its payload decoded (base64url
    /// JSON). The signature is the server's to check.
    pub fn jwt_expiry(jwt: &str) -> Result<Option<i64>, String> {
        let payload = jwt.split('.').nth(1).unwrap_or_default();
        let raw = base64url_decode(payload).ok_or("has a payload that is not base64url")?;
        let claims: serde_json::Value = serde_json::from_slice(&raw)
            .map_err(|e| format!("has a payload that is not JSON ({e})"))?;
        match claims.get("exp") {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| format!("has an exp claim that is no number ({v})")),
        }
    }

    /// An error saying when the JWT expired, if `exp` is not after `now`.
    pub fn check_not_expired(exp: Option<i64>, now: i64) -> Result<(), String> {
        match exp {
            Some(exp) if exp <= now => Err(format!(
                "the credentials expired: the user JWT expired at {} ({} ago)",
                utc(exp),
                ago(now - exp)
            )),
            _ => Ok(()),
        }
    }

    /// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (the way `nsc describe user` shows them).
    fn utc(t: i64) -> String {
        let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
        // Civil from days (H. Hinnant's algorithm), proleptic Gregorian.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }

    fn ago(secs: i64) -> String {
        match secs {
            s if s < 120 => format!("{s} s"),
            s if s < 7200 => format!("{} min", s / 60),
            s if s < 172_800 => format!("{} h", s / 3600),
            s => format!("{} days", s / 86_400),
        }
    }

    /// base64url without padding (RFC 4648 §5), as JWTs use it; padding is tolerated.
    fn base64url_decode(s: &str) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(s.len() * 3 / 4);
        let (mut buf, mut bits) = (0u32, 0u32);
        for c in s.trim_end_matches('=').bytes() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'-' | b'+' => 62,
                b'_' | b'/' => 63,
                _ => return None,
            };
            buf = (buf << 6) | u32::from(v);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((buf >> bits) as u8);
                buf &= (1 << bits) - 1;
            }
        }
        Some(out)
    }

    /// The user NKey seed in an `--nats-nkey` file (its first non-empty, non-comment line).
    pub fn read_nkey(path: &Path) -> Result<String, BusError> {
        const WHAT: &str =
            "a file holding a user NKey seed (SU…, as `nsc` or `nk -gen user` makes)";
        let contents = read(path, "--nats-nkey", WHAT)?;
        let seed = contents
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("//"))
            .ok_or_else(|| {
                BusError::Credentials(format!(
                    "--nats-nkey {}: the file is empty. Give {WHAT}",
                    path.display()
                ))
            })?;
        check_user_seed(seed).map_err(|why| {
            BusError::Credentials(format!(
                "--nats-nkey {}: the seed {why}. Give {WHAT}",
                path.display()
            ))
        })?;
        Ok(seed.to_string())
    }

    /// The first non-empty line after the line `begin`.
    fn block_after<'a>(contents: &'a str, begin: &str) -> Option<&'a str> {
        let mut lines = contents.lines().map(str::trim);
        lines.find(|l| *l == begin)?;
        lines
            .find(|l| !l.is_empty())
            .filter(|l| !l.starts_with("---"))
    }

    /// Whether `seed` is a well-formed user NKey seed: `SU…`, base32, with a valid CRC-16.
    pub fn check_user_seed(seed: &str) -> Result<(), String> {
        let kind = |c: u8| match c {
            b'U' => "a user",
            b'A' => "an account",
            b'O' => "an operator",
            b'N' => "a server",
            b'C' => "a cluster",
            b'X' => "a curve (xkey)",
            _ => "an unknown kind of",
        };
        let b = seed.as_bytes();
        if b.first() != Some(&b'S') {
            return Err(if b.first() == Some(&b'U') {
                "is a user public key (U…), not a seed (SU…)".into()
            } else {
                "is no NKey seed (seeds start with S)".into()
            });
        }
        if b.get(1) != Some(&b'U') {
            return Err(format!(
                "is {} seed (S{}…), not a user seed (SU…)",
                kind(b.get(1).copied().unwrap_or(b'?')),
                b.get(1).map(|c| *c as char).unwrap_or('?')
            ));
        }
        let raw = base32_decode(seed).ok_or("is not valid base32")?;
        if raw.len() != 36 {
            return Err(format!(
                "has the wrong length ({} characters, not 58)",
                seed.len()
            ));
        }
        let (body, crc) = raw.split_at(raw.len() - 2);
        if crc16(body) != u16::from_le_bytes([crc[0], crc[1]]) {
            return Err("has a wrong checksum (is it cut or mistyped?)".into());
        }
        Ok(())
    }

    fn base32_decode(s: &str) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(s.len() * 5 / 8);
        let (mut buf, mut bits) = (0u32, 0u32);
        for c in s.bytes() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'2'..=b'7' => c - b'2' + 26,
                _ => return None,
            };
            buf = (buf << 5) | u32::from(v);
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((buf >> bits) as u8);
                buf &= (1 << bits) - 1;
            }
        }
        Some(out)
    }

    /// CRC-16/XMODEM, as NKeys use it.
    fn crc16(data: &[u8]) -> u16 {
        let mut crc = 0u16;
        for &b in data {
            crc ^= u16::from(b) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        // From the NKeys documentation (a published example user seed).
        const SEED: &str = "SUAIO3FHUX5PNV2LQIIP7TZ3N4L7TX3W53MQGEIVYFIGA635OZCKEYHFLM";

        #[test]
        fn seeds_are_checked() {
            assert_eq!(check_user_seed(SEED), Ok(()));
            let account = format!("SA{}", &SEED[2..]);
            assert!(check_user_seed(&account)
                .unwrap_err()
                .contains("an account seed"));
            let mut typo = SEED.to_string();
            typo.replace_range(20..21, if &SEED[20..21] == "A" { "B" } else { "A" });
            assert!(check_user_seed(&typo).unwrap_err().contains("checksum"));
            assert!(check_user_seed(&SEED[..40]).is_err());
            assert!(check_user_seed("UAXYZ").unwrap_err().contains("public key"));
        }

        #[test]
        fn jwt_expiry_is_read_from_the_payload() {
            // header.payload.signature, the payload {"exp":1577836800,"sub":"U"} in base64url.
            let jwt = "eyJ0eXAiOiJKV1QifQ.eyJleHAiOjE1Nzc4MzY4MDAsInN1YiI6IlUifQ.c2ln";
            assert_eq!(jwt_expiry(jwt), Ok(Some(1_577_836_800)));
            let e = check_not_expired(Some(1_577_836_800), 1_577_836_800 + 3 * 86_400).unwrap_err();
            assert!(
                e.contains("expired at 2020-01-01 00:00:00 UTC (3 days ago)"),
                "{e}"
            );
            assert_eq!(
                check_not_expired(Some(1_577_836_800), 1_577_836_799),
                Ok(())
            );
            // No exp: never expires.
            assert_eq!(jwt_expiry("e30.eyJzdWIiOiJVIn0.c2ln"), Ok(None));
            assert_eq!(check_not_expired(None, i64::MAX), Ok(()));
            assert!(jwt_expiry("e30.!!!.c2ln")
                .unwrap_err()
                .contains("base64url"));
            assert!(jwt_expiry("e30.bm90IGpzb24.c2ln")
                .unwrap_err()
                .contains("JSON"));
            assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
            assert_eq!(utc(1_796_188_645), "2026-12-02 05:17:25 UTC");
        }
    }
}

fn control_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(codec::CONTENT_TYPE, codec::CONTENT_TYPE_MSGPACK);
    h
}

/// The `Content-Type` header of a message, if any.
pub fn content_type(msg: &Message) -> Option<&str> {
    msg.headers
        .as_ref()?
        .get(codec::CONTENT_TYPE)
        .map(|v| v.as_str())
}

/// Decode a control message, checking its `Content-Type`.
pub fn decode<T: DeserializeOwned>(msg: &Message) -> Result<T, DecodeError> {
    decode_control(content_type(msg), &msg.payload)
}

/// Send a control request and decode the [`Reply`].
pub async fn request<T: Serialize>(
    client: &Client,
    subject: String,
    body: &T,
    timeout: Duration,
) -> Result<Reply, BusError> {
    let req = async_nats::Request::new()
        .headers(control_headers())
        .payload(encode_control(body).into())
        .timeout(Some(timeout));
    let msg = client
        .send_request(subject.clone(), req)
        .await
        .map_err(|source| match source.kind() {
            async_nats::RequestErrorKind::NoResponders => BusError::NoResponders(subject.clone()),
            async_nats::RequestErrorKind::TimedOut => BusError::TimedOut {
                subject: subject.clone(),
                timeout,
            },
            _ => BusError::Request {
                subject: subject.clone(),
                source,
            },
        })?;
    decode(&msg).map_err(|source| BusError::BadReply { subject, source })
}

/// Answer a request. A message without a reply subject gets no answer (there is nowhere to
/// send one); that is logged, not an error.
pub async fn reply(client: &Client, msg: &Message, body: &Reply) {
    let Some(to) = msg.reply.clone() else {
        tracing::debug!(subject = %msg.subject, "message without reply subject; no answer sent");
        return;
    };
    // A request names its own reply subject: answer only into an inbox, so that no request
    // can make us write into the results, the events or the run's KV key.
    if !netbench_proto::subjects::is_inbox(&to) {
        tracing::warn!(subject = %msg.subject, reply = %to, "reply subject is no inbox; no answer sent");
        return;
    }
    if let Err(e) = client
        .publish_with_headers(to, control_headers(), encode_control(body).into())
        .await
    {
        tracing::warn!("could not send reply: {e}");
    }
}

/// Publish a JSON document on a plain (non-JetStream-acked) subject.
pub async fn publish_json<T: Serialize>(
    client: &Client,
    subject: String,
    body: &T,
) -> Result<(), BusError> {
    let mut h = HeaderMap::new();
    h.insert(codec::CONTENT_TYPE, codec::CONTENT_TYPE_JSON);
    let payload = serde_json::to_vec(body).expect("records always serialize");
    client
        .publish_with_headers(subject, h, payload.into())
        .await
        .map_err(|e| BusError::Publish(e.to_string()))
}
