//! Which worker serves which node on which path. Pure.
//!
//! A worker's `hostname` is its node. On each node the run needs one worker of every placement
//! its paths need (`pod` for pod, service and same-node's server, `host` for host, `same-node`
//! for same-node's client), and for `service` the pod worker's Service address. The node's lead
//! worker (its pod worker; its host worker when only `host` is measured) names it in the plan.

use crate::plan::PlanNode;
use netbench_proto::{Path, Paths, Placement, WorkerInfo};
use std::collections::{HashMap, HashSet};

/// A node's workers, by placement (indices into the run's worker list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeWorkers([Option<usize>; 3]);

impl NodeWorkers {
    pub fn get(&self, p: Placement) -> Option<usize> {
        self.0[p as usize]
    }
}

/// The run's nodes as the plan sees them, and how the workers map onto them.
#[derive(Debug, Clone)]
pub struct Roster {
    /// One per node, from its lead worker (in the workers' order).
    pub nodes: Vec<PlanNode>,
    /// The node of each worker (parallel to the worker list).
    node_of: Vec<String>,
}

/// The lead placement of a run of `paths`.
fn lead(paths: Paths) -> Placement {
    if paths.needs(Placement::Pod) {
        Placement::Pod
    } else {
        Placement::Host
    }
}

/// Sort `workers` (by node, then id: a stable order for the run) and name their nodes. Two lead
/// workers on one node (a hand-made deployment) are each a node of their own, by worker name,
/// on the pod path alone: no other path could tell whose host or second pod is whose.
pub fn roster(workers: &mut [WorkerInfo], paths: Paths) -> Result<Roster, String> {
    let lead = lead(paths);
    let leads = workers.iter().filter(|w| w.placement == lead);
    let hosts: HashSet<&str> = leads.clone().map(|w| w.hostname.as_str()).collect();
    let by_name = hosts.len() != leads.count();
    if by_name && !paths.is_pod_only() {
        return Err(format!(
            "two {lead} workers run on one node, and --paths {paths} needs exactly one per node: \
             run one worker of each placement per node"
        ));
    }
    let name = |w: &WorkerInfo| {
        if by_name {
            w.name.clone()
        } else {
            w.hostname.clone()
        }
    };
    workers.sort_by(|a, b| name(a).cmp(&name(b)).then(a.id.cmp(&b.id)));
    Ok(Roster {
        nodes: workers
            .iter()
            .filter(|w| w.placement == lead)
            .map(|w| PlanNode {
                name: name(w),
                zone: w.zone.clone(),
            })
            .collect(),
        node_of: workers.iter().map(name).collect(),
    })
}

