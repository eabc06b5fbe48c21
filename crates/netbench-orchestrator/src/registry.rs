//! Who joined the run: a pure record, filled by [`crate::registration`].

use netbench_bench::Benchmark;
use netbench_proto::{Register, WorkerId, WorkerInfo};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub struct Registry {
    workers: BTreeMap<WorkerId, WorkerInfo>,
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
    pub fn admit(&mut self, reg: &Register, bench: &Benchmark, capacity: usize) -> Admission {
        let known = self.workers.contains_key(&reg.worker.id);
        if !known && self.workers.len() >= capacity {
            return Admission::Full;
        }
        let missing: Vec<&'static str> = bench
            .programs()
            .into_iter()
            .filter(|p| !reg.tools.iter().any(|t| t == p))
            .collect();
        if !missing.is_empty() {
            if self.lacking.len() < capacity || self.lacking.contains_key(&reg.worker.name) {
                self.lacking
                    .insert(reg.worker.name.clone(), missing.clone());
            }
            return Admission::MissingTools(missing);
        }
        self.lacking.remove(&reg.worker.name);
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
