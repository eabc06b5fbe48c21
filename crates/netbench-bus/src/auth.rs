//! Per-run NATS credentials for each role, and the server's `auth.conf` rendered from
//! `nats/auth.conf.template` (where the permissions themselves live).

use crate::NatsArgs;
use netbench_proto::{RunId, WorkerId};

/// `nats/auth.conf.template`.
pub const AUTH_TEMPLATE: &str = include_str!("../../../nats/auth.conf.template");

const WORKER_BEGIN: &str = "    # BEGIN worker\n";
const WORKER_END: &str = "    # END worker\n";

/// One user and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub password: String,
}

impl Login {
    fn fresh(user: String) -> Login {
        // 122 random bits per password (uuid v4), plenty for a run's lifetime.
        Login {
            user,
            password: uuid::Uuid::new_v4().simple().to_string(),
        }
    }
}

/// Fresh credentials for one run: orchestrator, observer, and one login per worker.
#[derive(Debug, Clone)]
pub struct RunCredentials {
    pub run: RunId,
    pub orchestrator: Login,
    pub observer: Login,
    pub workers: Vec<(WorkerId, Login)>,
}

impl RunCredentials {
    pub fn generate(run: &RunId, workers: &[WorkerId]) -> RunCredentials {
        RunCredentials {
            run: run.clone(),
            orchestrator: Login::fresh("orchestrator".into()),
            observer: Login::fresh("observer".into()),
            workers: workers
                .iter()
                .map(|id| (id.clone(), Login::fresh(format!("worker-{id}"))))
                .collect(),
        }
    }

    pub fn worker(&self, id: &WorkerId) -> Option<&Login> {
        self.workers.iter().find(|(w, _)| w == id).map(|(_, l)| l)
    }

    /// The `auth.conf` for nats-server.
    pub fn render(&self) -> String {
        let (head, rest) = AUTH_TEMPLATE
            .split_once(WORKER_BEGIN)
            .expect("template has a BEGIN worker line");
        let (worker_block, tail) = rest
            .split_once(WORKER_END)
            .expect("template has an END worker line");
        let mut out = head.to_string();
        for (id, login) in &self.workers {
            out.push_str(
                &worker_block
                    .replace("{{WORKER_ID}}", id.as_str())
                    .replace("{{WORKER_PASSWORD}}", &login.password),
            );
        }
        out.push_str(tail);
        out.replace("{{RUN}}", self.run.as_str())
            .replace("{{ORCHESTRATOR_PASSWORD}}", &self.orchestrator.password)
            .replace("{{OBSERVER_PASSWORD}}", &self.observer.password)
    }
}

impl NatsArgs {
    /// The same server, logged in as `login`.
    pub fn with_login(&self, login: &Login) -> NatsArgs {
        NatsArgs {
            connect_wait: Default::default(),
            user: Some(login.user.clone()),
            password: Some(login.password.clone()),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_config_has_every_role_and_no_placeholder_left() {
        let run: RunId = "abc123".parse().unwrap();
        let ids = [WorkerId::for_name("node-1"), WorkerId::for_name("node-2")];
        let creds = RunCredentials::generate(&run, &ids);
        let conf = creds.render();
        let live: Vec<&str> = conf
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect();
        assert!(live.iter().all(|l| !l.contains("{{")), "{conf}");
        for id in &ids {
            assert!(conf.contains(&format!("\"worker-{id}\"")));
            assert!(conf.contains(&format!("netbench.abc123.worker.{id}.task")));
        }
        assert!(conf.contains(&creds.orchestrator.password));
        assert_ne!(creds.orchestrator.password, creds.observer.password);
        // Passwords differ run to run.
        assert_ne!(
            RunCredentials::generate(&run, &ids).orchestrator,
            creds.orchestrator
        );
    }
}
