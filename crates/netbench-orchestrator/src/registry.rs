//! Worker registration: a pure record of who joined, and the NATS handler that fills it.

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
}

impl Registry {
    pub fn admit(&mut self, reg: &Register, bench: &Benchmark) -> Admission {
        let missing: Vec<&'static str> = bench
            .programs()
            .into_iter()
            .filter(|p| !reg.tools.iter().any(|t| t == p))
            .collect();
        if !missing.is_empty() {
            self.lacking
                .insert(reg.worker.name.clone(), missing.clone());
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
