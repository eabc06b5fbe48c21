//! JetStream: the `NETBENCH` stream and the `NETBENCH_RUNS` bucket, created from the definitions
//! shipped in `nats/` (the same files `nats stream add --config` takes), acked publishing with
//! retries under a stable `Nats-Msg-Id`, and reading a run's results back.

use crate::BusError;
use async_nats::jetstream::{self, consumer, kv, message::PublishMessage, stream};
use futures::StreamExt;
use netbench_proto::{codec, subjects, PairResult, RunId, RunState};
use serde::Serialize;
use std::time::Duration;

/// `nats/stream-netbench.json`: the results and events stream.
pub const STREAM_DEFINITION: &str = include_str!("../../../nats/stream-netbench.json");
/// `nats/kv-netbench-runs.json`: the stream behind the run-state KV bucket.
pub const KV_DEFINITION: &str = include_str!("../../../nats/kv-netbench-runs.json");

/// How long an acked publish keeps retrying (NATS restarts take seconds).
const PUBLISH_RETRY_FOR: Duration = Duration::from_secs(60);

/// Which stream and bucket a run uses, and how many replicas they get when netbench creates
/// them (`--stream`, `--kv-bucket`, `--stream-replicas`). An existing stream or bucket is used
/// as it is when compatible, and refused with a clear error when not: never altered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub stream: String,
    pub bucket: String,
    /// Replicas of a stream or bucket that netbench creates (3 on a 3-server NATS cluster).
    pub replicas: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            stream: subjects::STREAM.into(),
            bucket: subjects::KV_BUCKET.into(),
            replicas: 1,
        }
    }
}

impl StoreConfig {
    /// Check the names and the replica count (JetStream names: no spaces, `.`, `*`, `>`,
    /// path separators; replicas 1 to 5).
    pub fn validate(&self) -> Result<(), String> {
        for (flag, name) in [("--stream", &self.stream), ("--kv-bucket", &self.bucket)] {
            let bad = name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if bad {
                return Err(format!(
                    "{flag} {name:?}: a JetStream name is 1 to 64 letters, digits, '_' or '-' \
                     (e.g. TEAM_A_NETBENCH)"
                ));
            }
        }
        if !(1..=5).contains(&self.replicas) {
            return Err(format!(
                "--stream-replicas {}: give 1 to 5 (3 on a three-server NATS cluster)",
                self.replicas
            ));
        }
        Ok(())
    }

    /// The stream definition netbench creates: `nats/stream-netbench.json` with this name
    /// and replica count.
    pub fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.stream.clone(),
            num_replicas: self.replicas,
            ..definition(STREAM_DEFINITION)
        }
    }

    /// The bucket's stream: `nats/kv-netbench-runs.json` with this bucket's name, subjects and
    /// replica count.
    pub fn kv_config(&self) -> stream::Config {
        stream::Config {
            name: format!("KV_{}", self.bucket),
            subjects: vec![format!("$KV.{}.>", self.bucket)],
            num_replicas: self.replicas,
            ..definition(KV_DEFINITION)
        }
    }
}

/// Why an existing stream cannot hold netbench's results, if it cannot: each a reason a run
/// would lose or mangle results there.
pub fn incompatible_stream(existing: &stream::Config) -> Vec<String> {
    let run: RunId = "r".parse().expect("valid id");
    let mut why = Vec::new();
    for subject in [subjects::result(&run, "b"), subjects::event(&run)] {
        if !existing
            .subjects
            .iter()
            .any(|f| subject_matches(f, &subject))
        {
            why.push(format!(
                "its subjects {:?} do not capture {}",
                existing.subjects,
                subject
                    .replace(".r.", ".<run>.")
                    .replace(".b", ".<benchmark>")
            ));
        }
    }
    if existing.retention != stream::RetentionPolicy::Limits {
        why.push(format!(
            "its retention is {:?}: results would be removed once read (netbench needs limits)",
            existing.retention
        ));
    }
    if existing.sealed {
        why.push("it is sealed".into());
    }
    if existing.duplicate_window < Duration::from_secs(120) {
        why.push(format!(
            "its duplicate window is {:?}: a retried result could be stored twice (netbench \
             needs at least 2 m)",
            existing.duplicate_window
        ));
    }
    if existing.max_message_size > 0 && existing.max_message_size < 1 << 20 {
        why.push(format!(
            "its max message size is {} bytes (netbench needs at least 1 MiB)",
            existing.max_message_size
        ));
    }
    why
}

