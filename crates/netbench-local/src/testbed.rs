//! Network namespaces as nodes: a bridge in the host namespace with the gateway address
//! `198.18.X.254/24`, and per node a namespace with a veth (`eth0`, `198.18.X.i/24`) on it.
//! Nodes get no default route: they reach each other and the gateway, nothing else.

use std::net::Ipv4Addr;
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    #[error(
        "network namespaces need root (ip netns add failed: {0}). Run `sudo netbench local …`"
    )]
    NotRoot(String),
    #[error("{cmd} failed: {stderr}")]
    Ip { cmd: String, stderr: String },
    #[error("subnet {0} is not a /24 inside 198.18.0.0/15; use e.g. --subnet 198.18.7.0/24")]
    Subnet(String),
    #[error("198.18.{0}.0/24 is already in use on this host (another netbench local?); pick another --subnet")]
    InUse(u8),
    #[error("between 2 and 250 nodes are supported, not {0}")]
    Nodes(usize),
    #[error("{cmd} failed: {stderr}")]
    Tc { cmd: String, stderr: String },
}

/// A link rate for `tc ... tbf`, in bits per second (`--link-rate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkRate {
    pub bits_per_second: u64,
}

/// Why a `--link-rate` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "link rate {0:?} is not a rate like 100mbit, 2.5gbit or 500kbit \
     (bits per second, units kbit, mbit or gbit, from 8kbit to 400gbit)"
)]
pub struct BadLinkRate(pub String);

impl std::str::FromStr for LinkRate {
    type Err = BadLinkRate;
    fn from_str(s: &str) -> Result<LinkRate, BadLinkRate> {
        let bad = || BadLinkRate(s.to_string());
        let lower = s.trim().to_ascii_lowercase();
        let split = lower
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, unit) = lower.split_at(split);
        let scale = match unit {
            "kbit" => 1e3,
            "mbit" => 1e6,
            "gbit" => 1e9,
            _ => return Err(bad()),
        };
        let n: f64 = number.parse().map_err(|_| bad())?;
        let bits = (n * scale).round();
        if !(8e3..=400e9).contains(&bits) {
            return Err(bad());
        }
        Ok(LinkRate {
            bits_per_second: bits as u64,
        })
    }
}

impl std::fmt::Display for LinkRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}bit", self.bits_per_second)
    }
}

impl LinkRate {
    /// The tbf bucket in bytes: 4 ms at the rate (a 250 Hz kernel tick), at least 64 KiB so
    /// that one GSO segment fits.
    pub fn burst_bytes(&self) -> u64 {
        (self.bits_per_second / 8 / 250).max(64 * 1024)
    }
}

/// A /24 in 198.18.0.0/15, given by its third octet and whether it is 198.19.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub second: u8,
    pub third: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Subnet, TestbedError> {
        let bad = || TestbedError::Subnet(s.to_string());
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let o = addr.octets();
        if len != "24" || o[0] != 198 || !(o[1] == 18 || o[1] == 19) || o[3] != 0 {
            return Err(bad());
        }
        Ok(Subnet {
            second: o[1],
            third: o[2],
        })
    }
    pub fn host(&self, last: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, self.second, self.third, last)
    }
    pub fn gateway(&self) -> Ipv4Addr {
        self.host(254)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "198.{}.{}.0/24", self.second, self.third)
    }
}

/// The name of node `i` (1-based): the worker's name, known before the testbed exists.
pub fn node_name(i: usize) -> String {
    format!("node-{i}")
}

#[derive(Debug, Clone)]
pub struct Node {
    /// Worker name, e.g. `node-1`.
    pub name: String,
    pub netns: String,
    pub ip: Ipv4Addr,
    /// The host end of the node's veth (on the bridge); the node's end is `eth0`.
    pub host_end: String,
}

/// The testbed. Dropping it kills whatever still runs in its namespaces and removes them.
#[derive(Debug)]
pub struct Testbed {
    pub subnet: Subnet,
    pub bridge: String,
    pub nodes: Vec<Node>,
}

