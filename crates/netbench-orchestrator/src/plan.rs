//! Pair planning: every ordered pair of distinct workers, in a stable order. Pure.

use netbench_proto::WorkerInfo;

/// One client/server pair, by index into the worker list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// `<client-id>--<server-id>`: stable across orchestrator restarts, subject-safe.
    pub id: String,
    pub client: usize,
    pub server: usize,
}

/// Sort workers by name, then list every ordered pair (a→b and b→a), client-major.
/// n workers give n·(n-1) pairs.
pub fn plan(workers: &mut [WorkerInfo]) -> Vec<Pair> {
    workers.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let n = workers.len();
    let mut pairs = Vec::with_capacity(n * n.saturating_sub(1));
    for c in 0..n {
        for s in 0..n {
            if c != s {
                pairs.push(Pair {
                    id: format!("{}--{}", workers[c].id, workers[s].id),
                    client: c,
                    server: s,
                });
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use netbench_proto::WorkerId;
    use std::collections::HashSet;

    fn worker(name: &str) -> WorkerInfo {
        WorkerInfo {
            id: WorkerId::for_name(name),
            name: name.into(),
            ip: "198.18.0.1".parse().unwrap(),
            hostname: name.into(),
            zone: String::new(),
        }
    }

    #[test]
    fn every_ordered_pair_once_and_never_a_worker_with_itself() {
        for n in 0..6usize {
            let mut ws: Vec<_> = (0..n).map(|i| worker(&format!("node-{i}"))).rev().collect();
            let pairs = plan(&mut ws);
            assert_eq!(pairs.len(), n * n.saturating_sub(1));
            let set: HashSet<_> = pairs.iter().map(|p| (p.client, p.server)).collect();
            assert_eq!(set.len(), pairs.len());
            assert!(pairs.iter().all(|p| p.client != p.server));
            let ids: HashSet<_> = pairs.iter().map(|p| p.id.clone()).collect();
            assert_eq!(ids.len(), pairs.len());
        }
    }

    #[test]
    fn order_is_stable_whatever_the_join_order() {
        let mut a = vec![worker("b"), worker("a"), worker("c")];
        let mut b = vec![worker("c"), worker("b"), worker("a")];
        assert_eq!(plan(&mut a), plan(&mut b));
        assert_eq!(a[0].name, "a");
    }
}