/// Why an existing bucket stream cannot hold run state, if it cannot.
pub fn incompatible_bucket(existing: &stream::Config) -> Vec<String> {
    let mut why = Vec::new();
    if existing.max_messages_per_subject == 0 {
        why.push("it keeps no history per key (max_msgs_per_subject 0)".to_string());
    }
    if existing.retention != stream::RetentionPolicy::Limits {
        why.push(format!("its retention is {:?}", existing.retention));
    }
    if existing.sealed {
        why.push("it is sealed".into());
    }
    if existing.max_message_size > 0 && existing.max_message_size < 16 << 10 {
        why.push(format!(
            "its max value size is {} bytes (netbench needs at least 16 KiB)",
            existing.max_message_size
        ));
    }
    why
}

/// NATS subject matching for `*` and `>`.
fn subject_matches(filter: &str, subject: &str) -> bool {
    let (f, s): (Vec<_>, Vec<_>) = (filter.split('.').collect(), subject.split('.').collect());
    for (i, tok) in f.iter().enumerate() {
        match *tok {
            ">" => return s.len() > i,
            "*" if i < s.len() => {}
            t if s.get(i) == Some(&t) => {}
            _ => return false,
        }
    }
    f.len() == s.len()
}

/// The run store: stream + bucket, opened once and reused for every pair.
#[derive(Clone)]
pub struct Store {
    js: jetstream::Context,
    runs: kv::Store,
    stream: String,
    /// The largest result message the stream takes, less room for headers.
    limit: usize,
}

fn definition(text: &str) -> stream::Config {
    serde_json::from_str(text).expect("nats/ stream definitions are valid (tested)")
}

fn size_limit(stream_max: i32, max_payload: usize) -> usize {
    let stream = if stream_max > 0 {
        stream_max as usize
    } else {
        usize::MAX
    };
    stream.min(max_payload).saturating_sub(4096)
}

fn js_err(what: &str, e: &dyn std::fmt::Display) -> BusError {
    BusError::JetStream(format!("{what}: {e}"))
}

/// How long opening the stream and bucket waits out a NATS cluster electing its leaders (a
/// server of three just died: the JetStream API times out or says "temporarily unavailable"
/// for a few seconds).
const ELECTION_WAIT: Duration = Duration::from_secs(30);

/// Whether a JetStream API error is one that a leader election explains (worth retrying).
fn transient(e: &BusError) -> bool {
    let BusError::JetStream(text) = e else {
        return false;
    };
    let text = text.to_ascii_lowercase();
    [
        "timed out",
        "temporarily unavailable",
        "no responders",
        "not available",
        "no suitable peers",
        // A pull request no consumer leader answered yet (status 503, "no responders").
        ": 503",
    ]
    .iter()
    .any(|t| text.contains(t))
}

