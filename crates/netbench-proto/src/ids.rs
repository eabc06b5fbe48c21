//! Identifiers that end up inside NATS subjects.
//!
//! Node and pod names may contain dots (`ip-10-0-0-1.ec2.internal`), which NATS treats as token
//! separators, so they never go into a subject. Subjects only carry a [`RunId`] and [`WorkerId`],
//! both restricted to `[a-z0-9-]`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest id accepted; keeps subjects short and bounded.
const MAX_ID_LEN: usize = 40;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {what} {value:?}: use 1 to {MAX_ID_LEN} characters from a-z, 0-9 and '-'")]
pub struct InvalidId {
    pub what: &'static str,
    pub value: String,
}

fn check(what: &'static str, value: &str) -> Result<(), InvalidId> {
    let ok = !value.is_empty()
        && value.len() <= MAX_ID_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(InvalidId {
            what,
            value: value.chars().take(80).collect(),
        })
    }
}

/// A run id: short, uuid-based, subject-safe (`a1b2c3d4e5f6`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(String);

impl RunId {
    /// A fresh random run id: the first 12 hex digits of a v4 uuid.
    pub fn generate() -> Self {
        let hex = uuid::Uuid::new_v4().simple().to_string();
        RunId(hex[..12].to_string())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for RunId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        check("run id", s)?;
        Ok(RunId(s.to_string()))
    }
}
impl TryFrom<String> for RunId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, InvalidId> {
        s.parse()
    }
}
impl From<RunId> for String {
    fn from(id: RunId) -> String {
        id.0
    }
}
impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A worker id, derived from the worker's name so that it is stable across restarts:
/// `w-` plus 12 hex digits of a v5 uuid of the name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkerId(String);

impl WorkerId {
    pub fn for_name(name: &str) -> Self {
        let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes());
        WorkerId(format!("w-{}", &id.simple().to_string()[..12]))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl std::str::FromStr for WorkerId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        check("worker id", s)?;
        Ok(WorkerId(s.to_string()))
    }
}
impl TryFrom<String> for WorkerId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, InvalidId> {
        s.parse()
    }
}
impl From<WorkerId> for String {
    fn from(id: WorkerId) -> String {
        id.0
    }
}
impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ids_are_stable_and_subject_safe_even_for_dotted_names() {
        let a = WorkerId::for_name("ip-10-0-0-1.ec2.internal");
        assert_eq!(a, WorkerId::for_name("ip-10-0-0-1.ec2.internal"));
        assert_ne!(a, WorkerId::for_name("ip-10-0-0-2.ec2.internal"));
        assert!(a.as_str().parse::<WorkerId>().is_ok());
        assert!(!a.as_str().contains('.'));
    }

    #[test]
    fn run_ids_reject_subject_wildcards_and_dots() {
        for bad in ["", "a.b", "*", ">", "A", "x y", &"a".repeat(41)] {
            assert!(bad.parse::<RunId>().is_err(), "{bad:?} accepted");
        }
        let fresh = RunId::generate();
        assert_eq!(fresh.as_str().len(), 12);
        assert!(fresh.as_str().parse::<RunId>().is_ok());
        assert!(serde_json::from_str::<RunId>("\"a.b\"").is_err());
    }
}
