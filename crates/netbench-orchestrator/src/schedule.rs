//! Which pair starts next: up to N pairs at once, never a worker in two pairs at the same time.
//! Pure: the run loop asks [`Scheduler::start_next`] for a pair it may start now, and tells
//! [`Scheduler::finish`] when one is over.
//!
//! Pairs come from a lazy source (the plan, in an order where neighbours are disjoint as far as
//! the plan allows). A pair whose workers are busy waits in a small look-ahead window, so a busy
//! worker does not stall the pairs behind it; the window is bounded, so memory does not grow
//! with the plan. With a concurrency of 1 the pairs start exactly in the source's order.

use std::collections::VecDeque;

/// One pair to run: its position in the plan and its two workers (indices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Job {
    pub index: u64,
    pub client: usize,
    pub server: usize,
}

pub struct Scheduler<I> {
    source: std::iter::Fuse<I>,
    waiting: VecDeque<Job>,
    window: usize,
    limit: usize,
    busy: Vec<bool>,
    /// Running pairs and the most pairs that ran at once during each.
    running: Vec<(Job, u32)>,
}

impl<I: Iterator<Item = Job>> Scheduler<I> {
    /// `workers` is the number of workers the jobs index into; `concurrency` ≥ 1.
    pub fn new(source: I, workers: usize, concurrency: usize) -> Scheduler<I> {
        let limit = concurrency.max(1);
        Scheduler {
            source: source.fuse(),
            waiting: VecDeque::new(),
            // Enough look-ahead to fill every slot from a source whose neighbours are disjoint,
            // with room for the pairs that wait on a busy worker.
            window: if limit == 1 { 1 } else { 64.max(8 * limit) },
            limit,
            busy: vec![false; workers],
            running: Vec::with_capacity(limit),
        }
    }

    fn free(&self, j: &Job) -> bool {
        !self.busy[j.client] && !self.busy[j.server]
    }

    /// A pair that may start now, if any: both workers free and fewer than `concurrency`
    /// running. The pair counts as running from here on.
    pub fn start_next(&mut self) -> Option<Job> {
        if self.running.len() >= self.limit {
            return None;
        }
        let job = match self.waiting.iter().position(|j| self.free(j)) {
            Some(i) => self.waiting.remove(i).expect("in range"),
            None => loop {
                if self.waiting.len() >= self.window {
                    return None;
                }
                let j = self.source.next()?;
                if self.free(&j) {
                    break j;
                }
                self.waiting.push_back(j);
            },
        };
        self.busy[job.client] = true;
        self.busy[job.server] = true;
        self.running.push((job, 0));
        let now = self.running.len() as u32;
        for (_, peak) in &mut self.running {
            *peak = (*peak).max(now);
        }
        Some(job)
    }

    /// The pair is over: its workers are free again. Returns how many pairs ran at once at
    /// most while it ran (itself included).
    pub fn finish(&mut self, job: &Job) -> u32 {
        let Some(i) = self.running.iter().position(|(j, _)| j == job) else {
            return 1;
        };
        let (_, peak) = self.running.swap_remove(i);
        self.busy[job.client] = false;
        self.busy[job.server] = false;
        peak.max(1)
    }

    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// The pairs running now (for the deadline, which cuts them short).
    pub fn running_jobs(&self) -> impl Iterator<Item = &Job> {
        self.running.iter().map(|(j, _)| j)
    }

    /// True when nothing runs and nothing is left to start.
    pub fn is_done(&mut self) -> bool {
        self.running.is_empty() && self.waiting.is_empty() && {
            match self.source.next() {
                Some(j) => {
                    self.waiting.push_front(j);
                    false
                }
                None => true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mesh(n: usize) -> Vec<Job> {
        let mut v = Vec::new();
        for c in 0..n {
            for s in 0..n {
                if c != s {
                    v.push(Job {
                        index: v.len() as u64,
                        client: c,
                        server: s,
                    });
                }
            }
        }
        v
    }

    /// Run the scheduler to the end, finishing the oldest running pair each step.
    fn drive(jobs: Vec<Job>, n: usize, k: usize) -> (Vec<Job>, usize, Vec<u32>) {
        let mut s = Scheduler::new(jobs.into_iter(), n, k);
        let mut started = Vec::new();
        let mut most = 0;
        let mut peaks = Vec::new();
        let mut queue: VecDeque<Job> = VecDeque::new();
        loop {
            while let Some(j) = s.start_next() {
                let mut seen = std::collections::HashSet::new();
                for r in s.running_jobs() {
                    assert!(seen.insert(r.client), "worker {} in two pairs", r.client);
                    assert!(seen.insert(r.server), "worker {} in two pairs", r.server);
                }
                started.push(j);
                queue.push_back(j);
                most = most.max(s.running());
            }
            match queue.pop_front() {
                Some(j) => peaks.push(s.finish(&j)),
                None => break,
            }
        }
        assert!(s.is_done());
        (started, most, peaks)
    }

    #[test]
    fn concurrency_one_keeps_the_source_order() {
        let jobs = mesh(4);
        let (started, most, peaks) = drive(jobs.clone(), 4, 1);
        assert_eq!(started, jobs);
        assert_eq!(most, 1);
        assert!(peaks.iter().all(|&p| p == 1));
    }

    #[test]
    fn every_pair_once_never_a_worker_twice_and_slots_filled() {
        for n in 2..9 {
            for k in 1..6 {
                let jobs = mesh(n);
                let (started, most, peaks) = drive(jobs.clone(), n, k);
                let mut a = started.clone();
                a.sort_by_key(|j| j.index);
                assert_eq!(a, jobs, "n={n} k={k}");
                assert!(most <= k.min(n / 2), "n={n} k={k}: {most} at once");
                assert!(most >= 1);
                assert!(peaks.iter().all(|&p| p as usize <= most));
                if k >= 2 && n >= 4 {
                    assert!(most >= 2, "n={n} k={k}: never more than one pair at once");
                }
            }
        }
    }

    #[test]
    fn a_pair_reports_the_most_pairs_that_ran_beside_it() {
        // 0→1 and 2→3 run together; 0→2 waits for both.
        let jobs = vec![
            Job {
                index: 0,
                client: 0,
                server: 1,
            },
            Job {
                index: 1,
                client: 2,
                server: 3,
            },
            Job {
                index: 2,
                client: 0,
                server: 2,
            },
        ];
        let mut s = Scheduler::new(jobs.clone().into_iter(), 4, 3);
        assert_eq!(s.start_next(), Some(jobs[0]));
        assert_eq!(s.start_next(), Some(jobs[1]));
        assert_eq!(s.start_next(), None, "0→2 needs workers that are busy");
        assert_eq!(s.finish(&jobs[0]), 2);
        assert_eq!(s.start_next(), None, "worker 2 is still busy");
        assert_eq!(s.finish(&jobs[1]), 2);
        assert_eq!(s.start_next(), Some(jobs[2]));
        assert_eq!(s.finish(&jobs[2]), 1);
        assert!(s.is_done());
    }

    #[test]
    fn the_window_stays_bounded_on_a_source_that_always_waits() {
        // Every pair uses worker 0: nothing can run beside the first, and the scheduler must
        // not pull the whole (here: endless) source into its window.
        let endless = (0u64..).map(|i| Job {
            index: i,
            client: 0,
            server: 1 + (i as usize % 3),
        });
        let mut s = Scheduler::new(endless, 4, 8);
        assert!(s.start_next().is_some());
        assert_eq!(s.start_next(), None);
        assert!(s.waiting.len() <= s.window);
    }
}