/// Retry `attempt` while it fails with a [`transient`] error, up to [`ELECTION_WAIT`].
async fn through_elections<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, BusError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BusError>>,
{
    let started = std::time::Instant::now();
    loop {
        match attempt().await {
            Err(e) if transient(&e) && started.elapsed() < ELECTION_WAIT => {
                tracing::warn!("{what}: {e}; retrying (a NATS cluster may be electing a leader)");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => return other,
        }
    }
}

/// Open the stream `want.name`, creating it when missing; an existing one is checked with
/// `check` and refused (not altered) when incompatible. Waits out leader elections.
async fn open_stream(
    js: &jetstream::Context,
    want: stream::Config,
    check: fn(&stream::Config) -> Vec<String>,
    flag: &str,
) -> Result<stream::Config, BusError> {
    let what = format!("opening stream {}", want.name);
    through_elections(&what, || open_stream_once(js, want.clone(), check, flag)).await
}

async fn open_stream_once(
    js: &jetstream::Context,
    want: stream::Config,
    check: fn(&stream::Config) -> Vec<String>,
    flag: &str,
) -> Result<stream::Config, BusError> {
    let name = want.name.clone();
    match js.get_stream(&name).await {
        Ok(mut existing) => {
            let info = existing
                .info()
                .await
                .map_err(|e| js_err(&format!("cannot read stream {name}"), &e))?;
            let why = check(&info.config);
            if !why.is_empty() {
                return Err(BusError::Incompatible(format!(
                    "stream {name} exists but cannot hold netbench's data: {}. netbench never \
                     changes a stream it did not create: pass {flag} with another name, or \
                     fix it with `nats stream edit {name}`",
                    why.join("; ")
                )));
            }
            if info.config.num_replicas < want.num_replicas {
                tracing::warn!(
                    "stream {name} exists with {} replica(s), fewer than the {} asked for; \
                     using it as it is",
                    info.config.num_replicas,
                    want.num_replicas
                );
            }
            Ok(info.config.clone())
        }
        Err(e)
            if matches!(
                e.kind(),
                jetstream::context::GetStreamErrorKind::JetStream(ref j)
                    if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
            ) =>
        {
            let subjects = want.subjects.join(", ");
            let replicas = want.num_replicas;
            js.create_stream(want.clone()).await.map_err(|e| {
                let text = e.to_string();
                if text.contains("overlap") {
                    BusError::Incompatible(format!(
                        "cannot create stream {name}: its subjects ({subjects}) overlap a stream \
                         that already exists in this account. Find it with `nats stream ls` \
                         and pass {flag} with its name to share it (runs stay apart by run id)"
                    ))
                } else if text.contains("replicas") || text.contains("clustered") {
                    BusError::JetStream(format!(
                        "cannot create stream {name} with {replicas} replicas: {text}. A \
                         single NATS server keeps 1: pass --stream-replicas 1, or use a NATS \
                         cluster of at least {replicas} servers"
                    ))
                } else {
                    js_err(
                        &format!(
                            "cannot create stream {name}. Is JetStream enabled on the server \
                             (nats-server -js)?"
                        ),
                        &e,
                    )
                }
            })?;
            Ok(want)
        }
        Err(e) => Err(js_err(
            &format!(
                "cannot open stream {name}. Is JetStream enabled on the server (nats-server -js)?"
            ),
            &e,
        )),
    }
}

impl Store {
    /// Create the stream and bucket if missing (idempotent), then open them.
    pub async fn open(client: async_nats::Client) -> Result<Store, BusError> {
        Self::open_with(client, &StoreConfig::default()).await
    }

    /// [`Store::open`] with the names and replicas of `cfg`. An existing stream or bucket is
    /// checked and used as it is, never altered.
    pub async fn open_with(
        client: async_nats::Client,
        cfg: &StoreConfig,
    ) -> Result<Store, BusError> {
        cfg.validate().map_err(BusError::Incompatible)?;
        let max_payload = client.server_info().max_payload;
        let js = jetstream::new(client);
        let stream = open_stream(&js, cfg.stream_config(), incompatible_stream, "--stream").await?;
        open_stream(&js, cfg.kv_config(), incompatible_bucket, "--kv-bucket").await?;
        let runs = through_elections("opening the bucket", || async {
            js.get_key_value(&cfg.bucket)
                .await
                .map_err(|e| js_err(&format!("cannot open bucket {}", cfg.bucket), &e))
        })
        .await?;
        Ok(Store {
            js,
            runs,
            stream: cfg.stream.clone(),
            limit: size_limit(stream.max_message_size, max_payload),
        })
    }

    /// Open the stream and bucket without creating anything: what a read-only login (the
    /// observer) can do. Fails at once while they do not exist yet.
    pub async fn open_existing(client: async_nats::Client) -> Result<Store, BusError> {
        Self::open_existing_with(client, &StoreConfig::default()).await
    }

    /// [`Store::open_existing`] with the names of `cfg`.
    pub async fn open_existing_with(
        client: async_nats::Client,
        cfg: &StoreConfig,
    ) -> Result<Store, BusError> {
        let max_payload = client.server_info().max_payload;
        let js = jetstream::new(client);
        let mut stream = js
            .get_stream(&cfg.stream)
            .await
            .map_err(|e| js_err(&format!("no stream {} yet", cfg.stream), &e))?;
        let max = stream
            .info()
            .await
            .map(|i| i.config.max_message_size)
            .unwrap_or(-1);
        let runs = js
            .get_key_value(&cfg.bucket)
            .await
            .map_err(|e| js_err(&format!("no bucket {} yet", cfg.bucket), &e))?;
        Ok(Store {
            js,
            runs,
            stream: cfg.stream.clone(),
            limit: size_limit(max, max_payload),
        })
    }

    /// The name of the results stream.
    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    /// The largest result message that can be stored: the stream's `max_msg_size` or the
    /// server's payload limit, whichever is smaller, less room for headers.
    pub fn message_size_limit(&self) -> usize {
        self.limit
    }

    /// Publish JSON to a stream subject and wait for the ack. Retries (same `Nats-Msg-Id`, so a
    /// retry that raced a lost ack is dropped by the server as a duplicate) for up to a minute.
    pub async fn publish<T: Serialize>(
        &self,
        subject: String,
        msg_id: Option<String>,
        body: &T,
    ) -> Result<jetstream::publish::PublishAck, BusError> {
        let until = std::time::Instant::now() + PUBLISH_RETRY_FOR;
        self.publish_until(subject, msg_id, body, until).await
    }

    /// [`Store::publish`], retrying until `until` instead of for a minute: a result is worth
    /// waiting out a NATS outage for, up to the run's deadline.
    pub async fn publish_until<T: Serialize>(
        &self,
        subject: String,
        msg_id: Option<String>,
        body: &T,
        until: std::time::Instant,
    ) -> Result<jetstream::publish::PublishAck, BusError> {
        let payload: bytes::Bytes = serde_json::to_vec(body).expect("records serialize").into();
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let mut msg = PublishMessage::build()
                .payload(payload.clone())
                .header(codec::CONTENT_TYPE, codec::CONTENT_TYPE_JSON);
            if let Some(id) = &msg_id {
                msg = msg.message_id(id);
            }
            let attempt = async {
                let ack = self.js.send_publish(subject.clone(), msg).await?;
                ack.await
            };
            match attempt.await {
                Ok(ack) => return Ok(ack),
                Err(e) if std::time::Instant::now() < until => {
                    tracing::warn!(%subject, "publish not acked ({e}); retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    return Err(BusError::Publish(format!(
                        "{subject}: not acked after {:?}: {e}",
                        started.elapsed()
                    )))
                }
            }
        }
    }

    /// Store a run's state under its id.
    pub async fn put_state(&self, state: &RunState) -> Result<(), BusError> {
        let value = serde_json::to_vec(state).expect("state serializes");
        let mut pause = Duration::from_millis(20);
        let started = std::time::Instant::now();
        loop {
            match self
                .runs
                .put(state.run.as_str(), value.clone().into())
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if started.elapsed() < PUBLISH_RETRY_FOR => {
                    tracing::warn!("run state not stored ({e}); retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(BusError::JetStream(format!("cannot store run state: {e}"))),
            }
        }
    }

    /// A run's state, if the bucket has it.
    pub async fn state(&self, run: &RunId) -> Result<Option<RunState>, BusError> {
        let got = self
            .runs
            .get(run.as_str())
            .await
            .map_err(|e| BusError::JetStream(format!("cannot read run state: {e}")))?;
        Ok(got.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Every result of a run that the stream holds, in stream order. Undecodable entries (which
    /// only a foreign publisher could have put there) are skipped with a warning.
    pub async fn results(&self, run: &RunId) -> Result<Vec<PairResult>, BusError> {
        let mut out = Vec::new();
        self.each_result(run, |r| out.push(r)).await?;
        Ok(out)
    }

    /// Every result of the run in the stream, one at a time (a resumed 100,000-pair run is
    /// not held in memory).
    pub async fn each_result(
        &self,
        run: &RunId,
        mut each: impl FnMut(PairResult),
    ) -> Result<(), BusError> {
        let err =
            |e: &dyn std::fmt::Display| BusError::JetStream(format!("cannot read results: {e}"));
        // Setting up the reader waits out a leader election (a server of a cluster just died),
        // and so does a fetch that no consumer leader answered yet ("503": a fresh R3 consumer).
        // A fetch taken again never gives a result twice: with no acks, what was delivered is
        // behind the consumer.
        let consumer = through_elections("reading the run's results", || async {
            let stream = self
                .js
                .get_stream(&self.stream)
                .await
                .map_err(|e| err(&e))?;
            stream
                .create_consumer(consumer::pull::Config {
                    filter_subject: subjects::results_of_run(run),
                    deliver_policy: consumer::DeliverPolicy::All,
                    ack_policy: consumer::AckPolicy::None,
                    inactive_threshold: Duration::from_secs(60),
                    ..Default::default()
                })
                .await
                .map_err(|e| err(&e))
        })
        .await?;
        let started = std::time::Instant::now();
        loop {
            let mut got = 0;
            let mut failed = None;
            match consumer.fetch().max_messages(500).messages().await {
                Err(e) => failed = Some(err(&e)),
                Ok(mut batch) => {
                    while let Some(msg) = batch.next().await {
                        let msg = match msg {
                            Ok(m) => m,
                            Err(e) => {
                                failed = Some(err(&e));
                                break;
                            }
                        };
                        got += 1;
                        match serde_json::from_slice::<PairResult>(&msg.payload) {
                            Ok(r) => each(r),
                            Err(e) => {
                                tracing::warn!(subject = %msg.subject, "skipping undecodable result: {e}")
                            }
                        }
                    }
                }
            }
            match failed {
                Some(e) if transient(&e) && started.elapsed() < ELECTION_WAIT => {
                    tracing::warn!("reading the run's results: {e}; retrying (a NATS cluster may be electing a leader)");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Some(e) => return Err(e),
                None if got == 0 => break,
                None => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_definitions_parse_and_name_what_the_code_uses() {
        let s = definition(STREAM_DEFINITION);
        assert_eq!(s.name, subjects::STREAM);
        assert_eq!(s.storage, stream::StorageType::File);
        let run: RunId = "abc".parse().unwrap();
        // Both public subjects are captured by the stream's subject filters.
        for subj in [subjects::result(&run, "iperf3-tcp"), subjects::event(&run)] {
            assert!(
                s.subjects.iter().any(|f| subject_matches(f, &subj)),
                "{subj} not in stream"
            );
        }
        let k = definition(KV_DEFINITION);
        assert_eq!(k.name, format!("KV_{}", subjects::KV_BUCKET));
        assert_eq!(k.max_messages_per_subject, 1);
    }
}