fn ip(args: &[&str]) -> Result<(), TestbedError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| TestbedError::Ip {
            cmd: format!("ip {}", args.join(" ")),
            stderr: format!("{e} (is iproute2 installed?)"),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TestbedError::Ip {
            cmd: format!("ip {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

impl Testbed {
    /// Build `nodes` nodes on `subnet`. `tag` (≤ 6 chars of [a-z0-9]) keeps names unique.
    pub fn create(tag: &str, subnet: Subnet, nodes: usize) -> Result<Testbed, TestbedError> {
        if !(2..=250).contains(&nodes) {
            return Err(TestbedError::Nodes(nodes));
        }
        let gateway = subnet.gateway();
        let in_use = Command::new("ip")
            .args(["-4", "-o", "addr", "show", "to", &subnet.to_string()])
            .output()
            .map(|o| !o.stdout.is_empty())
            .unwrap_or(false);
        if in_use {
            return Err(TestbedError::InUse(subnet.third));
        }
        let mut bed = Testbed {
            subnet,
            bridge: format!("nbbr-{tag}"),
            nodes: Vec::new(),
        };
        // On error from here on, `bed` is dropped and removes what was made.
        ip(&["link", "add", &bed.bridge, "type", "bridge"]).map_err(|e| match e {
            TestbedError::Ip { stderr, .. } if stderr.contains("Operation not permitted") => {
                TestbedError::NotRoot(stderr)
            }
            e => e,
        })?;
        ip(&["addr", "add", &format!("{gateway}/24"), "dev", &bed.bridge])?;
        ip(&["link", "set", &bed.bridge, "up"])?;
        for i in 1..=nodes {
            let node = Node {
                name: node_name(i),
                netns: format!("nb-{tag}-{i}"),
                ip: subnet.host(i as u8),
                host_end: format!("nbv-{tag}-{i}"),
            };
            let host_end = node.host_end.clone();
            ip(&["netns", "add", &node.netns])?;
            bed.nodes.push(node.clone());
            let add_veth = || {
                ip(&[
                    "link",
                    "add",
                    &host_end,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    &node.netns,
                ])
            };
            // A bed just torn down on this subnet may still be freeing its veth (a namespace
            // goes when its last process has): give it a moment.
            let mut tries = 0;
            while let Err(e) = add_veth() {
                tries += 1;
                if tries >= 40 || !e.to_string().contains("File exists") {
                    return Err(e);
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            ip(&["link", "set", &host_end, "master", &bed.bridge, "up"])?;
            ip(&[
                "-n",
                &node.netns,
                "addr",
                "add",
                &format!("{}/24", node.ip),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &node.netns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &node.netns, "link", "set", "lo", "up"])?;
        }
        Ok(bed)
    }
}

fn tc(args: &[&str]) -> Result<(), TestbedError> {
    let cmd = || format!("tc {}", args.join(" "));
    let out = Command::new("tc")
        .args(args)
        .output()
        .map_err(|e| TestbedError::Tc {
            cmd: cmd(),
            stderr: format!("{e} (is iproute2 installed?)"),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TestbedError::Tc {
            cmd: cmd(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

impl Testbed {
    /// Shape every node's link to `rate` both ways: a tbf qdisc on the node's `eth0` (what it
    /// sends) and on the veth's host end (what it receives). They go with the veths.
    pub fn shape(&self, rate: LinkRate) -> Result<(), TestbedError> {
        let rate_arg = rate.to_string();
        let burst = rate.burst_bytes().to_string();
        let tbf = [
            "root", "tbf", "rate", &rate_arg, "burst", &burst, "latency", "50ms",
        ];
        for node in &self.nodes {
            let mut inside = vec!["-n", &node.netns, "qdisc", "replace", "dev", "eth0"];
            inside.extend(tbf);
            tc(&inside)?;
            let mut outside = vec!["qdisc", "replace", "dev", &node.host_end];
            outside.extend(tbf);
            tc(&outside)?;
        }
        Ok(())
    }
}

/// Kill every process in a namespace (SIGKILL) and wait until none is left (max ~2 s).
pub fn kill_namespace_processes(netns: &str) {
    for _ in 0..200 {
        let pids = Command::new("ip").args(["netns", "pids", netns]).output();
        let pids: Vec<i32> = pids
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        for node in &self.nodes {
            kill_namespace_processes(&node.netns);
            // The host end first: deleting it removes both ends at once, while a namespace
            // (and the veth in it) is freed only when its last process is gone, asynchronously:
            // the next bed on the same subnet found `nbv-…` still there ("File exists").
            match ip(&["link", "del", &node.host_end]) {
                Err(e) if !e.to_string().contains("Cannot find device") => {
                    eprintln!("warning: could not delete veth {}: {e}", node.host_end)
                }
                _ => {}
            }
            if let Err(e) = ip(&["netns", "del", &node.netns]) {
                eprintln!(
                    "warning: could not delete network namespace {}: {e}",
                    node.netns
                );
            }
        }
        if let Err(e) = ip(&["link", "del", &self.bridge]) {
            eprintln!("warning: could not delete bridge {}: {e}", self.bridge);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_24s_inside_the_benchmarking_range_are_accepted() {
        assert_eq!(
            Subnet::parse("198.18.0.0/24").unwrap().gateway(),
            Ipv4Addr::new(198, 18, 0, 254)
        );
        assert_eq!(
            Subnet::parse("198.19.7.0/24").unwrap().host(3),
            Ipv4Addr::new(198, 19, 7, 3)
        );
        for bad in [
            "10.0.0.0/24",
            "198.18.0.0/16",
            "198.20.0.0/24",
            "198.18.0.5/24",
            "junk",
        ] {
            assert!(Subnet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn link_rates_are_bits_per_second_with_a_unit() {
        let rate = |s: &str| s.parse::<LinkRate>().map(|r| r.bits_per_second);
        assert_eq!(rate("100mbit"), Ok(100_000_000));
        assert_eq!(rate("2.5Gbit"), Ok(2_500_000_000));
        assert_eq!(rate(" 500kbit "), Ok(500_000));
        let r: LinkRate = "100mbit".parse().unwrap();
        assert_eq!(r.to_string(), "100000000bit");
        assert_eq!(r.burst_bytes(), 64 * 1024);
        assert_eq!(
            "10gbit".parse::<LinkRate>().unwrap().burst_bytes(),
            5_000_000
        );
        for bad in [
            "",
            "100",
            "mbit",
            "100mbps",
            "100 mbit",
            "1.2.3mbit",
            "-5mbit",
            "1kbit",
            "500gbit",
        ] {
            let e = bad.parse::<LinkRate>().unwrap_err().to_string();
            assert!(e.contains("like 100mbit"), "{bad}: {e}");
        }
    }
}
