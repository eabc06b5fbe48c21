//! Who joined the run: a pure record, filled by [`crate::registration`].

use netbench_bench::Benchmark;
use netbench_proto::{Register, WorkerId, WorkerInfo};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub struct Registry {
    workers: BTreeMap<WorkerId, WorkerInfo>,
    /// When each worker last registered, as a count of registrations (see [`Lost`]).
    joined: BTreeMap<WorkerId, u64>,
    registrations: u64,
    /// Workers that lack a program of the benchmark, with the programs missing.
    lacking: BTreeMap<String, Vec<&'static str>>,
}

/// What to tell a worker that registers.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    New,
    Again,
    MissingTools(Vec<&'static str>),
    /// The run has all the workers it asked for; a new one is refused.
    Full,
}

impl Registry {
    /// Admit `reg`, at most `capacity` distinct workers (and as many remembered as lacking a
    /// tool), so that no registrant can make the registry grow without bound.
    pub fn admit(&mut self, reg: &Register, benches: &[&Benchmark], capacity: usize) -> Admission {
        let known = self.workers.contains_key(&reg.worker.id);
        if !known && self.workers.len() >= capacity {
            return Admission::Full;
        }
        let mut missing: Vec<&'static str> = Vec::new();
        for p in benches.iter().flat_map(|b| b.programs()) {
            if !reg.tools.iter().any(|t| t == p) && !missing.contains(&p) {
                missing.push(p);
            }
        }
        if !missing.is_empty() {
            if self.lacking.len() < capacity || self.lacking.contains_key(&reg.worker.name) {
                self.lacking
                    .insert(reg.worker.name.clone(), missing.clone());
            }
            return Admission::MissingTools(missing);
        }
        self.lacking.remove(&reg.worker.name);
        self.registrations += 1;
        self.joined
            .insert(reg.worker.id.clone(), self.registrations);
        match self
            .workers
            .insert(reg.worker.id.clone(), reg.worker.clone())
        {
            None => Admission::New,
            Some(_) => Admission::Again,
        }
    }
    pub fn len(&self) -> usize {
        self.workers.len()
    }
    /// A worker as it last registered (a restarted pod may come back with another address).
    pub fn get(&self, id: &WorkerId) -> Option<&WorkerInfo> {
        self.workers.get(id)
    }
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }
    pub fn workers(&self) -> Vec<WorkerInfo> {
        self.workers.values().cloned().collect()
    }
    pub fn lacking(&self) -> &BTreeMap<String, Vec<&'static str>> {
        &self.lacking
    }
    /// Of the `expected` names, those that have not registered.
    pub fn missing<'a>(&self, expected: &'a [String]) -> Vec<&'a str> {
        expected
            .iter()
            .filter(|n| !self.workers.values().any(|w| &w.name == *n))
            .map(String::as_str)
            .collect()
    }
    /// Names of the workers that registered.
    pub fn names(&self) -> Vec<&str> {
        self.workers.values().map(|w| w.name.as_str()).collect()
    }
}

/// Workers lost during the run. One that registers again after it was lost (a restarted pod,
/// a network blip on its side) is usable again: it used to stay lost for the rest of the run.
#[derive(Debug, Default)]
pub struct Lost(BTreeMap<WorkerId, u64>);

impl Lost {
    pub fn mark(&mut self, id: &WorkerId, registry: &Registry) {
        self.0.insert(id.clone(), registry.registrations);
    }
    pub fn contains(&self, id: &WorkerId) -> bool {
        self.0.contains_key(id)
    }
    /// Forget, and return, the lost workers that registered again since.
    pub fn returned(&mut self, registry: &Registry) -> Vec<WorkerId> {
        let back: Vec<WorkerId> = self
            .0
            .iter()
            .filter(|(id, at)| registry.joined.get(*id).is_some_and(|j| j > *at))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &back {
            self.0.remove(id);
        }
        back
    }
}
