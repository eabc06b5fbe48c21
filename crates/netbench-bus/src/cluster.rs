//! A NATS cluster's routes: the `cluster {}` block appended to a server's rendered `auth.conf`
//! (as the TLS block is), with the routes between the servers authenticated by a password
//! generated for the run. `netbench local --nats-cluster 3` and `netbench launch
//! --nats-replicas 3` render it; JetStream then replicates the stream and bucket over it.

/// The routes of one NATS cluster, the same for every server in it (a server skips the route
/// to itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRoutes {
    /// The cluster's name (every server the same).
    pub name: String,
    /// Where each server listens for routes, e.g. `0.0.0.0:6222`.
    pub listen: String,
    /// Every server's route address, `host:port`.
    pub routes: Vec<String>,
    pub user: String,
    pub password: String,
    /// Do not tell clients the other servers' client URLs (`no_advertise`): for clients that
    /// cannot reach those addresses (workers in network namespaces reach NATS through relays)
    /// and keep to the URLs they were given.
    pub no_advertise: bool,
}

impl ClusterRoutes {
    /// Routes for `routes` (`host:port` each) with a fresh random password.
    pub fn generate(listen: &str, routes: Vec<String>) -> ClusterRoutes {
        ClusterRoutes {
            name: "netbench".into(),
            listen: listen.into(),
            routes,
            user: "route".into(),
            password: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
            no_advertise: true,
        }
    }

    /// The `cluster {}` block (nats-server configuration syntax).
    pub fn block(&self) -> String {
        let routes: Vec<String> = self
            .routes
            .iter()
            .map(|r| format!("    \"nats-route://{}:{}@{r}\"", self.user, self.password))
            .collect();
        let advertise = if self.no_advertise {
            "  no_advertise: true\n"
        } else {
            ""
        };
        format!(
            "\n# Routes between the servers of this run's NATS cluster (netbench renders this).\n\
             cluster {{\n  name: {name}\n  listen: \"{listen}\"\n{advertise}  \
             authorization {{ user: \"{user}\", password: \"{password}\" }}\n  routes: [\n{routes}\n  ]\n}}\n",
            name = self.name,
            listen = self.listen,
            user = self.user,
            password = self.password,
            routes = routes.join("\n"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_lists_every_route_with_the_login() {
        let r = ClusterRoutes::generate(
            "127.0.0.1:7001",
            vec!["127.0.0.1:7001".into(), "127.0.0.1:7002".into()],
        );
        let b = r.block();
        assert!(b.contains("listen: \"127.0.0.1:7001\""), "{b}");
        assert!(b.contains(&format!("nats-route://route:{}@127.0.0.1:7002", r.password)));
        assert!(b.contains("no_advertise: true"));
        assert_eq!(r.password.len(), 64);
        assert_ne!(r.password, ClusterRoutes::generate("x", vec![]).password);
    }
}
