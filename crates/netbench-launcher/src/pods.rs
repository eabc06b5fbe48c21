//! Pure diagnosis of pods: ready, still coming (and why), or failed for good.
//!
//! Messages name the pod, its phase and the reason Kubernetes gives (`Unschedulable: 0/3 nodes
//! are available: …`, `ImagePullBackOff: Back-off pulling image "x"`), so the user knows what
//! to fix without kubectl.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

/// Reasons a container waits with that will not go away by waiting.
const FATAL_WAITING: &[&str] = &["InvalidImageName", "ErrImageNeverPull"];

/// Reasons the kubelet retries that are usually for good (a missing Secret or ConfigMap, a bad
/// security context) but sometimes clear by themselves: a fresh node's kubelet reports
/// `CreateContainerConfigError: failed to sync secret cache: timed out waiting for the
/// condition` once and starts the container on its next try. [`StuckPods`] fails a pod that
/// keeps one of these for [`STUCK_GRACE`].
const RETRIED_WAITING: &[&str] = &["CreateContainerConfigError", "CreateContainerError"];

/// How long a pod may keep a [`RETRIED_WAITING`] reason before the launch gives up on it.
pub const STUCK_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodState {
    Ready,
    /// Not ready yet; the string says why (phase and reason).
    Waiting(String),
    /// Not ready, for a reason the kubelet retries but that is usually for good.
    Stuck(String),
    /// Will not become ready.
    Failed(String),
}

fn name(p: &Pod) -> &str {
    p.metadata.name.as_deref().unwrap_or("?")
}

/// The state of one pod.
pub fn diagnose(pod: &Pod) -> PodState {
    let status = pod.status.clone().unwrap_or_default();
    let phase = status.phase.as_deref().unwrap_or("Pending");
    let conds = status.conditions.clone().unwrap_or_default();
    let cond = |t: &str| conds.iter().find(|c| c.type_ == t);
    if pod.metadata.deletion_timestamp.is_some() {
        return PodState::Waiting(format!("{phase}, being deleted"));
    }
    let mut why = Vec::new();
    for c in status.container_statuses.iter().flatten() {
        let Some(state) = &c.state else { continue };
        if let Some(w) = &state.waiting {
            let reason = w.reason.clone().unwrap_or_default();
            let text = match &w.message {
                Some(m) if !m.is_empty() => format!("container {}: {reason}: {m}", c.name),
                _ => format!("container {}: {reason}", c.name),
            };
            if FATAL_WAITING.contains(&reason.as_str()) {
                return PodState::Failed(format!("pod {}: {phase}, {text}", name(pod)));
            }
            if RETRIED_WAITING.contains(&reason.as_str()) {
                return PodState::Stuck(format!("pod {}: {phase}, {text}", name(pod)));
            }
            why.push(text);
        }
        if let Some(t) = &state.terminated {
            why.push(format!(
                "container {} exited with code {} ({})",
                c.name,
                t.exit_code,
                t.reason.clone().unwrap_or_default()
            ));
        }
    }
    match phase {
        "Failed" => {
            let reason = status.reason.clone().unwrap_or_default();
            let msg = status.message.clone().unwrap_or_default();
            why.insert(0, format!("{reason} {msg}").trim().to_string());
            why.retain(|s| !s.is_empty());
            return PodState::Failed(format!("pod {}: Failed: {}", name(pod), why.join("; ")));
        }
        "Succeeded" => {
            return PodState::Failed(format!("pod {}: exited early (Succeeded)", name(pod)))
        }
        _ => {}
    }
    if cond("Ready").is_some_and(|c| c.status == "True") {
        return PodState::Ready;
    }
    if let Some(s) = cond("PodScheduled").filter(|c| c.status == "False") {
        why.insert(
            0,
            format!(
                "{}: {}",
                s.reason.clone().unwrap_or_else(|| "not scheduled".into()),
                s.message.clone().unwrap_or_default()
            ),
        );
    } else if pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_ref())
        .is_none()
    {
        why.insert(0, "not scheduled yet".into());
    }
    if why.is_empty() {
        why.push("not ready".into());
    }
    PodState::Waiting(format!("pod {}: {phase}, {}", name(pod), why.join("; ")))
}

/// The progress of a set of pods we wait for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub ready: Vec<String>,
    /// One line per pod that is not ready (or missing).
    pub waiting: Vec<String>,
    /// The first pod that failed for good.
    pub failed: Option<String>,
    /// Pods (name, line) waiting for a reason the kubelet retries; see [`StuckPods`].
    pub stuck: Vec<(String, String)>,
}

impl Assessment {
    pub fn all_ready(&self) -> bool {
        self.waiting.is_empty() && self.failed.is_none()
    }
}

/// Assess the pods named `expected` among `pods` (others are ignored, missing ones reported).
pub fn assess(pods: &[Pod], expected: &[String]) -> Assessment {
    let mut a = Assessment::default();
    for want in expected {
        match pods.iter().find(|p| name(p) == want) {
            None => a.waiting.push(format!("pod {want}: not created yet")),
            Some(p) => match diagnose(p) {
                PodState::Ready => a.ready.push(want.clone()),
                PodState::Waiting(w) => a.waiting.push(w),
                PodState::Stuck(w) => {
                    a.stuck.push((want.clone(), w.clone()));
                    a.waiting.push(w);
                }
                PodState::Failed(f) => {
                    a.failed.get_or_insert(f.clone());
                    a.waiting.push(f);
                }
            },
        }
    }
    a
}

