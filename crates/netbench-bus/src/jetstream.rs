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

/// The largest result message that can be stored: the stream's `max_msg_size` or the server's
/// payload limit, whichever is smaller, less room for headers.
pub fn message_size_limit(client: &async_nats::Client) -> usize {
    let stream = definition(STREAM_DEFINITION).max_message_size;
    let stream = if stream > 0 {
        stream as usize
    } else {
        usize::MAX
    };
    stream
        .min(client.server_info().max_payload)
        .saturating_sub(4096)
}

/// The run store: stream + bucket, opened once and reused for every pair.
#[derive(Clone)]
pub struct Store {
    js: jetstream::Context,
    runs: kv::Store,
}

fn definition(text: &str) -> stream::Config {
    serde_json::from_str(text).expect("nats/ stream definitions are valid (tested)")
}

impl Store {
    /// Create the stream and bucket if missing (idempotent), then open them.
    pub async fn open(client: async_nats::Client) -> Result<Store, BusError> {
        let js = jetstream::new(client);
        let js_err = |what: &str, e: &dyn std::fmt::Display| {
            BusError::JetStream(format!(
                "{what}: {e}. Is JetStream enabled on the server (nats-server -js)?"
            ))
        };
        js.get_or_create_stream(definition(STREAM_DEFINITION))
            .await
            .map_err(|e| js_err("cannot open stream NETBENCH", &e))?;
        js.get_or_create_stream(definition(KV_DEFINITION))
            .await
            .map_err(|e| js_err("cannot open stream KV_NETBENCH_RUNS", &e))?;
        let runs = js
            .get_key_value(subjects::KV_BUCKET)
            .await
            .map_err(|e| js_err("cannot open bucket NETBENCH_RUNS", &e))?;
        Ok(Store { js, runs })
    }

    /// Open the stream and bucket without creating anything: what a read-only login (the
    /// observer) can do. Fails at once while they do not exist yet.
    pub async fn open_existing(client: async_nats::Client) -> Result<Store, BusError> {
        let js = jetstream::new(client);
        let err =
            |what: &str, e: &dyn std::fmt::Display| BusError::JetStream(format!("{what}: {e}"));
        js.get_stream(subjects::STREAM)
            .await
            .map_err(|e| err("no stream NETBENCH yet", &e))?;
        let runs = js
            .get_key_value(subjects::KV_BUCKET)
            .await
            .map_err(|e| err("no bucket NETBENCH_RUNS yet", &e))?;
        Ok(Store { js, runs })
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
        let stream = self
            .js
            .get_stream(subjects::STREAM)
            .await
            .map_err(|e| err(&e))?;
        let consumer = stream
            .create_consumer(consumer::pull::Config {
                filter_subject: subjects::results_of_run(run),
                deliver_policy: consumer::DeliverPolicy::All,
                ack_policy: consumer::AckPolicy::None,
                inactive_threshold: Duration::from_secs(60),
                ..Default::default()
            })
            .await
            .map_err(|e| err(&e))?;
        loop {
            let mut batch = consumer
                .fetch()
                .max_messages(500)
                .messages()
                .await
                .map_err(|e| err(&e))?;
            let mut got = 0;
            while let Some(msg) = batch.next().await {
                let msg = msg.map_err(|e| err(&e))?;
                got += 1;
                match serde_json::from_slice::<PairResult>(&msg.payload) {
                    Ok(r) => each(r),
                    Err(e) => {
                        tracing::warn!(subject = %msg.subject, "skipping undecodable result: {e}")
                    }
                }
            }
            if got == 0 {
                break;
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
                s.subjects.iter().any(|f| matches(f, &subj)),
                "{subj} not in stream"
            );
        }
        let k = definition(KV_DEFINITION);
        assert_eq!(k.name, format!("KV_{}", subjects::KV_BUCKET));
        assert_eq!(k.max_messages_per_subject, 1);
    }

    /// NATS subject matching for `*` and `>`.
    fn matches(filter: &str, subject: &str) -> bool {
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
}
