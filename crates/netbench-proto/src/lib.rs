//! The netbench wire protocol: every NATS subject and every message type, and nothing that does I/O.
//!
//! - [`subjects`]: the subject names (public JSON ones and private control ones) and the JetStream
//!   stream / KV names.
//! - [`control`]: MessagePack request-reply messages between orchestrator and workers.
//! - [`record`]: the JSON documents people watch and chain onto: pair results, events, run state,
//!   and the results file.
//! - [`codec`]: encoding, decoding and the `Content-Type` header values, with size limits.
//! - [`path`]: the network paths (`--paths`) and where workers run for them.
//! - [`ids`]: run ids and worker ids that are always safe inside a subject.

pub mod codec;
pub mod control;
pub mod exit;
pub mod ids;
pub mod path;
pub mod record;
pub mod subjects;
pub mod timing;

pub use codec::{
    decode_control, encode_control, DecodeError, CONTENT_TYPE, CONTENT_TYPE_JSON,
    CONTENT_TYPE_MSGPACK,
};
pub use control::*;
pub use exit::ExitCode;
pub use ids::{RunId, WorkerId};
pub use path::{Path, Paths, Placement};
pub use record::*;
