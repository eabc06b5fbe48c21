//! The thin NATS shell every netbench role shares.
//!
//! - [`NatsArgs`] / [`connect`]: one way to connect (URL, credentials, TLS CA), with a clear
//!   error when NATS cannot be reached and reconnect events in the log.
//! - [`request`] / [`reply`] / [`decode`]: control request-reply with the MessagePack codec and
//!   its `Content-Type` header.
//! - [`jetstream`]: the `NETBENCH` stream and `NETBENCH_RUNS` bucket, created from the very files
//!   shipped in `nats/`, and acked, deduplicated publishing.

pub mod auth;
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
    /// How long to keep retrying the first connection (zero: fail fast, after one attempt).
    /// Pods use it: in Kubernetes the NATS Service may come up a moment after its clients.
    pub connect_wait: Duration,
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
    #[error("publish failed: {0}")]
    Publish(String),
    #[error("JetStream: {0}")]
    JetStream(String),
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
    if let Some(ca) = &args.tls_ca {
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    }
    let started = std::time::Instant::now();
    let mut attempt = 0u32;
    loop {
        match opts.clone().connect(args.url.as_str()).await {
            Ok(client) => return Ok(client),
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