impl Roster {
    /// Each of the plan's nodes (in [`crate::plan::Plan::nodes`]' order) with its workers, or
    /// why the run cannot measure `paths` on them: a placement missing on a node, two of one
    /// placement on a node, a pod worker without a Service address for `service`. Workers on
    /// nodes the plan does not use are left out.
    pub fn assign(
        &self,
        plan_nodes: &[PlanNode],
        workers: &[WorkerInfo],
        paths: Paths,
    ) -> Result<Vec<NodeWorkers>, String> {
        let index: HashMap<&str, usize> = plan_nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        let mut by_node = vec![NodeWorkers::default(); plan_nodes.len()];
        for (i, (w, node)) in workers.iter().zip(&self.node_of).enumerate() {
            let Some(&n) = index.get(node.as_str()) else {
                continue;
            };
            let slot = &mut by_node[n].0[w.placement as usize];
            if let Some(other) = slot {
                return Err(format!(
                    "workers {} and {} both run as {} on node {node}: run one worker of each placement per node",
                    workers[*other].name, w.name, w.placement
                ));
            }
            *slot = Some(i);
        }
        for (node, ws) in plan_nodes.iter().zip(&by_node) {
            for p in Placement::ALL.into_iter().filter(|&p| paths.needs(p)) {
                let Some(w) = ws.get(p) else {
                    return Err(format!(
                        "node {} has no {p} worker, and --paths {paths} needs one on every node \
                         (a worker started with --placement {p})",
                        node.name
                    ));
                };
                if p == Placement::Pod
                    && paths.contains(Path::Service)
                    && workers[w].service_ip.is_none()
                {
                    return Err(format!(
                        "worker {} has no Service address, and --paths service needs one for \
                         every pod worker (--service-ip, NETBENCH_SERVICE_IP)",
                        workers[w].name
                    ));
                }
            }
        }
        Ok(by_node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netbench_proto::WorkerId;

    fn worker(name: &str, node: &str, placement: Placement, vip: Option<&str>) -> WorkerInfo {
        WorkerInfo {
            id: WorkerId::for_name(name),
            name: name.into(),
            ip: "198.18.0.1".parse().unwrap(),
            hostname: node.into(),
            zone: "z".into(),
            cpus: 1,
            placement,
            service_ip: vip.map(|v| v.parse().unwrap()),
        }
    }

    fn paths(s: &str) -> Paths {
        s.parse().unwrap()
    }

    fn full_node(n: &str) -> Vec<WorkerInfo> {
        vec![
            worker(&format!("{n}-host"), n, Placement::Host, None),
            worker(n, n, Placement::Pod, Some("198.19.0.9")),
            worker(&format!("{n}-pod2"), n, Placement::SameNode, None),
        ]
    }

    #[test]
    fn each_node_gets_its_worker_of_each_placement() {
        let mut ws: Vec<WorkerInfo> = ["b", "a"].iter().flat_map(|n| full_node(n)).collect();
        let all = paths("pod,host,service,same-node");
        let r = roster(&mut ws, all).unwrap();
        let names: Vec<&str> = r.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            ["a", "b"],
            "one plan node per node, led by its pod worker"
        );
        let by_node = r.assign(&r.nodes, &ws, all).unwrap();
        for (node, nw) in r.nodes.iter().zip(&by_node) {
            for p in Placement::ALL {
                let w = &ws[nw.get(p).unwrap()];
                assert_eq!((w.hostname.as_str(), w.placement), (node.name.as_str(), p));
            }
        }
        // The host path alone is led by the host workers.
        let host = paths("host");
        let r = roster(&mut ws, host).unwrap();
        assert_eq!(r.nodes.len(), 2);
        let by_node = r.assign(&r.nodes, &ws, host).unwrap();
        assert_eq!(ws[by_node[0].get(Placement::Host).unwrap()].name, "a-host");
    }

    #[test]
    fn a_node_without_a_needed_worker_is_named() {
        let mut ws = full_node("a");
        ws.extend(full_node("b"));
        ws.retain(|w| w.name != "b-host");
        let all = paths("pod,host");
        let r = roster(&mut ws, all).unwrap();
        let e = r.assign(&r.nodes, &ws, all).unwrap_err();
        assert!(
            e.contains("node b has no host worker") && e.contains("--placement host"),
            "{e}"
        );
        // Not needed without host.
        assert!(r.assign(&r.nodes, &ws, paths("pod,same-node")).is_ok());

        let mut ws = full_node("a");
        ws[1].service_ip = None;
        let svc = paths("service");
        let r = roster(&mut ws, svc).unwrap();
        let e = r.assign(&r.nodes, &ws, svc).unwrap_err();
        assert!(e.contains("worker a has no Service address"), "{e}");
    }

    #[test]
    fn two_pod_workers_on_one_node_are_two_nodes_on_the_pod_path_only() {
        let mut ws = vec![
            worker("w1", "vm", Placement::Pod, None),
            worker("w2", "vm", Placement::Pod, None),
        ];
        let r = roster(&mut ws, Paths::default()).unwrap();
        let names: Vec<&str> = r.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["w1", "w2"]);
        assert_eq!(r.assign(&r.nodes, &ws, Paths::default()).unwrap().len(), 2);
        let e = roster(&mut ws, paths("pod,host")).unwrap_err();
        assert!(e.contains("two pod workers run on one node"), "{e}");
        // Two host workers on one node under the pod lead: refused by assign.
        let mut ws = full_node("a");
        ws.push(worker("a-host2", "a", Placement::Host, None));
        let r = roster(&mut ws, paths("pod,host")).unwrap();
        let e = r.assign(&r.nodes, &ws, paths("pod,host")).unwrap_err();
        assert!(e.contains("both run as host on node a"), "{e}");
    }
}
