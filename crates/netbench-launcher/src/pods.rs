//! Pure diagnosis of pods: ready, still coming (and why), or failed for good.
//!
//! Messages name the pod, its phase and the reason Kubernetes gives (`Unschedulable: 0/3 nodes
//! are available: …`, `ImagePullBackOff: Back-off pulling image "x"`), so the user knows what
//! to fix without kubectl.

use k8s_openapi::api::core::v1::Pod;

/// Reasons a container waits with that will not go away by waiting.
const FATAL_WAITING: &[&str] = &[
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodState {
    Ready,
    /// Not ready yet; the string says why (phase and reason).
    Waiting(String),
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
                PodState::Failed(f) => {
                    a.failed.get_or_insert(f.clone());
                    a.waiting.push(f);
                }
            },
        }
    }
    a
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
