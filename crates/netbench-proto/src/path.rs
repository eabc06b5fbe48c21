//! Network paths (`--paths`): which way the traffic of a pair goes, and where the workers that
//! serve each path run (their [`Placement`]).
//!
//! | path | client | server | the client connects to |
//! |---|---|---|---|
//! | `pod` | the client node's worker pod | the server node's worker pod | the server pod's IP |
//! | `host` | the client node's hostNetwork worker | the server node's hostNetwork worker | the server node's IP |
//! | `service` | the client node's worker pod | the server node's worker pod | the ClusterIP of a Service in front of that pod |
//! | `same-node` | a second worker pod on a node | the node's worker pod | that pod's IP |
//!
//! `host` is the baseline the CNI is measured against; `same-node` is one pair per node.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One network path.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Path {
    /// Pod to pod across nodes: what the CNI gives (the default, and what every run measured
    /// before paths existed).
    #[default]
    Pod,
    /// Node to node in the nodes' own network (hostNetwork pods): the baseline.
    Host,
    /// Pod to a ClusterIP Service in front of exactly the server's pod (kube-proxy's NAT).
    Service,
    /// Two pods on one node (the node-local path).
    SameNode,
}

impl Path {
    /// Every path, in the order a run takes them.
    pub const ALL: [Path; 4] = [Path::Pod, Path::Host, Path::Service, Path::SameNode];

    pub fn name(self) -> &'static str {
        match self {
            Path::Pod => "pod",
            Path::Host => "host",
            Path::Service => "service",
            Path::SameNode => "same-node",
        }
    }

    /// Where the client and the server of this path run.
    pub fn placements(self) -> (Placement, Placement) {
        match self {
            Path::Pod | Path::Service => (Placement::Pod, Placement::Pod),
            Path::Host => (Placement::Host, Placement::Host),
            Path::SameNode => (Placement::SameNode, Placement::Pod),
        }
    }

    /// `pod`, the default (left out of events).
    pub fn is_pod(&self) -> bool {
        *self == Path::Pod
    }

    /// True for the path whose client and server share a node (one pair per node, not per
    /// pair of the plan).
    pub fn is_same_node(self) -> bool {
        self == Path::SameNode
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a path name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown path {0:?}: the paths are pod, host, service and same-node (e.g. --paths pod,host)"
)]
pub struct UnknownPath(pub String);

impl FromStr for Path {
    type Err = UnknownPath;
    fn from_str(s: &str) -> Result<Path, UnknownPath> {
        Path::ALL
            .into_iter()
            .find(|p| p.name() == s.trim())
            .ok_or_else(|| UnknownPath(s.to_string()))
    }
}

/// A set of paths, taken in [`Path::ALL`]'s order. Never empty when made by [`Paths::parse`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Paths(u8);

impl Default for Paths {
    /// `pod` alone: what a run without `--paths` measures.
    fn default() -> Paths {
        Paths::of(&[Path::Pod])
    }
}

impl Paths {
    pub fn of(paths: &[Path]) -> Paths {
        Paths(paths.iter().fold(0, |acc, p| acc | p.bit()))
    }
    /// `pod,host` (or a list of items each like that): each known, none twice.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Paths, String> {
        let mut set = Paths(0);
        for item in items.iter().filter(|i| !i.as_ref().trim().is_empty()) {
            for name in item.as_ref().split(',') {
                let p: Path = name.parse().map_err(|e: UnknownPath| e.to_string())?;
                if set.contains(p) {
                    return Err(format!("path {p} is named twice; name each path once"));
                }
                set.0 |= p.bit();
            }
        }
        if set.is_empty() {
            return Err("no path given: name at least one of pod, host, service, same-node".into());
        }
        Ok(set)
    }
    pub fn contains(self, p: Path) -> bool {
        self.0 & p.bit() != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    pub fn iter(self) -> impl Iterator<Item = Path> {
        Path::ALL.into_iter().filter(move |p| self.contains(*p))
    }
    /// The paths of pairs across nodes (all but `same-node`), in order.
    pub fn across_nodes(self) -> impl Iterator<Item = Path> {
        self.iter().filter(|p| !p.is_same_node())
    }
    pub fn union(self, other: Paths) -> Paths {
        Paths(self.0 | other.0)
    }
    /// Whether workers of this placement are needed.
    pub fn needs(self, placement: Placement) -> bool {
        self.iter().any(|p| {
            let (c, s) = p.placements();
            c == placement || s == placement
        })
    }
    /// True when only `pod` (a run as before paths).
    pub fn is_pod_only(self) -> bool {
        self == Paths::default()
    }
}

impl fmt::Display for Paths {
    /// `pod,host`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Path::name).collect();
        f.write_str(&names.join(","))
    }
}

impl fmt::Debug for Paths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Paths({self})")
    }
}

impl FromStr for Paths {
    type Err = String;
    fn from_str(s: &str) -> Result<Paths, String> {
        Paths::parse(&[s])
    }
}

/// Where a worker runs on its node, i.e. which paths it serves.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// The node's worker pod (paths `pod`, `service`, and the server of `same-node`); what
    /// every worker was before paths existed.
    #[default]
    Pod,
    /// A worker in the node's own network namespace (hostNetwork): path `host`.
    Host,
    /// A second worker pod on the node: the client of path `same-node`.
    SameNode,
}

impl Placement {
    pub const ALL: [Placement; 3] = [Placement::Pod, Placement::Host, Placement::SameNode];
    pub fn name(self) -> &'static str {
        match self {
            Placement::Pod => "pod",
            Placement::Host => "host",
            Placement::SameNode => "same-node",
        }
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Placement {
    type Err = String;
    fn from_str(s: &str) -> Result<Placement, String> {
        Placement::ALL
            .into_iter()
            .find(|p| p.name() == s.trim())
            .ok_or_else(|| {
                format!("unknown placement {s:?}: a worker runs as pod, host or same-node")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_in_any_order_and_run_in_one() {
        let p = Paths::parse(&["service,pod", "same-node"]).unwrap();
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            [Path::Pod, Path::Service, Path::SameNode]
        );
        assert_eq!(p.to_string(), "pod,service,same-node");
        assert_eq!(
            p.across_nodes().collect::<Vec<_>>(),
            [Path::Pod, Path::Service]
        );
        assert!(p.needs(Placement::SameNode) && p.needs(Placement::Pod));
        assert!(!p.needs(Placement::Host));
        assert!(Paths::default().is_pod_only());
        assert_eq!("host".parse::<Paths>().unwrap().len(), 1);
    }

    #[test]
    fn bad_paths_say_what_to_write() {
        let e = Paths::parse(&["pod,hots"]).unwrap_err();
        assert!(
            e.contains("unknown path \"hots\"") && e.contains("same-node"),
            "{e}"
        );
        let e = Paths::parse(&["pod,pod"]).unwrap_err();
        assert!(e.contains("twice"), "{e}");
        assert!(Paths::parse::<&str>(&[]).unwrap_err().contains("no path"));
        assert!(Paths::parse(&[" "]).unwrap_err().contains("no path"));
        assert!(Paths::parse(&["pod,"])
            .unwrap_err()
            .contains("unknown path \"\""));
    }

    #[test]
    fn paths_and_placements_are_kebab_case_in_json() {
        assert_eq!(
            serde_json::to_string(&Path::SameNode).unwrap(),
            "\"same-node\""
        );
        assert_eq!(
            serde_json::from_str::<Placement>("\"host\"").unwrap(),
            Placement::Host
        );
        for p in Path::ALL {
            assert_eq!(p.name().parse::<Path>().unwrap(), p);
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
        }
    }
}