/// Remembers since when each pod has been [`PodState::Stuck`], and gives up on one that stays
/// stuck for the grace period. A pod that moves on starts afresh if it gets stuck again.
#[derive(Debug)]
pub struct StuckPods {
    grace: Duration,
    since: HashMap<String, Instant>,
}

impl StuckPods {
    pub fn new(grace: Duration) -> Self {
        Self {
            grace,
            since: HashMap::new(),
        }
    }

    /// Record the assessment made at `now`; the error for the first pod stuck for the grace.
    pub fn observe(&mut self, a: &Assessment, now: Instant) -> Option<String> {
        self.since
            .retain(|pod, _| a.stuck.iter().any(|(stuck, _)| stuck == pod));
        for (pod, _) in &a.stuck {
            self.since.entry(pod.clone()).or_insert(now);
        }
        let (_, line) = a
            .stuck
            .iter()
            .find(|(pod, _)| now.duration_since(self.since[pod]) >= self.grace)?;
        Some(format!(
            "{line} (for {} s; the kubelet keeps retrying, but this usually needs a fix: \
             check the Secrets, ConfigMaps and security context the pod refers to)",
            self.grace.as_secs()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateWaiting, ContainerStatus, PodCondition, PodStatus,
    };

    fn pod(name: &str, status: PodStatus) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        p.status = Some(status);
        p
    }
    fn cond(t: &str, s: &str, reason: Option<&str>, msg: Option<&str>) -> PodCondition {
        PodCondition {
            type_: t.into(),
            status: s.into(),
            reason: reason.map(Into::into),
            message: msg.map(Into::into),
            ..Default::default()
        }
    }
    fn waiting(reason: &str, msg: &str) -> ContainerStatus {
        ContainerStatus {
            name: "worker".into(),
            state: Some(ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.into()),
                    message: Some(msg.into()),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn unschedulable_pod_says_so_with_the_schedulers_message() {
        let p = pod(
            "worker-n1",
            PodStatus {
                phase: Some("Pending".into()),
                conditions: Some(vec![cond(
                    "PodScheduled",
                    "False",
                    Some("Unschedulable"),
                    Some("0/3 nodes are available: 3 Insufficient cpu."),
                )]),
                ..Default::default()
            },
        );
        assert_eq!(
            diagnose(&p),
            PodState::Waiting(
                "pod worker-n1: Pending, Unschedulable: 0/3 nodes are available: 3 Insufficient cpu."
                    .into()
            )
        );
    }

    #[test]
    fn image_pull_backoff_waits_but_invalid_image_fails_at_once() {
        let mut s = PodStatus {
            phase: Some("Pending".into()),
            container_statuses: Some(vec![waiting(
                "ImagePullBackOff",
                "Back-off pulling image \"x\"",
            )]),
            ..Default::default()
        };
        let PodState::Waiting(w) = diagnose(&pod("nats", s.clone())) else {
            panic!()
        };
        assert!(
            w.contains("ImagePullBackOff: Back-off pulling image"),
            "{w}"
        );
        s.container_statuses = Some(vec![waiting("InvalidImageName", "bad")]);
        assert!(
            matches!(diagnose(&pod("nats", s)), PodState::Failed(f) if f.contains("pod nats") && f.contains("InvalidImageName"))
        );
    }

    #[test]
    fn a_config_error_fails_only_when_it_outlasts_the_grace() {
        let stuck = pod(
            "worker-n1",
            PodStatus {
                phase: Some("Pending".into()),
                container_statuses: Some(vec![waiting(
                    "CreateContainerConfigError",
                    "failed to sync secret cache: timed out waiting for the condition",
                )]),
                ..Default::default()
            },
        );
        let ready = pod(
            "worker-n1",
            PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![cond("Ready", "True", None, None)]),
                ..Default::default()
            },
        );
        let expected = ["worker-n1".to_string()];
        let grace = Duration::from_secs(30);
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);

        // The fresh-node case: stuck once, then ready. Never fails.
        let mut tracker = StuckPods::new(grace);
        let a = assess(std::slice::from_ref(&stuck), &expected);
        assert_eq!(a.failed, None);
        assert_eq!(a.stuck.len(), 1);
        assert_eq!(tracker.observe(&a, at(0)), None);
        let a = assess(std::slice::from_ref(&ready), &expected);
        assert!(a.all_ready());
        assert_eq!(tracker.observe(&a, at(5)), None);
        // Stuck again later: the clock starts afresh.
        let a = assess(std::slice::from_ref(&stuck), &expected);
        assert_eq!(tracker.observe(&a, at(20)), None);
        assert_eq!(tracker.observe(&a, at(49)), None);

        // Stuck for the whole grace: fails, naming the pod and the kubelet's reason.
        let f = tracker.observe(&a, at(50)).expect("stuck for 30 s fails");
        assert!(f.starts_with("pod worker-n1: Pending, container worker: CreateContainerConfigError: failed to sync secret cache"), "{f}");
        assert!(f.contains("for 30 s"), "{f}");
    }

    #[test]
    fn ready_and_missing_pods_are_assessed() {
        let ok = pod(
            "a",
            PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![cond("Ready", "True", None, None)]),
                ..Default::default()
            },
        );
        let a = assess(&[ok], &["a".into(), "b".into()]);
        assert_eq!(a.ready, ["a"]);
        assert_eq!(a.waiting, ["pod b: not created yet"]);
        assert!(!a.all_ready());
    }
}
