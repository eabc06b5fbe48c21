//! Pair planning (issue #14): which ordered client→server pairs a run measures, and in which
//! order. Pure: no I/O except [`PlanSpec::load`] (and [`PlanSpec::from_str`], which calls it for
//! `pairs:FILE`).
//!
//! # Plans
//!
//! | `--plan`     | pairs                                                                     |
//! |--------------|---------------------------------------------------------------------------|
//! | `mesh`       | every ordered pair: n·(n−1) (the default)                                 |
//! | `ring`       | each node to the next by name, the last to the first: n                  |
//! | `star:NODE`  | NODE to and from every other node: 2·(n−1)                                |
//! | `zones:K`    | for every ordered pair of zones (same zone included) K pairs (all if fewer), spread evenly over the zones' nodes; nodes without a zone form one more zone |
//! | `sample:K`   | K distinct ordered pairs drawn uniformly, reproducible with the seed      |
//! | `pairs:FILE` | the pairs listed in FILE, one `client,server` a line (`#` comments)       |
//!
//! `--clients`/`--servers` ([`NamePatterns`]: comma-separated globs with `*`, `?` and `[a-z]`)
//! restrict who may be a client or a server, with any plan: pairs that violate them are dropped
//! (`sample:K` and `zones:K` only choose among the allowed pairs).
//!
//! # Use
//!
//! ```
//! use netbench_orchestrator::plan::{Plan, PlanNode, PlanSpec};
//! let nodes: Vec<PlanNode> = ["c", "a", "b"].iter().map(|n| PlanNode::new(*n, "")).collect();
//! let spec: PlanSpec = "ring".parse().unwrap();
//! let plan = Plan::new(&spec, &nodes, None, None, 42).unwrap();
//! assert_eq!(plan.nodes()[0].name, "a"); // sorted by name; pair indices point here
//! assert_eq!(plan.len(), 3);
//! let first = plan.pairs().next().unwrap();
//! assert_eq!((first.index, first.client, first.server), (0, 0, 1)); // a→b
//! assert_eq!(plan.rounds(8), 3); // an odd ring needs three rounds of disjoint pairs
//! ```
//!
//! - [`Plan::new`] sorts a copy of the nodes by name ([`Plan::nodes`]); names must be unique.
//! - [`Plan::pairs`]: the canonical order, lazy. `mesh` is client-major by name, exactly the
//!   order of the old one-at-a-time runs. [`PlanPair::index`] is the position in this order.
//! - [`Plan::pairs_for_concurrency`]: the same pairs, ordered in rounds of disjoint pairs (no node
//!   in two pairs of a round): `mesh` by the circle method (round-robin tournament, both
//!   directions), lazily; the others by a greedy first-fit colouring. A scheduler that runs up to
//!   N pairs at once takes them in this order with a small look-ahead.
//! - [`Plan::rounds`]: how many rounds of at most `concurrency` disjoint pairs the plan needs:
//!   `max(⌈len / min(c, M)⌉, max pairs of one node)`, M the largest possible set of disjoint
//!   pairs. Exact for an unfiltered `mesh` (and for `ring`/`star`); a lower bound otherwise.
//! - Memory: `mesh` and `sample` are O(n) (a 5,000-node mesh is 25 M pairs and never a `Vec`);
//!   `ring`, `star` have O(n) pairs anyway; `zones` and `pairs` are materialised (small).
//! - [`estimate`], [`refusal`]: how long a plan takes and the message that refuses a plan that
//!   does not fit the deadline, with alternatives that do.

use netbench_proto::WorkerInfo;
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// The serial runs' pairing before plans, kept as the tests' reference for the mesh's order.

/// One client/server pair, by index into the worker list.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// `<client-id>--<server-id>`: stable across orchestrator restarts, subject-safe.
    pub id: String,
    pub client: usize,
    pub server: usize,
}

/// Sort workers by name, then list every ordered pair (a→b and b→a), client-major.
/// n workers give n·(n-1) pairs. (The old interface: [`Plan`] with [`PlanSpec::Mesh`] gives the
/// same pairs in the same order without materialising them.)
#[cfg(test)]
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

// ---------------------------------------------------------------------------------------------
// Errors.

/// Why a plan cannot be made. Every message says what is wrong and what to write instead
/// (exit code 2 material).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// `--plan` names no plan.
    #[error("unknown plan {0:?}: write mesh, ring, star:NODE, zones:K, sample:K or pairs:FILE")]
    UnknownPlan(String),
    /// A plan with a bad or missing argument (the message is complete).
    #[error("{0}")]
    BadArgument(String),
    /// The pairs file cannot be read or has bad lines.
    #[error("pairs file {file}: {why}")]
    PairsFile { file: String, why: String },
    /// A bad `--clients`/`--servers` pattern.
    #[error("bad name pattern {text:?}: {why}")]
    BadPattern { text: String, why: String },
    /// Two nodes with one name.
    #[error("two nodes are named {0:?}: node names must be unique")]
    DuplicateNode(String),
    /// `star:NODE` with an unknown NODE.
    #[error(
        "star:{node}: there is no node {node:?}; write star:NODE with one of the nodes: {known}"
    )]
    UnknownStar { node: String, known: String },
    /// `zones:K` without zones.
    #[error("zones:{0} needs node zones (topology.kubernetes.io/zone; in `local`, --zones N): none of the nodes has one; use sample:K or ring instead")]
    NoZones(u32),
    /// `sample:K` with K above the number of pairs.
    #[error("sample:{k} asks for more pairs than there are: at most {max} pairs are possible here; write sample:{max} or less, or mesh")]
    SampleTooLarge { k: u64, max: u64 },
    /// `pairs:FILE` naming nodes that are not there.
    #[error("{plan} names unknown node(s) {unknown}; the nodes are: {known}")]
    UnknownNames {
        plan: String,
        unknown: String,
        known: String,
    },
    /// A `pairs` list with a self-pair or a duplicate (built without a file).
    #[error("{0}")]
    BadPairs(String),
    /// Nothing to measure.
    #[error("{plan} leaves no pair to measure: {why}")]
    NoPairs { plan: String, why: String },
}

/// At most this many names in a message.
const NAMES_SHOWN: usize = 5;

/// `a, b, c, d, e, … (12 in all)`.
fn name_list<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> String {
    let total = names.len();
    if total == 0 {
        return "(none)".into();
    }
    let shown: Vec<&str> = names.take(NAMES_SHOWN).collect();
    let mut s = shown.join(", ");
    if total > NAMES_SHOWN {
        s.push_str(&format!(", … ({total} in all)"));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Nodes and plan specs.

/// A node (worker) as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlanNode {
    pub name: String,
    /// Availability zone, or empty if unknown.
    pub zone: String,
}

impl PlanNode {
    pub fn new(name: impl Into<String>, zone: impl Into<String>) -> Self {
        PlanNode {
            name: name.into(),
            zone: zone.into(),
        }
    }
}

impl From<&WorkerInfo> for PlanNode {
    fn from(w: &WorkerInfo) -> Self {
        PlanNode::new(w.name.clone(), w.zone.clone())
    }
}

/// What `--plan` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PlanSpec {
    /// Every ordered pair (the default).
    #[default]
    Mesh,
    /// Each node to the next by name, the last to the first.
    Ring,
    /// The node to and from every other node.
    Star(String),
    /// K pairs for every ordered pair of zones (same zone included).
    Zones(u32),
    /// K distinct ordered pairs, uniformly, reproducible with the seed.
    Sample(u64),
    /// An explicit list of `(client, server)` names; `file` is where it came from (for messages).
    Pairs {
        file: String,
        pairs: Vec<(String, String)>,
    },
}

impl fmt::Display for PlanSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanSpec::Mesh => f.write_str("mesh"),
            PlanSpec::Ring => f.write_str("ring"),
            PlanSpec::Star(node) => write!(f, "star:{node}"),
            PlanSpec::Zones(k) => write!(f, "zones:{k}"),
            PlanSpec::Sample(k) => write!(f, "sample:{k}"),
            PlanSpec::Pairs { file, pairs } => {
                let n = pairs.len();
                write!(f, "pairs:{file}({n} pair{})", if n == 1 { "" } else { "s" })
            }
        }
    }
}

impl PlanSpec {
    /// Parse a `--plan` value; `read` gives the text of a pairs file (or why it cannot).
    /// Pure; [`FromStr`] passes a `read` that reads the file.
    pub fn parse_with(
        text: &str,
        read: impl FnOnce(&str) -> Result<String, String>,
    ) -> Result<PlanSpec, PlanError> {
        let text = text.trim();
        let (kind, arg) = match text.split_once(':') {
            Some((k, a)) => (k.trim(), Some(a.trim())),
            None => (text, None),
        };
        let bad = |m: String| Err(PlanError::BadArgument(m));
        match (kind.to_ascii_lowercase().as_str(), arg) {
            ("mesh", None) => Ok(PlanSpec::Mesh),
            ("ring", None) => Ok(PlanSpec::Ring),
            (k @ ("mesh" | "ring"), Some(a)) => {
                bad(format!("{k} takes no argument (got {k}:{a}): write {k}"))
            }
            ("star", None) | ("star", Some("")) => {
                bad("star needs the node in the middle: write star:NODE".into())
            }
            ("star", Some(node)) => Ok(PlanSpec::Star(node.to_string())),
            ("zones", a) => match a.map(|a| a.parse::<u32>()) {
                Some(Ok(k)) if k >= 1 => Ok(PlanSpec::Zones(k)),
                _ => bad(format!(
                    "zones needs a number of pairs per zone pair, at least 1 (got {text:?}): write e.g. zones:2"
                )),
            },
            ("sample", a) => match a.map(|a| a.parse::<u64>()) {
                Some(Ok(0)) => bad(
                    "sample:0 measures nothing: write sample:K with K at least 1, e.g. sample:100"
                        .into(),
                ),
                Some(Ok(k)) => Ok(PlanSpec::Sample(k)),
                _ => bad(format!(
                    "sample needs a number of pairs, at least 1 (got {text:?}): write e.g. sample:100"
                )),
            },
            ("pairs", None) | ("pairs", Some("")) => {
                bad("pairs needs a file: write pairs:FILE (one client,server a line)".into())
            }
            ("pairs", Some(file)) => {
                let body = read(file).map_err(|why| PlanError::PairsFile {
                    file: file.to_string(),
                    why: format!("cannot read it ({why}): write pairs:FILE with a readable file"),
                })?;
                let pairs = parse_pairs_text(&body).map_err(|why| PlanError::PairsFile {
                    file: file.to_string(),
                    why,
                })?;
                Ok(PlanSpec::Pairs {
                    file: file.to_string(),
                    pairs,
                })
            }
            _ => Err(PlanError::UnknownPlan(text.to_string())),
        }
    }

    /// Parse a `--plan` value, reading the file of `pairs:FILE`: the module's only I/O.
    pub fn load(text: &str) -> Result<PlanSpec, PlanError> {
        Self::parse_with(text, |file| {
            std::fs::read_to_string(file).map_err(|e| e.to_string())
        })
    }
}

impl FromStr for PlanSpec {
    type Err = PlanError;
    /// As [`PlanSpec::load`] (so `pairs:FILE` reads FILE).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::load(s)
    }
}

/// Parse a pairs file: one `client,server` a line; blank lines and `#` comments (whole lines or
/// after the pair) are ignored. Self-pairs, duplicates and bad lines are errors naming their line
/// numbers (the first few).
pub fn parse_pairs_text(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut seen: std::collections::HashMap<(String, String), usize> = Default::default();
    let mut problems = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let (c, s) = match fields.as_slice() {
            [c, s]
                if !c.is_empty()
                    && !s.is_empty()
                    && !c.contains(char::is_whitespace)
                    && !s.contains(char::is_whitespace) =>
            {
                (*c, *s)
            }
            _ => {
                problems.push(format!(
                    "line {line_no}: {line:?} is not client,server (write one pair a line, e.g. node-1,node-2)"
                ));
                continue;
            }
        };
        if c == s {
            problems.push(format!(
                "line {line_no}: {c},{s} pairs a node with itself (write two different nodes)"
            ));
            continue;
        }
        let key = (c.to_string(), s.to_string());
        if let Some(first) = seen.get(&key) {
            problems.push(format!(
                "line {line_no}: {c},{s} repeats line {first} (list each pair once)"
            ));
            continue;
        }
        seen.insert(key.clone(), line_no);
        pairs.push(key);
    }
    if !problems.is_empty() {
        let total = problems.len();
        let mut msg = problems
            .into_iter()
            .take(NAMES_SHOWN)
            .collect::<Vec<_>>()
            .join("; ");
        if total > NAMES_SHOWN {
            msg.push_str(&format!("; … ({total} bad lines in all)"));
        }
        return Err(msg);
    }
    if pairs.is_empty() {
        return Err("it lists no pairs: write one client,server a line".into());
    }
    Ok(pairs)
}

// ---------------------------------------------------------------------------------------------
// Name patterns.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `?`
    One,
    /// `*`
    Star,
    /// `[...]`, `[!...]`: inclusive ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Tok {
    fn matches(&self, c: char) -> bool {
        match self {
            Tok::Lit(l) => *l == c,
            Tok::One => true,
            Tok::Star => false,
            Tok::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
        }
    }
}

/// Who may be a client (`--clients`) or a server (`--servers`): comma-separated names or globs,
/// `*` any run of characters, `?` one character, `[a-c0-9]` one of a set (`[!...]` none of it),
/// e.g. `node-1,node-[0-9],zone-a-*`. A name matches if any of the globs matches all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePatterns {
    globs: Vec<(String, Vec<Tok>)>,
}

impl NamePatterns {
    /// Does `name` match one of the globs?
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        self.globs.iter().any(|(_, toks)| glob_match(toks, &name))
    }
}

/// Iterative glob matching with one backtrack point (correct since every token but `*` takes
/// exactly one character).
fn glob_match(toks: &[Tok], name: &[char]) -> bool {
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if t < toks.len() && toks[t] == Tok::Star {
            star = Some((t, n));
            t += 1;
        } else if t < toks.len() && toks[t].matches(name[n]) {
            t += 1;
            n += 1;
        } else if let Some((st, sn)) = star {
            t = st + 1;
            n = sn + 1;
            star = Some((st, sn + 1));
        } else {
            return false;
        }
    }
    toks[t..].iter().all(|t| *t == Tok::Star)
}

fn parse_glob(text: &str, glob: &str) -> Result<Vec<Tok>, PlanError> {
    let bad = |why: String| PlanError::BadPattern {
        text: text.to_string(),
        why,
    };
    let mut toks = Vec::new();
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                if toks.last() != Some(&Tok::Star) {
                    toks.push(Tok::Star)
                }
            }
            '?' => toks.push(Tok::One),
            '[' => {
                let negated = chars.next_if(|c| *c == '!' || *c == '^').is_some();
                let mut ranges = Vec::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    if c == ']' && !ranges.is_empty() {
                        closed = true;
                        break;
                    }
                    if chars.peek() == Some(&'-') {
                        chars.next();
                        match chars.next() {
                            Some(']') | None => {
                                return Err(bad(format!(
                                    "{glob:?}: the range in [...] has no end; write e.g. [0-9]"
                                )))
                            }
                            Some(hi) if hi < c => {
                                return Err(bad(format!(
                                    "{glob:?}: the range {c}-{hi} runs backwards; write {hi}-{c}"
                                )))
                            }
                            Some(hi) => ranges.push((c, hi)),
                        }
                    } else {
                        ranges.push((c, c));
                    }
                }
                if !closed {
                    return Err(bad(format!(
                        "{glob:?}: a [ without its ]; write e.g. node-[0-9] (a set of characters)"
                    )));
                }
                toks.push(Tok::Class { negated, ranges });
            }
            ']' => {
                return Err(bad(format!(
                    "{glob:?}: a ] without its [; write e.g. node-[0-9]"
                )))
            }
            c if c.is_whitespace() => {
                return Err(bad(format!(
                    "{glob:?} contains a space; separate names with commas, e.g. node-1,node-2"
                )))
            }
            c => toks.push(Tok::Lit(c)),
        }
    }
    Ok(toks)
}

impl FromStr for NamePatterns {
    type Err = PlanError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut globs = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            if part.is_empty() {
                return Err(PlanError::BadPattern {
                    text: text.to_string(),
                    why: "an empty name; write comma-separated names or globs, e.g. node-1,node-[0-9],zone-a-*".into(),
                });
            }
            globs.push((part.to_string(), parse_glob(text, part)?));
        }
        Ok(NamePatterns { globs })
    }
}

impl fmt::Display for NamePatterns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = self.globs.iter().map(|(s, _)| s.as_str()).collect();
        f.write_str(&parts.join(","))
    }
}

// ---------------------------------------------------------------------------------------------
// Seeded permutation (sample:K).

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const FEISTEL_ROUNDS: usize = 8;

/// A seeded bijection on `[0, len)`: a balanced Feistel network on the smallest even number of
/// bits that holds `len`, cycle-walked back into range.
#[derive(Debug, Clone)]
struct Permutation {
    len: u64,
    half_bits: u32,
    keys: [u64; FEISTEL_ROUNDS],
}

impl Permutation {
    fn new(len: u64, seed: u64) -> Self {
        let bits = (64 - len.saturating_sub(1).leading_zeros()).max(2);
        let half_bits = bits.div_ceil(2);
        let mut keys = [0; FEISTEL_ROUNDS];
        let mut state = splitmix64(seed ^ 0x6e65_7462_656e_6368); // "netbench"
        for k in &mut keys {
            state = splitmix64(state);
            *k = state;
        }
        Permutation {
            len,
            half_bits,
            keys,
        }
    }

    fn mask(&self) -> u64 {
        (1u64 << self.half_bits) - 1
    }

    fn round(&self, key: u64, x: u64) -> u64 {
        splitmix64(x ^ key) & self.mask()
    }

    fn feistel(&self, x: u64) -> u64 {
        let (mut l, mut r) = (x >> self.half_bits, x & self.mask());
        for &k in &self.keys {
            (l, r) = (r, l ^ self.round(k, r));
        }
        (l << self.half_bits) | r
    }

    fn feistel_inverse(&self, x: u64) -> u64 {
        let (mut l, mut r) = (x >> self.half_bits, x & self.mask());
        for &k in self.keys.iter().rev() {
            (l, r) = (r ^ self.round(k, l), l);
        }
        (l << self.half_bits) | r
    }

    fn forward(&self, i: u64) -> u64 {
        debug_assert!(i < self.len);
        let mut x = self.feistel(i);
        while x >= self.len {
            x = self.feistel(x);
        }
        x
    }

    fn inverse(&self, y: u64) -> u64 {
        debug_assert!(y < self.len);
        let mut x = self.feistel_inverse(y);
        while x >= self.len {
            x = self.feistel_inverse(x);
        }
        x
    }
}

// ---------------------------------------------------------------------------------------------
// Mesh over the allowed clients and servers, O(n).

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Mesh {
    clients: Vec<usize>,
    servers: Vec<usize>,
    /// Position of a node in `clients`/`servers`, or NONE.
    cpos: Vec<u32>,
    spos: Vec<u32>,
    /// prefix[i]: pairs of clients[..i]; len clients.len() + 1.
    prefix: Vec<u64>,
    /// clients ∪ servers, sorted.
    union: Vec<usize>,
    /// No node may be both.
    bipartite: bool,
}

impl Mesh {
    fn new(n: usize, client_ok: &[bool], server_ok: &[bool]) -> Mesh {
        let clients: Vec<usize> = (0..n).filter(|&i| client_ok[i]).collect();
        let servers: Vec<usize> = (0..n).filter(|&i| server_ok[i]).collect();
        let mut cpos = vec![NONE; n];
        let mut spos = vec![NONE; n];
        for (p, &c) in clients.iter().enumerate() {
            cpos[c] = p as u32;
        }
        for (p, &s) in servers.iter().enumerate() {
            spos[s] = p as u32;
        }
        let mut prefix = Vec::with_capacity(clients.len() + 1);
        let mut total = 0u64;
        prefix.push(0);
        for &c in &clients {
            total += servers.len() as u64 - u64::from(spos[c] != NONE);
            prefix.push(total);
        }
        let union: Vec<usize> = (0..n).filter(|&i| client_ok[i] || server_ok[i]).collect();
        let bipartite = (0..n).all(|i| !(client_ok[i] && server_ok[i]));
        Mesh {
            clients,
            servers,
            cpos,
            spos,
            prefix,
            union,
            bipartite,
        }
    }

    fn len(&self) -> u64 {
        *self.prefix.last().expect("prefix starts with 0")
    }

    fn allowed(&self, c: usize, s: usize) -> bool {
        c != s && self.cpos[c] != NONE && self.spos[s] != NONE
    }

    /// Position of an allowed pair in the client-major order.
    fn rank(&self, c: usize, s: usize) -> u64 {
        debug_assert!(self.allowed(c, s));
        let sp = self.spos[s];
        let own = self.spos[c];
        self.prefix[self.cpos[c] as usize] + u64::from(sp) - u64::from(own != NONE && own < sp)
    }

    /// The pair at position `r` of the client-major order.
    fn unrank(&self, r: u64) -> (usize, usize) {
        debug_assert!(r < self.len());
        let ci = self.prefix.partition_point(|&p| p <= r) - 1;
        let c = self.clients[ci];
        let j = (r - self.prefix[ci]) as usize;
        let own = self.spos[c];
        let j = if own != NONE && j >= own as usize {
            j + 1
        } else {
            j
        };
        (c, self.servers[j])
    }

    fn canonical(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.clients.iter().flat_map(move |&c| {
            self.servers
                .iter()
                .filter(move |&&s| s != c)
                .map(move |&s| (c, s))
        })
    }

    /// Rounds of disjoint pairs. Bipartite (clients and servers apart): round r pairs the i-th of
    /// the smaller side with the (i+r)-th of the larger (max(p, q) rounds, optimal). Otherwise the
    /// circle method on clients ∪ servers: each tournament round gives one round each way.
    fn concurrent(&self) -> Box<dyn Iterator<Item = (usize, usize)> + Send + '_> {
        if self.bipartite {
            let (p, q) = (self.clients.len(), self.servers.len());
            if p == 0 || q == 0 {
                return Box::new(std::iter::empty());
            }
            if p <= q {
                Box::new((0..q).flat_map(move |r| {
                    (0..p).map(move |i| (self.clients[i], self.servers[(i + r) % q]))
                }))
            } else {
                Box::new((0..p).flat_map(move |r| {
                    (0..q).map(move |j| (self.clients[(j + r) % p], self.servers[j]))
                }))
            }
        } else {
            let u = self.union.len();
            let m = u + (u % 2); // with a dummy (position u) if odd
            if m < 2 {
                return Box::new(std::iter::empty());
            }
            let node = move |pos: usize| self.union.get(pos).copied();
            Box::new((0..m - 1).flat_map(move |r| {
                (0..2).flat_map(move |back| {
                    (0..m / 2).filter_map(move |k| {
                        let (a, b) = if k == 0 {
                            if r % 2 == 0 {
                                (m - 1, r)
                            } else {
                                (r, m - 1)
                            }
                        } else {
                            ((r + k) % (m - 1), (r + m - 1 - k) % (m - 1))
                        };
                        let (a, b) = if back == 1 { (b, a) } else { (a, b) };
                        let (c, s) = (node(a)?, node(b)?);
                        self.allowed(c, s).then_some((c, s))
                    })
                })
            }))
        }
    }

    /// Largest set of disjoint allowed pairs: with A clients only, B servers only, X both,
    /// min(⌊|A∪B∪X|/2⌋, min(|A|,|B|) + |X|).
    fn max_matching(&self) -> u64 {
        let x = self
            .clients
            .iter()
            .filter(|&&c| self.spos[c] != NONE)
            .count() as u64;
        let a = self.clients.len() as u64 - x;
        let b = self.servers.len() as u64 - x;
        (self.union.len() as u64 / 2).min(a.min(b) + x)
    }

    fn max_degree(&self) -> u64 {
        let (nc, ns) = (self.clients.len() as u64, self.servers.len() as u64);
        self.union
            .iter()
            .map(|&v| {
                let (is_c, is_s) = (self.cpos[v] != NONE, self.spos[v] != NONE);
                let as_client = if is_c { ns - u64::from(is_s) } else { 0 };
                let as_server = if is_s { nc - u64::from(is_c) } else { 0 };
                as_client + as_server
            })
            .max()
            .unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------------------------
// Plans.

/// One pair of a plan: indices into [`Plan::nodes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlanPair {
    /// Position in the canonical order ([`Plan::pairs`]): 0..len.
    pub index: u64,
    pub client: usize,
    pub server: usize,
}

#[derive(Debug, Clone)]
enum Kind {
    Mesh(Mesh),
    Sample {
        mesh: Mesh,
        k: u64,
        perm: Permutation,
    },
    /// ring, star, zones, pairs: the canonical order, and the concurrency order (positions).
    List {
        pairs: Vec<(usize, usize)>,
        order: Vec<u32>,
    },
}

/// Degree and matching bounds, for [`Plan::rounds`].
#[derive(Debug, Clone, Copy)]
struct Bounds {
    max_degree: u64,
    max_matching: u64,
}

/// A plan: which pairs, in which order. Built once from the nodes by [`Plan::new`].
#[derive(Debug)]
pub struct Plan {
    spec: PlanSpec,
    nodes: Vec<PlanNode>,
    clients: Option<NamePatterns>,
    servers: Option<NamePatterns>,
    seed: u64,
    kind: Kind,
    bounds: OnceLock<Bounds>,
}

/// Pair lists above this size get their concurrency order from the mesh's (lazily) rather than
/// from a greedy colouring of a materialised list (`sample:K` only).
const GREEDY_LIMIT: u64 = 1 << 16;

impl Plan {
    /// Plan `spec` over `nodes` (any order; the plan keeps a copy sorted by name), with
    /// optional client/server restrictions; `seed` makes `sample:K` reproducible (other plans
    /// ignore it).
    pub fn new(
        spec: &PlanSpec,
        nodes: &[PlanNode],
        clients: Option<&NamePatterns>,
        servers: Option<&NamePatterns>,
        seed: u64,
    ) -> Result<Plan, PlanError> {
        Plan::new_with(spec, nodes, clients, servers, seed, false)
    }

    /// [`Plan::new`] for a run of the same-node path alone (`across_nodes` false): a plan
    /// with no pair across nodes is fine then (a single node, say), as long as some node
    /// may be both client and server.
    pub fn new_with(
        spec: &PlanSpec,
        nodes: &[PlanNode],
        clients: Option<&NamePatterns>,
        servers: Option<&NamePatterns>,
        seed: u64,
        same_node_only: bool,
    ) -> Result<Plan, PlanError> {
        let mut nodes = nodes.to_vec();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = nodes.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(PlanError::DuplicateNode(w[0].name.clone()));
        }
        let n = nodes.len();
        let client_ok: Vec<bool> = nodes
            .iter()
            .map(|v| clients.is_none_or(|p| p.matches(&v.name)))
            .collect();
        let server_ok: Vec<bool> = nodes
            .iter()
            .map(|v| servers.is_none_or(|p| p.matches(&v.name)))
            .collect();
        let allowed = |c: usize, s: usize| c != s && client_ok[c] && server_ok[s];
        let names = || nodes.iter().map(|v| v.name.as_str());

        let kind = match spec {
            PlanSpec::Mesh => Kind::Mesh(Mesh::new(n, &client_ok, &server_ok)),
            PlanSpec::Sample(k) => {
                let mesh = Mesh::new(n, &client_ok, &server_ok);
                let max = mesh.len();
                if *k == 0 {
                    return Err(PlanError::BadArgument(
                        "sample:0 measures nothing: write sample:K with K at least 1, e.g. sample:100".into(),
                    ));
                }
                if *k > max && max > 0 {
                    return Err(PlanError::SampleTooLarge { k: *k, max });
                }
                let perm = Permutation::new(max, seed);
                Kind::Sample {
                    mesh,
                    k: (*k).min(max),
                    perm,
                }
            }
            PlanSpec::Ring => {
                let pairs: Vec<(usize, usize)> = if n < 2 {
                    vec![]
                } else {
                    (0..n).map(|i| (i, (i + 1) % n)).collect()
                };
                // Evens, then odds, then (odd n) the last: two rounds, three if n is odd.
                let pos = |i: usize| i as u32;
                let mut order: Vec<u32> = (0..n)
                    .step_by(2)
                    .filter(|&i| n.is_multiple_of(2) || i + 1 < n)
                    .map(pos)
                    .collect();
                order.extend((1..n).step_by(2).map(pos));
                if n % 2 == 1 && n >= 2 {
                    order.push(pos(n - 1));
                }
                list_kind(pairs, Some(order), &allowed, n)
            }
            PlanSpec::Star(hub) => {
                let Ok(h) = nodes.binary_search_by(|v| v.name.as_str().cmp(hub)) else {
                    return Err(PlanError::UnknownStar {
                        node: hub.clone(),
                        known: name_list(names()),
                    });
                };
                let pairs: Vec<(usize, usize)> = (0..n)
                    .filter(|&x| x != h)
                    .flat_map(|x| [(h, x), (x, h)])
                    .collect();
                let order = (0..pairs.len() as u32).collect();
                list_kind(pairs, Some(order), &allowed, n)
            }
            PlanSpec::Zones(k) => {
                if *k == 0 {
                    return Err(PlanError::BadArgument(
                        "zones:0 measures nothing: write zones:K with K at least 1, e.g. zones:2"
                            .into(),
                    ));
                }
                if n >= 2 && nodes.iter().all(|v| v.zone.is_empty()) {
                    return Err(PlanError::NoZones(*k));
                }
                let pairs = zone_pairs(&nodes, *k as usize, &client_ok, &server_ok);
                list_kind(pairs, None, &allowed, n)
            }
            PlanSpec::Pairs { file, pairs } => {
                let index = |name: &str| nodes.binary_search_by(|v| v.name.as_str().cmp(name)).ok();
                let mut unknown: Vec<&str> = Vec::new();
                for (c, s) in pairs {
                    for name in [c, s] {
                        if index(name).is_none() && !unknown.contains(&name.as_str()) {
                            unknown.push(name);
                        }
                    }
                }
                if !unknown.is_empty() {
                    return Err(PlanError::UnknownNames {
                        plan: format!("pairs:{file}"),
                        unknown: name_list(unknown.into_iter()),
                        known: name_list(names()),
                    });
                }
                let mut seen = HashSet::new();
                let mut list = Vec::with_capacity(pairs.len());
                for (i, (c, s)) in pairs.iter().enumerate() {
                    let (ci, si) = (index(c).expect("known"), index(s).expect("known"));
                    if ci == si {
                        return Err(PlanError::BadPairs(format!(
                            "pairs:{file}: pair {} ({c},{s}) pairs a node with itself: list two different nodes",
                            i + 1
                        )));
                    }
                    if !seen.insert((ci, si)) {
                        return Err(PlanError::BadPairs(format!(
                            "pairs:{file}: pair {} ({c},{s}) is listed twice: list each pair once",
                            i + 1
                        )));
                    }
                    list.push((ci, si));
                }
                list_kind(list, None, &allowed, n)
            }
        };

        let plan = Plan {
            spec: spec.clone(),
            nodes,
            clients: clients.cloned(),
            servers: servers.cloned(),
            seed,
            kind,
            bounds: OnceLock::new(),
        };
        if same_node_only {
            if plan.same_node_nodes().is_empty() {
                return Err(PlanError::NoPairs {
                    plan: plan.describe(),
                    why: "no node may be both client and server (--clients, --servers), and \
                          the same-node path measures a node with itself; widen them"
                        .into(),
                });
            }
        } else if plan.is_empty() {
            return Err(plan.no_pairs(&client_ok, &server_ok));
        }
        Ok(plan)
    }

    fn no_pairs(&self, client_ok: &[bool], server_ok: &[bool]) -> PlanError {
        let n = self.nodes.len();
        let names = || self.nodes.iter().map(|v| v.name.as_str());
        let why = if n < 2 {
            format!(
                "it needs at least two nodes and there {} {n}; start more workers",
                if n == 1 { "is" } else { "are" }
            )
        } else if let (Some(p), 0) = (&self.clients, client_ok.iter().filter(|&&b| b).count()) {
            format!(
                "--clients {p} matches none of the nodes ({}); write names or globs of nodes",
                name_list(names())
            )
        } else if let (Some(p), 0) = (&self.servers, server_ok.iter().filter(|&&b| b).count()) {
            format!(
                "--servers {p} matches none of the nodes ({}); write names or globs of nodes",
                name_list(names())
            )
        } else {
            let nc = client_ok.iter().filter(|&&b| b).count();
            let ns = server_ok.iter().filter(|&&b| b).count();
            format!(
                "{nc} of the {n} nodes may be clients and {ns} servers, and no pair of the plan goes from one to the other; widen --clients/--servers or choose another plan"
            )
        };
        PlanError::NoPairs {
            plan: self.describe(),
            why,
        }
    }

    /// The plan as people write it: `mesh --clients node-1`, `zones:2`.
    pub fn describe(&self) -> String {
        let mut s = self.spec.to_string();
        if let Some(p) = &self.clients {
            s.push_str(&format!(" --clients {p}"));
        }
        if let Some(p) = &self.servers {
            s.push_str(&format!(" --servers {p}"));
        }
        s
    }

    pub fn spec(&self) -> &PlanSpec {
        &self.spec
    }

    /// The nodes, sorted by name; [`PlanPair`] indices point here.
    pub fn nodes(&self) -> &[PlanNode] {
        &self.nodes
    }

    /// Number of pairs.
    pub fn len(&self) -> u64 {
        match &self.kind {
            Kind::Mesh(m) => m.len(),
            Kind::Sample { k, .. } => *k,
            Kind::List { pairs, .. } => pairs.len() as u64,
        }
    }

    /// Never true for a plan [`Plan::new`] made (it refuses plans without pairs).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pair at `index` of the canonical order.
    pub fn get(&self, index: u64) -> Option<PlanPair> {
        if index >= self.len() {
            return None;
        }
        let (client, server) = match &self.kind {
            Kind::Mesh(m) => m.unrank(index),
            Kind::Sample { mesh, perm, .. } => mesh.unrank(perm.forward(index)),
            Kind::List { pairs, .. } => pairs[index as usize],
        };
        Some(PlanPair {
            index,
            client,
            server,
        })
    }

    /// All pairs in the canonical order, lazily: `mesh` client-major by name, `ring` node by
    /// node, `star` the middle to and from each other node by name, `zones` zone pair by zone
    /// pair, `sample` in the seeded random order, `pairs` in the file's order.
    pub fn pairs(&self) -> impl Iterator<Item = PlanPair> + '_ {
        let it: Box<dyn Iterator<Item = (usize, usize)> + Send + '_> = match &self.kind {
            Kind::Mesh(m) => Box::new(m.canonical()),
            Kind::Sample { mesh, k, perm } => {
                Box::new((0..*k).map(move |i| mesh.unrank(perm.forward(i))))
            }
            Kind::List { pairs, .. } => Box::new(pairs.iter().copied()),
        };
        it.zip(0u64..).map(|((client, server), index)| PlanPair {
            index,
            client,
            server,
        })
    }

    /// The same pairs as [`Plan::pairs`], in rounds of disjoint pairs (see the module doc).
    pub fn pairs_for_concurrency(&self) -> impl Iterator<Item = PlanPair> + '_ {
        let it: Box<dyn Iterator<Item = PlanPair> + Send + '_> = match &self.kind {
            Kind::Mesh(m) => Box::new(m.concurrent().map(move |(client, server)| PlanPair {
                index: m.rank(client, server),
                client,
                server,
            })),
            Kind::Sample { mesh, k, perm } if *k > GREEDY_LIMIT => {
                let k = *k;
                Box::new(mesh.concurrent().filter_map(move |(client, server)| {
                    let index = perm.inverse(mesh.rank(client, server));
                    (index < k).then_some(PlanPair {
                        index,
                        client,
                        server,
                    })
                }))
            }
            Kind::Sample { .. } => {
                let list: Vec<(usize, usize)> =
                    self.pairs().map(|p| (p.client, p.server)).collect();
                let order = greedy_order(&list, self.nodes.len());
                Box::new(order.into_iter().map(move |i| {
                    let (client, server) = list[i as usize];
                    PlanPair {
                        index: u64::from(i),
                        client,
                        server,
                    }
                }))
            }
            Kind::List { pairs, order } => Box::new(order.iter().map(move |&i| {
                let (client, server) = pairs[i as usize];
                PlanPair {
                    index: u64::from(i),
                    client,
                    server,
                }
            })),
        };
        it
    }

    /// The order a run takes the pairs in: the canonical [`Plan::pairs`] one at a time
    /// (`concurrency` ≤ 1, so serial runs keep the old order), else
    /// [`Plan::pairs_for_concurrency`].
    pub fn run_order(&self, concurrency: u32) -> impl Iterator<Item = PlanPair> + '_ {
        let it: Box<dyn Iterator<Item = PlanPair> + Send + '_> = if concurrency <= 1 {
            Box::new(self.pairs())
        } else {
            Box::new(self.pairs_for_concurrency())
        };
        it
    }

    /// The order of sample round `round` (`--samples`): round 0 is [`Plan::run_order`]; later
    /// rounds one at a time are a seeded shuffle of the plan whose first pair is never the
    /// previous round's last (no pair twice in a row), and side by side the run order rotated
    /// by a seeded offset (rounds of disjoint pairs stay disjoint). Lazy, like the plan.
    pub fn round_order(
        &self,
        concurrency: u32,
        round: u64,
        seed: u64,
    ) -> Box<dyn Iterator<Item = PlanPair> + Send + '_> {
        let len = self.len();
        if round == 0 || len < 2 {
            return Box::new(self.run_order(concurrency));
        }
        let key = |r: u64| splitmix64(seed ^ splitmix64(r ^ 0x7361_6d70_6c65)); // "sample"
        if concurrency > 1 {
            let offset = key(round) % len;
            return Box::new(
                self.run_order(concurrency)
                    .skip(offset as usize)
                    .chain(self.run_order(concurrency).take(offset as usize)),
            );
        }
        // The shuffles of rounds 1..=round, each with its shift: 1 when its first pair would
        // repeat the round before's last.
        let pair_at = |i: u64| self.get(i).map(|p| (p.client, p.server));
        let mut last = pair_at(len - 1);
        let mut current = (Permutation::new(len, key(1)), 0u64);
        for r in 1..=round {
            let perm = Permutation::new(len, key(r));
            let first = pair_at(perm.forward(0));
            let shift = u64::from(first == last);
            last = pair_at(perm.forward((len - 1 + shift) % len));
            current = (perm, shift);
        }
        let (perm, shift) = current;
        Box::new((0..len).filter_map(move |i| self.get(perm.forward((i + shift) % len))))
    }

    fn bounds(&self) -> Bounds {
        *self.bounds.get_or_init(|| match &self.kind {
            Kind::Mesh(m) => Bounds {
                max_degree: m.max_degree(),
                max_matching: m.max_matching(),
            },
            _ => {
                let mut degree = vec![0u64; self.nodes.len()];
                for p in self.pairs() {
                    degree[p.client] += 1;
                    degree[p.server] += 1;
                }
                let touched = degree.iter().filter(|&&d| d > 0).count() as u64;
                let matching = match &self.kind {
                    Kind::Sample { mesh, .. } => mesh.max_matching(),
                    _ => u64::MAX,
                };
                Bounds {
                    max_degree: degree.into_iter().max().unwrap_or(0),
                    max_matching: (touched / 2).min(matching),
                }
            }
        })
    }

    /// The nodes the same-node path measures, one pair each: every node of the run that
    /// `--clients` and `--servers` both admit (indices into [`Plan::nodes`], in order),
    /// whatever pairs the plan picks.
    pub fn same_node_nodes(&self) -> Vec<usize> {
        let admits =
            |p: &Option<NamePatterns>, name: &str| p.as_ref().is_none_or(|p| p.matches(name));
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| admits(&self.clients, &n.name) && admits(&self.servers, &n.name))
            .map(|(i, _)| i)
            .collect()
    }

    /// The largest number of pairs that can run at once (disjoint pairs; ⌊n/2⌋ for a mesh).
    pub fn max_concurrency(&self) -> u64 {
        self.bounds().max_matching.max(1)
    }

    /// Rounds of at most `concurrency` disjoint pairs the plan needs:
    /// `max(⌈len / min(concurrency, M)⌉, most pairs of one node)`. Exact for an unfiltered mesh
    /// (2(n−1) for even n, 2n for odd n once concurrency ≥ ⌊n/2⌋; ⌈n(n−1)/c⌉ below), and for
    /// ring and star; a lower bound otherwise.
    pub fn rounds(&self, concurrency: u32) -> u64 {
        let len = self.len();
        if len == 0 {
            return 0;
        }
        let b = self.bounds();
        let width = u64::from(concurrency.max(1)).min(b.max_matching).max(1);
        len.div_ceil(width).max(b.max_degree)
    }

    /// [`estimate`] for this plan at `concurrency`.
    pub fn estimate(&self, concurrency: u32, duration_s: f64, overhead_s: f64) -> Duration {
        estimate(self.len(), self.rounds(concurrency), duration_s, overhead_s)
    }
}

/// A list plan, restricted to the allowed pairs, with its concurrency order (`order` over the
/// unrestricted list, or the greedy colouring if `None`).
fn list_kind(
    pairs: Vec<(usize, usize)>,
    order: Option<Vec<u32>>,
    allowed: &dyn Fn(usize, usize) -> bool,
    n: usize,
) -> Kind {
    let keep: Vec<bool> = pairs.iter().map(|&(c, s)| allowed(c, s)).collect();
    let mut new_pos = vec![u32::MAX; pairs.len()];
    let mut kept = Vec::with_capacity(pairs.len());
    for (i, &p) in pairs.iter().enumerate() {
        if keep[i] {
            new_pos[i] = kept.len() as u32;
            kept.push(p);
        }
    }
    let order = match order {
        Some(order) => order
            .into_iter()
            .filter(|&i| keep[i as usize])
            .map(|i| new_pos[i as usize])
            .collect(),
        None => greedy_order(&kept, n),
    };
    Kind::List { pairs: kept, order }
}

/// First-fit colouring: each pair, in order, goes to the first round where neither node is busy;
/// the positions, round by round.
fn greedy_order(pairs: &[(usize, usize)], n: usize) -> Vec<u32> {
    let mut busy: Vec<Vec<u64>> = vec![Vec::new(); n];
    let mut rounds: Vec<(u32, u32)> = Vec::with_capacity(pairs.len());
    for (i, &(c, s)) in pairs.iter().enumerate() {
        let words = busy[c].len().max(busy[s].len()) + 1;
        let mut round = 0;
        for w in 0..words {
            let used = busy[c].get(w).copied().unwrap_or(0) | busy[s].get(w).copied().unwrap_or(0);
            if used != u64::MAX {
                round = w * 64 + (!used).trailing_zeros() as usize;
                break;
            }
        }
        for v in [c, s] {
            let w = round / 64;
            if busy[v].len() <= w {
                busy[v].resize(w + 1, 0);
            }
            busy[v][w] |= 1 << (round % 64);
        }
        rounds.push((round as u32, i as u32));
    }
    rounds.sort_unstable();
    rounds.into_iter().map(|(_, i)| i).collect()
}

/// zones:K. For every ordered pair of zones (by name, same zone included) take all its allowed
/// pairs if there are at most K, else K of them, one by one: the allowed client of the first
/// zone used least as a client (then least in all, then by name) with the allowed server of
/// the second used least as a server, skipping itself and pairs already taken. Nodes without a
/// zone form a zone of their own ("").
fn zone_pairs(
    nodes: &[PlanNode],
    k: usize,
    client_ok: &[bool],
    server_ok: &[bool],
) -> Vec<(usize, usize)> {
    let n = nodes.len();
    // Zones by name, their nodes by name.
    let mut by_zone: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (i, v) in nodes.iter().enumerate() {
        by_zone.entry(v.zone.as_str()).or_default().push(i);
    }
    // Uses as client, as server, in all.
    let (mut as_client, mut as_server, mut total) = (vec![0u32; n], vec![0u32; n], vec![0u32; n]);
    let mut out = Vec::new();
    for (za, in_a) in &by_zone {
        for (zb, in_b) in &by_zone {
            let same = za == zb;
            let cl: Vec<usize> = in_a.iter().copied().filter(|&c| client_ok[c]).collect();
            let sv: Vec<usize> = in_b.iter().copied().filter(|&s| server_ok[s]).collect();
            let both = if same {
                cl.iter().filter(|&&c| server_ok[c]).count()
            } else {
                0
            };
            let possible = cl.len() * sv.len() - both;
            if possible == 0 {
                continue;
            }
            if possible <= k {
                for &c in &cl {
                    for &s in &sv {
                        if c != s {
                            as_client[c] += 1;
                            as_server[s] += 1;
                            total[c] += 1;
                            total[s] += 1;
                            out.push((c, s));
                        }
                    }
                }
                continue;
            }
            // Clients and servers ordered by use; a pick changes the keys of its two nodes
            // (in both sets when the zones are the same).
            let in_cl = |v: usize| client_ok[v] && (same || nodes[v].zone == **za);
            let in_sv = |v: usize| server_ok[v] && (same || nodes[v].zone == **zb);
            let mut cset: std::collections::BTreeSet<(u32, u32, usize)> =
                cl.iter().map(|&c| (as_client[c], total[c], c)).collect();
            let mut sset: std::collections::BTreeSet<(u32, u32, usize)> =
                sv.iter().map(|&s| (as_server[s], total[s], s)).collect();
            let mut chosen = HashSet::new();
            for _ in 0..k {
                let (c, s) = cset
                    .iter()
                    .flat_map(|&(_, _, c)| sset.iter().map(move |&(_, _, s)| (c, s)))
                    .find(|&(c, s)| c != s && !chosen.contains(&(c, s)))
                    .expect("fewer pairs taken than possible");
                chosen.insert((c, s));
                for v in [c, s] {
                    if in_cl(v) {
                        cset.remove(&(as_client[v], total[v], v));
                    }
                    if in_sv(v) {
                        sset.remove(&(as_server[v], total[v], v));
                    }
                }
                as_client[c] += 1;
                as_server[s] += 1;
                total[c] += 1;
                total[s] += 1;
                for v in [c, s] {
                    if in_cl(v) {
                        cset.insert((as_client[v], total[v], v));
                    }
                    if in_sv(v) {
                        sset.insert((as_server[v], total[v], v));
                    }
                }
                out.push((c, s));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Estimates and refusals.

/// How long a plan takes: `rounds × (duration + overhead)` (rounds at most `pairs`).
pub fn estimate(pairs: u64, rounds: u64, duration_s: f64, overhead_s: f64) -> Duration {
    let per = (duration_s + overhead_s).max(0.0);
    let secs = rounds.min(pairs) as f64 * per;
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

/// A duration for people, rounded up: `45 s`, `3 m`, `2 h 27 m`, `3 d 4 h`.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    if secs < 60 {
        return format!("{secs} s");
    }
    let mins = secs.div_ceil(60);
    if mins < 60 {
        return format!("{mins} m");
    }
    if mins / 60 >= 48 {
        let hours = mins.div_ceil(60);
        return match (hours / 24, hours % 24) {
            (d, 0) => format!("{d} d"),
            (d, h) => format!("{d} d {h} h"),
        };
    }
    match (mins / 60, mins % 60) {
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} m"),
    }
}

/// A `--deadline` value at least `d`, rounded up: `50s`, `35m`, `3h`.
pub fn deadline_flag(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    if secs < 60 {
        format!("{}s", secs.div_ceil(10).max(1) * 10)
    } else if secs < 3600 {
        let m = secs.div_ceil(300) * 5;
        if m == 60 {
            "1h".into()
        } else {
            format!("{m}m")
        }
    } else {
        format!("{}h", secs.div_ceil(3600))
    }
}

/// What a run may spend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Pairs at once (`--concurrency`, 1 = one at a time).
    pub concurrency: u32,
    /// Measurement time per pair (`--duration`).
    pub duration_s: f64,
    /// Setup and teardown per pair (server start, readiness, result).
    pub overhead_s: f64,
    /// `--deadline`.
    pub deadline: Duration,
    /// Time the run spends outside the plan's pairs (the same-node path's pairs, one per
    /// node), on top of the plan's estimate.
    pub extra: Duration,
}

/// `None` if `plan` fits the budget's deadline, else the message that refuses it, e.g.
/// `870 pairs × ~10.1 s ≈ 2 h 27 m > deadline 30 m: try --plan zones:2 (≈ 4 m), --concurrency 5
/// (≈ 30 m) or --deadline 3h; or --allow-partial to run anyway and keep what is measured by the
/// deadline`. The suggestions are real plans on the same nodes and `--clients`/`--servers`:
/// `zones:K` (the largest K that fits, if the nodes have zones) else `sample:K` and `ring`, the
/// smallest concurrency that fits (at most [`Plan::max_concurrency`]), and a rounded-up deadline.
pub fn refusal(plan: &Plan, budget: &Budget) -> Option<String> {
    let Budget {
        concurrency,
        duration_s,
        overhead_s,
        deadline,
        extra,
    } = *budget;
    let spec = &plan.spec;
    let nodes = &plan.nodes[..];
    let per = duration_s + overhead_s;
    let c = concurrency.max(1);
    let fits =
        |p: &Plan, c: u32| p.estimate(c, duration_s, overhead_s).saturating_add(extra) <= deadline;
    if fits(plan, c) {
        return None;
    }
    let est = plan
        .estimate(c, duration_s, overhead_s)
        .saturating_add(extra);
    let mut what = if c == 1 {
        format!("{} pairs × ~{per:.1} s", plan.len())
    } else {
        format!(
            "{} pairs in {} rounds of up to {c} × ~{per:.1} s",
            plan.len(),
            plan.rounds(c)
        )
    };
    if !extra.is_zero() {
        what.push_str(&format!(" + ~{} of same-node pairs", human(extra)));
    }
    let rebuild = |spec: PlanSpec| {
        Plan::new(
            &spec,
            nodes,
            plan.clients.as_ref(),
            plan.servers.as_ref(),
            plan.seed,
        )
        .ok()
    };
    let about =
        |p: &Plan, c: u32| human(p.estimate(c, duration_s, overhead_s).saturating_add(extra));
    let mut tries: Vec<String> = Vec::new();
    // A smaller plan.
    if plan.nodes.iter().any(|v| !v.zone.is_empty()) {
        // The largest K that fits, by doubling then halving (a plan grows with K).
        let good = |k: u32| {
            rebuild(PlanSpec::Zones(k))
                .filter(|p| p.len() < plan.len() && p.spec != *spec && fits(p, c))
        };
        let biggest_zone = {
            let mut count: std::collections::HashMap<&str, u32> = Default::default();
            for v in nodes {
                *count.entry(v.zone.as_str()).or_default() += 1;
            }
            count.into_values().max().unwrap_or(1)
        };
        let most = biggest_zone.saturating_mul(biggest_zone).clamp(1, 1 << 20);
        let mut best: Option<Plan> = None;
        if let Some(p) = good(1) {
            best = Some(p);
            let (mut lo, mut hi) = (1u32, 2u32);
            // Invariant: lo fits; find a hi that does not (or reach `most`).
            loop {
                if hi >= most {
                    hi = most;
                    if let Some(p) = good(hi) {
                        best = Some(p);
                        lo = hi;
                    }
                    break;
                }
                match good(hi) {
                    Some(p) => {
                        best = Some(p);
                        lo = hi;
                        hi = hi.saturating_mul(2);
                    }
                    None => break,
                }
            }
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                match good(mid) {
                    Some(p) => {
                        best = Some(p);
                        lo = mid;
                    }
                    None => hi = mid,
                }
            }
            if best.as_ref().map(|p| p.spec.clone()) != Some(PlanSpec::Zones(lo)) {
                best = good(lo);
            }
        }
        if let Some(p) = best {
            tries.push(format!("--plan {} (≈ {})", p.spec, about(&p, c)));
        }
    } else {
        let total_pairs = Mesh::new(
            plan.nodes.len(),
            &plan
                .nodes
                .iter()
                .map(|v| plan.clients.as_ref().is_none_or(|p| p.matches(&v.name)))
                .collect::<Vec<_>>(),
            &plan
                .nodes
                .iter()
                .map(|v| plan.servers.as_ref().is_none_or(|p| p.matches(&v.name)))
                .collect::<Vec<_>>(),
        )
        .len();
        let slots = if per > 0.0 {
            (deadline.saturating_sub(extra).as_secs_f64() / per).floor() as u64
        } else {
            u64::MAX
        };
        let width = u64::from(c).min(plan.max_concurrency());
        let mut k = slots
            .saturating_mul(width)
            .min(plan.len().saturating_sub(1))
            .min(total_pairs);
        let mut sample = None;
        for _ in 0..32 {
            if k == 0 {
                break;
            }
            match rebuild(PlanSpec::Sample(k)) {
                Some(p) if fits(&p, c) => {
                    sample = Some(p);
                    break;
                }
                _ => k = k * 9 / 10,
            }
        }
        if let Some(p) = sample {
            tries.push(format!("--plan {} (≈ {})", p.spec, about(&p, c)));
        }
        if *spec != PlanSpec::Ring {
            if let Some(p) = rebuild(PlanSpec::Ring) {
                if p.len() < plan.len() && fits(&p, c) {
                    tries.push(format!("--plan ring (≈ {})", about(&p, c)));
                }
            }
        }
    }

    // More pairs at once: the smallest concurrency that fits (rounds only fall as it grows).
    let cap = u32::try_from(plan.max_concurrency()).unwrap_or(u32::MAX);
    if cap > c && fits(plan, cap) {
        let (mut lo, mut hi) = (c + 1, cap);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if fits(plan, mid) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        tries.push(format!("--concurrency {lo} (≈ {})", about(plan, lo)));
    }

    // A later deadline.
    tries.push(format!("--deadline {}", deadline_flag(est)));

    let tries = match tries.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => unreachable!("a deadline is always suggested"),
    };
    Some(format!(
        "{what} ≈ {} > deadline {}: try {tries}; or --allow-partial to run anyway and keep what is measured by the deadline",
        human(est),
        human(deadline)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use netbench_proto::WorkerId;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashMap};

    fn worker(name: &str) -> WorkerInfo {
        WorkerInfo {
            id: WorkerId::for_name(name),
            name: name.into(),
            ip: "198.18.0.1".parse().unwrap(),
            hostname: name.into(),
            zone: String::new(),
            cpus: 0,
            placement: Default::default(),
            service_ip: None,
        }
    }

    /// n nodes node-00.., handed over in reverse order; zone i % zones if zones > 0.
    fn nodes(n: usize, zones: usize) -> Vec<PlanNode> {
        (0..n)
            .rev()
            .map(|i| {
                let zone = if zones > 0 {
                    format!("zone-{}", i % zones)
                } else {
                    String::new()
                };
                PlanNode::new(format!("node-{i:02}"), zone)
            })
            .collect()
    }

    fn spec(s: &str) -> PlanSpec {
        PlanSpec::parse_with(s, |_| Err("no files in this test".into())).unwrap()
    }

    fn pats(s: &str) -> NamePatterns {
        s.parse().unwrap()
    }

    fn mk(s: &str, n: usize) -> Plan {
        Plan::new(&spec(s), &nodes(n, 0), None, None, 7).unwrap()
    }

    #[test]
    fn sample_rounds_shuffle_the_plan_and_never_repeat_a_pair_back_to_back() {
        for (plan, n) in [
            ("mesh", 2),
            ("mesh", 3),
            ("mesh", 6),
            ("ring", 5),
            ("sample:7", 6),
        ] {
            let p = mk(plan, n);
            let all: BTreeSet<u64> = p.pairs().map(|x| x.index).collect();
            let mut previous_last: Option<(usize, usize)> = None;
            let mut orders = Vec::new();
            for round in 0..6 {
                let order: Vec<PlanPair> = p.round_order(1, round, 42).collect();
                let set: BTreeSet<u64> = order.iter().map(|x| x.index).collect();
                assert_eq!(set, all, "{plan} {n}: round {round} is the whole plan once");
                assert_eq!(order.len(), all.len());
                let first = (order[0].client, order[0].server);
                if all.len() > 1 {
                    assert_ne!(
                        Some(first),
                        previous_last,
                        "{plan} {n}: round {round} repeats"
                    );
                }
                previous_last = order.last().map(|x| (x.client, x.server));
                orders.push(order.iter().map(|x| x.index).collect::<Vec<_>>());
            }
            assert_eq!(orders[0], p.pairs().map(|x| x.index).collect::<Vec<_>>());
            if all.len() > 5 {
                assert!(
                    orders[1..].iter().any(|o| *o != orders[0]),
                    "{plan} {n}: never shuffled"
                );
            }
            // Side by side: every round the whole plan, rotated.
            for round in 0..4 {
                let set: BTreeSet<u64> = p.round_order(3, round, 42).map(|x| x.index).collect();
                assert_eq!(set, all);
            }
            // The same seed, the same rounds.
            assert_eq!(
                p.round_order(1, 3, 42).map(|x| x.index).collect::<Vec<_>>(),
                orders[3]
            );
        }
    }

    fn err(spec: &PlanSpec, nodes: &[PlanNode]) -> String {
        Plan::new(spec, nodes, None, None, 1)
            .unwrap_err()
            .to_string()
    }

    fn pair_set(it: impl Iterator<Item = PlanPair>) -> BTreeSet<(u64, usize, usize)> {
        it.map(|p| (p.index, p.client, p.server)).collect()
    }

    /// Rounds a scheduler with full look-ahead needs: each round takes, in order, the pairs
    /// whose nodes are free, up to `c`.
    fn greedy_rounds(order: &[PlanPair], n: usize, c: usize) -> u64 {
        let mut left: Vec<PlanPair> = order.to_vec();
        let mut rounds = 0;
        while !left.is_empty() {
            let mut busy = vec![false; n];
            let mut taken = 0;
            left.retain(|p| {
                if taken < c && !busy[p.client] && !busy[p.server] {
                    busy[p.client] = true;
                    busy[p.server] = true;
                    taken += 1;
                    false
                } else {
                    true
                }
            });
            rounds += 1;
        }
        rounds
    }

    /// Check everything a plan must be, whatever its kind.
    fn check_plan(plan: &Plan, client_ok: &dyn Fn(&str) -> bool, server_ok: &dyn Fn(&str) -> bool) {
        let n = plan.nodes().len();
        assert!(plan.nodes().windows(2).all(|w| w[0].name < w[1].name));
        let pairs: Vec<PlanPair> = plan.pairs().collect();
        assert_eq!(pairs.len() as u64, plan.len());
        assert!(!plan.is_empty());
        let mut seen = HashSet::new();
        for (i, p) in pairs.iter().enumerate() {
            assert_eq!(p.index, i as u64, "index is the canonical position");
            assert_ne!(p.client, p.server, "self-pair {p:?}");
            assert!(p.client < n && p.server < n);
            assert!(seen.insert((p.client, p.server)), "duplicate {p:?}");
            assert!(client_ok(&plan.nodes()[p.client].name));
            assert!(server_ok(&plan.nodes()[p.server].name));
            assert_eq!(plan.get(p.index), Some(*p));
        }
        assert_eq!(plan.get(plan.len()), None);
        let conc: Vec<PlanPair> = plan.pairs_for_concurrency().collect();
        assert_eq!(conc.len(), pairs.len());
        assert_eq!(
            pair_set(conc.iter().copied()),
            pair_set(pairs.iter().copied())
        );
        for c in [1usize, 2, 3, n / 2, n] {
            let c = c.max(1);
            let bound = plan.rounds(c as u32);
            let greedy = greedy_rounds(&conc, n, c);
            assert!(
                bound <= greedy,
                "rounds({c}) = {bound} > {greedy} a scheduler needs"
            );
            assert!(bound >= 1);
        }
        assert_eq!(
            plan.rounds(1),
            plan.len(),
            "one at a time: a round per pair"
        );
    }

    // ---- mesh ----

    #[test]
    fn mesh_is_todays_order_client_major_by_name() {
        for n in 0..7usize {
            let mut ws: Vec<_> = (0..n).map(|i| worker(&format!("w{i}"))).rev().collect();
            let old = plan(&mut ws);
            let nodes: Vec<PlanNode> = ws.iter().rev().map(PlanNode::from).collect();
            match Plan::new(&PlanSpec::Mesh, &nodes, None, None, 0) {
                Ok(p) => {
                    let new: Vec<(usize, usize)> =
                        p.pairs().map(|p| (p.client, p.server)).collect();
                    let old: Vec<(usize, usize)> =
                        old.iter().map(|p| (p.client, p.server)).collect();
                    assert_eq!(new, old);
                    assert_eq!(p.len(), (n * (n - 1)) as u64);
                    let names: Vec<&str> = p.nodes().iter().map(|v| v.name.as_str()).collect();
                    let old_names: Vec<&str> = ws.iter().map(|w| w.name.as_str()).collect();
                    assert_eq!(names, old_names);
                    check_plan(&p, &|_| true, &|_| true);
                }
                Err(e) => {
                    assert!(n < 2, "{e}");
                    assert!(e.to_string().contains("at least two nodes"), "{e}");
                }
            }
        }
    }

    #[test]
    fn legacy_plan_is_stable_whatever_the_join_order() {
        let mut a = vec![worker("b"), worker("a"), worker("c")];
        let mut b = vec![worker("c"), worker("b"), worker("a")];
        assert_eq!(plan(&mut a), plan(&mut b));
        assert_eq!(a[0].name, "a");
    }

    #[test]
    fn mesh_rounds_are_exact_and_the_concurrency_order_reaches_them() {
        for n in 2..=13usize {
            let p = mk("mesh", n);
            let want = if n % 2 == 0 { 2 * (n - 1) } else { 2 * n } as u64;
            let conc: Vec<PlanPair> = p.pairs_for_concurrency().collect();
            for c in [n / 2, n / 2 + 1, n, 1000] {
                assert_eq!(p.rounds(c as u32), want, "n={n} c={c}");
                assert_eq!(greedy_rounds(&conc, n, c), want, "n={n} c={c}");
            }
            assert_eq!(p.max_concurrency(), (n / 2) as u64);
            // Each round of the circle method is a chunk of ⌊n/2⌋ disjoint pairs, in order.
            let chunk = n / 2;
            for (r, round) in conc.chunks(chunk).enumerate() {
                let mut used = HashSet::new();
                for q in round {
                    assert!(
                        used.insert(q.client) && used.insert(q.server),
                        "n={n} round {r}: {round:?}"
                    );
                }
            }
            // Below n/2 the bound is ⌈n(n−1)/c⌉ (attainable: an equitable edge colouring).
            for c in 1..n / 2 {
                let len = (n * (n - 1)) as u64;
                assert_eq!(p.rounds(c as u32), len.div_ceil(c as u64));
                let g = greedy_rounds(&conc, n, c);
                assert!(g >= p.rounds(c as u32));
                assert!(
                    g <= p.rounds(c as u32) + 2,
                    "n={n} c={c}: greedy {g} vs {}",
                    p.rounds(c as u32)
                );
            }
        }
    }

    #[test]
    fn a_5000_node_mesh_is_never_materialised() {
        let p = mk("mesh", 5000);
        assert_eq!(p.len(), 24_995_000);
        let first = p.pairs().next().unwrap();
        assert_eq!((first.index, first.client, first.server), (0, 0, 1));
        let last = p.get(p.len() - 1).unwrap();
        assert_eq!((last.client, last.server), (4999, 4998));
        // The first round of the concurrency order: 2,500 disjoint pairs, straight away.
        let round: Vec<PlanPair> = p.pairs_for_concurrency().take(2500).collect();
        let mut used = HashSet::new();
        for q in &round {
            assert!(used.insert(q.client) && used.insert(q.server));
            assert_eq!(p.get(q.index), Some(*q));
        }
        assert_eq!(p.rounds(2500), 9998);
        assert_eq!(p.rounds(1), 24_995_000);
        assert_eq!(p.rounds(100), 249_950);
        // O(n): the mesh keeps a few words per node.
        if let Kind::Mesh(m) = &p.kind {
            assert_eq!(m.clients.len() + m.servers.len() + m.union.len(), 15_000);
        } else {
            panic!("a mesh plan is a Mesh");
        }
        // So does a big sample, whose concurrency order filters the mesh's lazily.
        let s = Plan::new(
            &PlanSpec::Sample(10_000_000),
            &nodes(5000, 0),
            None,
            None,
            3,
        )
        .unwrap();
        assert_eq!(s.len(), 10_000_000);
        let round: Vec<PlanPair> = s.pairs_for_concurrency().take(500).collect();
        let mut used = HashSet::new();
        for q in &round {
            assert!(q.index < s.len());
            assert_eq!(s.get(q.index), Some(*q));
            assert!(used.insert(q.client) && used.insert(q.server));
        }
    }

    #[test]
    fn bipartite_mesh_takes_max_p_q_rounds() {
        let ns = nodes(7, 0);
        let c = pats("node-0[0-1]");
        let s = pats("node-0[2-6]");
        let p = Plan::new(&PlanSpec::Mesh, &ns, Some(&c), Some(&s), 0).unwrap();
        assert_eq!(p.len(), 10);
        assert_eq!(p.rounds(2), 5);
        assert_eq!(p.rounds(1), 10);
        assert_eq!(p.max_concurrency(), 2);
        let conc: Vec<PlanPair> = p.pairs_for_concurrency().collect();
        assert_eq!(greedy_rounds(&conc, 7, 2), 5);
        check_plan(&p, &|n| c.matches(n), &|n| s.matches(n));
    }

    // ---- ring, star ----

    #[test]
    fn ring_and_star() {
        let r2 = mk("ring", 2);
        let pairs: Vec<_> = r2.pairs().map(|p| (p.client, p.server)).collect();
        assert_eq!(pairs, vec![(0, 1), (1, 0)]);
        for n in 2..12 {
            let r = mk("ring", n);
            assert_eq!(r.len(), n as u64);
            let mut as_c = vec![0; n];
            let mut as_s = vec![0; n];
            for p in r.pairs() {
                assert_eq!(p.server, (p.client + 1) % n);
                as_c[p.client] += 1;
                as_s[p.server] += 1;
            }
            assert!(as_c.iter().chain(&as_s).all(|&u| u == 1));
            let want = if n % 2 == 0 { 2 } else { 3 };
            assert_eq!(r.rounds(n as u32), want, "ring of {n}");
            let conc: Vec<_> = r.pairs_for_concurrency().collect();
            assert_eq!(greedy_rounds(&conc, n, n), want);
            check_plan(&r, &|_| true, &|_| true);

            let s = Plan::new(&spec("star:node-01"), &nodes(n, 0), None, None, 0).unwrap();
            assert_eq!(s.len(), 2 * (n as u64 - 1));
            assert!(s.pairs().all(|p| p.client == 1 || p.server == 1));
            assert_eq!(s.rounds(n as u32), s.len());
            check_plan(&s, &|_| true, &|_| true);
        }
        let ns = nodes(5, 0);
        let s = Plan::new(&spec("star:node-00"), &ns, None, Some(&pats("node-00")), 0).unwrap();
        assert_eq!(s.len(), 4, "only the pairs into the star's middle");
        assert!(s.pairs().all(|p| p.server == 0));
    }

    // ---- sample ----

    #[test]
    fn sample_is_reproducible_and_seeds_differ() {
        let ns = nodes(10, 0);
        let set = |seed| -> BTreeSet<(usize, usize)> {
            Plan::new(&PlanSpec::Sample(10), &ns, None, None, seed)
                .unwrap()
                .pairs()
                .map(|p| (p.client, p.server))
                .collect()
        };
        assert_eq!(set(5), set(5));
        let sets: HashSet<_> = (0..20).map(set).collect();
        assert_eq!(sets.len(), 20, "20 seeds, 20 different samples");
        // K = all pairs: the whole mesh, in a seeded order.
        let all = Plan::new(&PlanSpec::Sample(90), &ns, None, None, 9).unwrap();
        let mesh = mk("mesh", 10);
        let a: BTreeSet<_> = all.pairs().map(|p| (p.client, p.server)).collect();
        let m: BTreeSet<_> = mesh.pairs().map(|p| (p.client, p.server)).collect();
        assert_eq!(a, m);
        let order: Vec<_> = all.pairs().map(|p| (p.client, p.server)).collect();
        let mesh_order: Vec<_> = mesh.pairs().map(|p| (p.client, p.server)).collect();
        assert_ne!(order, mesh_order, "a sample's order is shuffled");
    }

    #[test]
    fn sample_is_roughly_uniform() {
        // 5 nodes: 20 pairs; 4,000 seeds of sample:5 → each pair about 1,000 times.
        let ns = nodes(5, 0);
        let mut count: HashMap<(usize, usize), u64> = HashMap::new();
        let seeds = 4000u64;
        for seed in 0..seeds {
            for p in Plan::new(&PlanSpec::Sample(5), &ns, None, None, seed)
                .unwrap()
                .pairs()
            {
                *count.entry((p.client, p.server)).or_default() += 1;
            }
        }
        assert_eq!(count.len(), 20);
        let expected = (seeds * 5) as f64 / 20.0;
        let chi2: f64 = count
            .values()
            .map(|&o| (o as f64 - expected).powi(2) / expected)
            .sum();
        // 19 degrees of freedom: 43.8 is p = 0.001.
        assert!(chi2 < 43.8, "chi-square {chi2:.1}: {count:?}");
        // And with restrictions: sample:K counts only the allowed pairs.
        let c = pats("node-0[0-2]");
        let p = Plan::new(&PlanSpec::Sample(12), &ns, Some(&c), None, 1).unwrap();
        assert_eq!(p.len(), 12);
        assert!(p.pairs().all(|q| q.client <= 2));
        let e = Plan::new(&PlanSpec::Sample(13), &ns, Some(&c), None, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "sample:13 asks for more pairs than there are: at most 12 pairs are possible here; write sample:12 or less, or mesh"
        );
    }

    #[test]
    fn permutation_is_a_bijection() {
        for len in [1u64, 2, 3, 5, 16, 17, 100, 1000] {
            let p = Permutation::new(len, len * 31);
            let images: BTreeSet<u64> = (0..len).map(|i| p.forward(i)).collect();
            assert_eq!(images.len() as u64, len);
            assert!(images.iter().all(|&x| x < len));
            assert!((0..len).all(|i| p.inverse(p.forward(i)) == i));
        }
    }

    #[test]
    fn a_big_sample_takes_the_lazy_concurrency_order() {
        let ns = nodes(300, 0);
        let k = GREEDY_LIMIT + 1000;
        let p = Plan::new(&PlanSpec::Sample(k), &ns, None, None, 11).unwrap();
        let conc: BTreeSet<_> = pair_set(p.pairs_for_concurrency());
        assert_eq!(conc.len() as u64, k);
        assert_eq!(conc, pair_set(p.pairs()));
    }

    // ---- zones ----

    fn zone_nodes(sizes: &[usize]) -> Vec<PlanNode> {
        let mut v = Vec::new();
        for (z, &size) in sizes.iter().enumerate() {
            for i in 0..size {
                v.push(PlanNode::new(format!("z{z}-n{i}"), format!("zone-{z}")));
            }
        }
        v.reverse();
        v
    }

    fn check_zones(sizes: &[usize], k: u32, clients: Option<&NamePatterns>) {
        let ns = zone_nodes(sizes);
        let p = match Plan::new(&PlanSpec::Zones(k), &ns, clients, None, 0) {
            Ok(p) => p,
            Err(e) => {
                assert!(matches!(e, PlanError::NoPairs { .. }), "{e}");
                return;
            }
        };
        let nodes = p.nodes();
        let zone_of = |i: usize| nodes[i].zone.clone();
        let c_ok = |i: usize| clients.is_none_or(|c| c.matches(&nodes[i].name));
        let mut per_zone_pair: HashMap<(String, String), u64> = HashMap::new();
        for q in p.pairs() {
            *per_zone_pair
                .entry((zone_of(q.client), zone_of(q.server)))
                .or_default() += 1;
        }
        for za in 0..sizes.len() {
            for zb in 0..sizes.len() {
                let (a, b) = (format!("zone-{za}"), format!("zone-{zb}"));
                let possible = (0..nodes.len())
                    .filter(|&c| nodes[c].zone == a && c_ok(c))
                    .map(|c| {
                        (0..nodes.len())
                            .filter(|&s| s != c && nodes[s].zone == b)
                            .count() as u64
                    })
                    .sum::<u64>();
                let got = per_zone_pair
                    .get(&(a.clone(), b.clone()))
                    .copied()
                    .unwrap_or(0);
                assert_eq!(
                    got,
                    possible.min(u64::from(k)),
                    "{a}→{b} of {sizes:?} K={k}"
                );
            }
        }
        // Within a zone, use as client (and as server) is balanced.
        let mut as_c = vec![0i64; nodes.len()];
        let mut as_s = vec![0i64; nodes.len()];
        for q in p.pairs() {
            as_c[q.client] += 1;
            as_s[q.server] += 1;
        }
        for z in 0..sizes.len() {
            let zone = format!("zone-{z}");
            let members: Vec<usize> = (0..nodes.len())
                .filter(|&i| nodes[i].zone == zone)
                .collect();
            let spread = |u: &[i64], ok: &dyn Fn(usize) -> bool| {
                let vals: Vec<i64> = members.iter().filter(|&&i| ok(i)).map(|&i| u[i]).collect();
                vals.iter().max().unwrap_or(&0) - vals.iter().min().unwrap_or(&0)
            };
            let sc = spread(&as_c, &c_ok);
            let ss = spread(&as_s, &|_| true);
            assert!(
                sc <= 2,
                "client use spread {sc} in {zone} of {sizes:?} K={k}: {as_c:?}"
            );
            assert!(
                ss <= 2,
                "server use spread {ss} in {zone} of {sizes:?} K={k}: {as_s:?}"
            );
        }
        check_plan(&p, &|n| clients.is_none_or(|c| c.matches(n)), &|_| true);
    }

    #[test]
    fn zones_cover_every_zone_pair() {
        check_zones(&[3, 3, 3], 2, None);
        check_zones(&[1, 4], 3, None);
        check_zones(&[2], 5, None);
        check_zones(&[10, 10, 10], 2, None);
        let p = Plan::new(
            &PlanSpec::Zones(2),
            &zone_nodes(&[10, 10, 10]),
            None,
            None,
            0,
        )
        .unwrap();
        assert_eq!(p.len(), 18);
        // A single node in a zone: no same-zone pair there.
        let p = Plan::new(&PlanSpec::Zones(1), &zone_nodes(&[1, 2]), None, None, 0).unwrap();
        assert_eq!(p.len(), 3);
        // Nodes without a zone among zoned ones form their own zone.
        let mut ns = zone_nodes(&[2, 2]);
        ns.push(PlanNode::new("bare", ""));
        let p = Plan::new(&PlanSpec::Zones(1), &ns, None, None, 0).unwrap();
        assert_eq!(
            p.len(),
            8,
            "3 zones, 9 zone pairs, the bare one has no self pair"
        );
    }

    // ---- pairs ----

    #[test]
    fn pairs_files() {
        let text = "# who measures whom\nnode-00,node-01\n\n node-01 , node-02  # trailing comment\nnode-02,node-00\n";
        let pairs = parse_pairs_text(text).unwrap();
        assert_eq!(pairs.len(), 3);
        let spec = PlanSpec::parse_with("pairs:my.csv", |f| {
            assert_eq!(f, "my.csv");
            Ok(text.into())
        })
        .unwrap();
        assert_eq!(spec.to_string(), "pairs:my.csv(3 pairs)");
        let p = Plan::new(&spec, &nodes(4, 0), None, None, 0).unwrap();
        let got: Vec<_> = p.pairs().map(|q| (q.client, q.server)).collect();
        assert_eq!(got, vec![(0, 1), (1, 2), (2, 0)]);
        assert_eq!(p.rounds(4), 3, "a triangle needs three rounds");
        check_plan(&p, &|_| true, &|_| true);
        let p = Plan::new(&spec, &nodes(4, 0), Some(&pats("node-00,node-01")), None, 0).unwrap();
        assert_eq!(p.len(), 2, "pairs against --clients are dropped");
    }

    // ---- properties ----

    fn any_spec(n: usize) -> impl Strategy<Value = PlanSpec> {
        let names: Vec<String> = (0..n.max(1)).map(|i| format!("node-{i:02}")).collect();
        let pair_names = names.clone();
        prop_oneof![
            Just(PlanSpec::Mesh),
            Just(PlanSpec::Ring),
            proptest::sample::select(names).prop_map(PlanSpec::Star),
            (1u32..5).prop_map(PlanSpec::Zones),
            (1u64..40).prop_map(PlanSpec::Sample),
            proptest::collection::btree_set((0..n.max(1), 0..n.max(1)), 0..12).prop_map(
                move |set| {
                    PlanSpec::Pairs {
                        file: "f".into(),
                        pairs: set
                            .into_iter()
                            .filter(|(c, s)| c != s)
                            .map(|(c, s)| (pair_names[c].clone(), pair_names[s].clone()))
                            .collect(),
                    }
                }
            ),
        ]
    }

    fn filter_of(mask: &Option<Vec<bool>>) -> Option<NamePatterns> {
        mask.as_ref().map(|m| {
            let names: Vec<String> = m
                .iter()
                .enumerate()
                .filter(|(_, &b)| b)
                .map(|(i, _)| format!("node-{i:02}"))
                .collect();
            if names.is_empty() {
                pats("nobody")
            } else {
                pats(&names.join(","))
            }
        })
    }

    /// Nodes, zones, plan, client mask, server mask, seed.
    type Setup = (
        usize,
        usize,
        PlanSpec,
        Option<Vec<bool>>,
        Option<Vec<bool>>,
        u64,
    );

    fn setup() -> impl Strategy<Value = Setup> {
        (0usize..11, 0usize..4).prop_flat_map(|(n, zones)| {
            (
                Just(n),
                Just(zones),
                any_spec(n),
                proptest::option::weighted(0.3, proptest::collection::vec(any::<bool>(), n)),
                proptest::option::weighted(0.3, proptest::collection::vec(any::<bool>(), n)),
                any::<u64>(),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn every_plan_is_sound((n, zones, spec, cm, sm, seed) in setup()) {
            let ns = nodes(n, zones);
            let (cf, sf) = (filter_of(&cm), filter_of(&sm));
            let c_ok = |name: &str| cf.as_ref().is_none_or(|p| p.matches(name));
            let s_ok = |name: &str| sf.as_ref().is_none_or(|p| p.matches(name));
            let allowed_total = (0..n).map(|c| (0..n).filter(|&s| s != c && c_ok(&format!("node-{c:02}")) && s_ok(&format!("node-{s:02}"))).count()).sum::<usize>() as u64;
            match Plan::new(&spec, &ns, cf.as_ref(), sf.as_ref(), seed) {
                Ok(plan) => {
                    check_plan(&plan, &c_ok, &s_ok);
                    let again = Plan::new(&spec, &ns, cf.as_ref(), sf.as_ref(), seed).unwrap();
                    prop_assert!(plan.pairs().eq(again.pairs()), "same seed, same plan");
                    prop_assert!(plan.pairs_for_concurrency().eq(again.pairs_for_concurrency()));
                    match &spec {
                        PlanSpec::Mesh => prop_assert_eq!(plan.len(), allowed_total),
                        PlanSpec::Sample(k) => prop_assert_eq!(plan.len(), *k),
                        PlanSpec::Ring => prop_assert!(plan.pairs().all(|p| p.server == (p.client + 1) % n)),
                        PlanSpec::Star(hub) => {
                            let h = plan.nodes().iter().position(|v| &v.name == hub).unwrap();
                            prop_assert!(plan.pairs().all(|p| p.client == h || p.server == h));
                        }
                        PlanSpec::Pairs { pairs, .. } => {
                            let want: Vec<(String, String)> = pairs.iter().filter(|(c, s)| c_ok(c) && s_ok(s)).cloned().collect();
                            let got: Vec<(String, String)> = plan.pairs().map(|p| (plan.nodes()[p.client].name.clone(), plan.nodes()[p.server].name.clone())).collect();
                            prop_assert_eq!(got, want);
                        }
                        PlanSpec::Zones(_) => prop_assert!(zones > 0),
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    match (&spec, &e) {
                        (PlanSpec::Zones(_), PlanError::NoZones(_)) => prop_assert_eq!(zones, 0),
                        (PlanSpec::Sample(k), PlanError::SampleTooLarge { max, .. }) => {
                            prop_assert_eq!(*max, allowed_total);
                            prop_assert!(*k > allowed_total);
                        }
                        (PlanSpec::Star(_), PlanError::UnknownStar { .. }) => prop_assert_eq!(n, 0),
                        (PlanSpec::Pairs { .. }, PlanError::NoPairs { .. }) => {}
                        (_, PlanError::NoPairs { .. }) => {
                            // Mesh and sample fail only when no pair is allowed at all; the
                            // others may also lose every pair to the filters.
                            if matches!(spec, PlanSpec::Mesh | PlanSpec::Sample(_)) {
                                prop_assert_eq!(allowed_total, 0, "{}", msg);
                            }
                        }
                        _ => prop_assert!(false, "unexpected error for {spec}: {msg}"),
                    }
                }
            }
        }

        #[test]
        fn zones_are_covered_and_balanced(sizes in proptest::collection::vec(1usize..7, 1..4), k in 1u32..7, only in proptest::option::of(0usize..3)) {
            let clients = only.map(|z| pats(&format!("z{z}-*,z9-n0")));
            check_zones(&sizes, k, clients.as_ref());
        }

        #[test]
        fn globs_match_like_a_reference(pattern in "[ab*?]{1,6}", name in "[ab]{0,6}") {
            let p: NamePatterns = pattern.parse().unwrap();
            let re = regex_like(&pattern);
            prop_assert_eq!(p.matches(&name), re(&name), "{} vs {}", pattern, name);
        }
    }

    /// A slow, obviously right matcher: recursion over the pattern.
    fn regex_like(pattern: &str) -> impl Fn(&str) -> bool {
        fn m(p: &[char], s: &[char]) -> bool {
            match p.first() {
                None => s.is_empty(),
                Some('*') => (0..=s.len()).any(|i| m(&p[1..], &s[i..])),
                Some('?') => !s.is_empty() && m(&p[1..], &s[1..]),
                Some(c) => s.first() == Some(c) && m(&p[1..], &s[1..]),
            }
        }
        let p: Vec<char> = pattern.chars().collect();
        move |s: &str| m(&p, &s.chars().collect::<Vec<_>>())
    }

    // ---- patterns ----

    #[test]
    fn name_patterns() {
        let p = pats("node-1,node-[0-9]");
        assert!(p.matches("node-1") && p.matches("node-5") && p.matches("node-0"));
        assert!(!p.matches("node-10") && !p.matches("node-a") && !p.matches("xnode-1"));
        assert_eq!(p.to_string(), "node-1,node-[0-9]");
        let p = pats("zone-a-*, ?x, [!ab]y, a*b*c");
        assert!(p.matches("zone-a-") && p.matches("zone-a-17"));
        assert!(p.matches("1x") && !p.matches("x") && !p.matches("12x"));
        assert!(p.matches("cy") && !p.matches("ay"));
        assert!(p.matches("aXbYbc") && p.matches("abc") && !p.matches("abcd"));
        assert!(pats("*").matches("") && pats("*").matches("anything"));
        assert!(pats("[a-c-]").matches("-"), "a - at the end is itself");
    }

    // ---- errors ----

    #[test]
    fn every_bad_input_says_what_to_write() {
        let parse = |s: &str| {
            PlanSpec::parse_with(s, |_| Err("No such file or directory (os error 2)".into()))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            parse("rign"),
            r#"unknown plan "rign": write mesh, ring, star:NODE, zones:K, sample:K or pairs:FILE"#
        );
        assert_eq!(
            parse("mesh:3"),
            "mesh takes no argument (got mesh:3): write mesh"
        );
        assert_eq!(
            parse("star"),
            "star needs the node in the middle: write star:NODE"
        );
        assert_eq!(
            parse("star:"),
            "star needs the node in the middle: write star:NODE"
        );
        assert_eq!(
            parse("zones"),
            r#"zones needs a number of pairs per zone pair, at least 1 (got "zones"): write e.g. zones:2"#
        );
        assert_eq!(
            parse("zones:0"),
            r#"zones needs a number of pairs per zone pair, at least 1 (got "zones:0"): write e.g. zones:2"#
        );
        assert_eq!(
            parse("zones:two"),
            r#"zones needs a number of pairs per zone pair, at least 1 (got "zones:two"): write e.g. zones:2"#
        );
        assert_eq!(
            parse("sample:0"),
            "sample:0 measures nothing: write sample:K with K at least 1, e.g. sample:100"
        );
        assert_eq!(
            parse("sample:-1"),
            r#"sample needs a number of pairs, at least 1 (got "sample:-1"): write e.g. sample:100"#
        );
        assert_eq!(
            parse("pairs:"),
            "pairs needs a file: write pairs:FILE (one client,server a line)"
        );
        assert_eq!(parse("pairs:nope.csv"), "pairs file nope.csv: cannot read it (No such file or directory (os error 2)): write pairs:FILE with a readable file");
        // The real reader.
        let e = "pairs:/nonexistent/netbench-pairs"
            .parse::<PlanSpec>()
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("pairs file /nonexistent/netbench-pairs: cannot read it ("),
            "{e}"
        );

        assert_eq!(
            parse_pairs_text("a,b\na b\na,a\nb,c\na,b\n,x\na,b,c\n").unwrap_err(),
            r#"line 2: "a b" is not client,server (write one pair a line, e.g. node-1,node-2); line 3: a,a pairs a node with itself (write two different nodes); line 5: a,b repeats line 1 (list each pair once); line 6: ",x" is not client,server (write one pair a line, e.g. node-1,node-2); line 7: "a,b,c" is not client,server (write one pair a line, e.g. node-1,node-2)"#
        );
        assert!(parse_pairs_text("a,a\n".repeat(7).as_str())
            .unwrap_err()
            .ends_with("… (7 bad lines in all)"));
        assert_eq!(
            parse_pairs_text("# nothing\n\n").unwrap_err(),
            "it lists no pairs: write one client,server a line"
        );

        let ns = nodes(8, 0);
        assert_eq!(
            err(&PlanSpec::Star("node-9".into()), &ns),
            r#"star:node-9: there is no node "node-9"; write star:NODE with one of the nodes: node-00, node-01, node-02, node-03, node-04, … (8 in all)"#
        );
        assert_eq!(
            err(&PlanSpec::Zones(2), &ns),
            "zones:2 needs node zones (topology.kubernetes.io/zone; in `local`, --zones N): none of the nodes has one; use sample:K or ring instead"
        );
        assert_eq!(
            err(&PlanSpec::Sample(57), &ns),
            "sample:57 asks for more pairs than there are: at most 56 pairs are possible here; write sample:56 or less, or mesh"
        );
        assert_eq!(
            err(&PlanSpec::Sample(0), &ns),
            "sample:0 measures nothing: write sample:K with K at least 1, e.g. sample:100"
        );
        let unknown = PlanSpec::Pairs {
            file: "p.csv".into(),
            pairs: vec![
                ("node-00".into(), "ghost".into()),
                ("spook".into(), "node-01".into()),
            ],
        };
        assert_eq!(
            err(&unknown, &ns),
            "pairs:p.csv names unknown node(s) ghost, spook; the nodes are: node-00, node-01, node-02, node-03, node-04, … (8 in all)"
        );
        let selfish = PlanSpec::Pairs {
            file: "p.csv".into(),
            pairs: vec![
                ("node-00".into(), "node-01".into()),
                ("node-01".into(), "node-01".into()),
            ],
        };
        assert_eq!(err(&selfish, &ns), "pairs:p.csv: pair 2 (node-01,node-01) pairs a node with itself: list two different nodes");
        let twice = PlanSpec::Pairs {
            file: "p.csv".into(),
            pairs: vec![
                ("node-00".into(), "node-01".into()),
                ("node-00".into(), "node-01".into()),
            ],
        };
        assert_eq!(
            err(&twice, &ns),
            "pairs:p.csv: pair 2 (node-00,node-01) is listed twice: list each pair once"
        );
        assert_eq!(err(&PlanSpec::Mesh, &nodes(1, 0)), "mesh leaves no pair to measure: it needs at least two nodes and there is 1; start more workers");
        assert_eq!(err(&PlanSpec::Ring, &[]), "ring leaves no pair to measure: it needs at least two nodes and there are 0; start more workers");
        let dup = vec![PlanNode::new("a", ""), PlanNode::new("a", "z")];
        assert_eq!(
            err(&PlanSpec::Mesh, &dup),
            r#"two nodes are named "a": node names must be unique"#
        );

        let e = Plan::new(&PlanSpec::Mesh, &ns, Some(&pats("nod-1")), None, 0)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "mesh --clients nod-1 leaves no pair to measure: --clients nod-1 matches none of the nodes (node-00, node-01, node-02, node-03, node-04, … (8 in all)); write names or globs of nodes");
        let e = Plan::new(&PlanSpec::Mesh, &ns, None, Some(&pats("x*")), 0)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("mesh --servers x* leaves no pair to measure: --servers x* matches none of the nodes"), "{e}");
        let e = Plan::new(
            &PlanSpec::Mesh,
            &ns,
            Some(&pats("node-00")),
            Some(&pats("node-00")),
            0,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "mesh --clients node-00 --servers node-00 leaves no pair to measure: 1 of the 8 nodes may be clients and 1 servers, and no pair of the plan goes from one to the other; widen --clients/--servers or choose another plan");

        let bad = |s: &str| s.parse::<NamePatterns>().unwrap_err().to_string();
        assert_eq!(
            bad("a,,b"),
            r#"bad name pattern "a,,b": an empty name; write comma-separated names or globs, e.g. node-1,node-[0-9],zone-a-*"#
        );
        assert_eq!(
            bad(""),
            r#"bad name pattern "": an empty name; write comma-separated names or globs, e.g. node-1,node-[0-9],zone-a-*"#
        );
        assert_eq!(
            bad("node-[0-9"),
            r#"bad name pattern "node-[0-9": "node-[0-9": a [ without its ]; write e.g. node-[0-9] (a set of characters)"#
        );
        assert_eq!(
            bad("node-[9-0]"),
            r#"bad name pattern "node-[9-0]": "node-[9-0]": the range 9-0 runs backwards; write 0-9"#
        );
        assert_eq!(
            bad("node-]"),
            r#"bad name pattern "node-]": "node-]": a ] without its [; write e.g. node-[0-9]"#
        );
        assert_eq!(
            bad("a b"),
            r#"bad name pattern "a b": "a b" contains a space; separate names with commas, e.g. node-1,node-2"#
        );
    }

    #[test]
    fn specs_display_as_written() {
        for s in ["mesh", "ring", "star:node-3", "zones:2", "sample:100"] {
            assert_eq!(spec(s).to_string(), s);
            assert_eq!(
                spec(&s.to_uppercase().replace("NODE", "node")).to_string(),
                s
            );
        }
        assert_eq!(spec(" zones : 3 ").to_string(), "zones:3");
        assert_eq!(PlanSpec::default(), PlanSpec::Mesh);
        let one = PlanSpec::Pairs {
            file: "x".into(),
            pairs: vec![("a".into(), "b".into())],
        };
        assert_eq!(one.to_string(), "pairs:x(1 pair)");
    }

    // ---- estimates ----

    #[test]
    fn human_durations_and_deadlines() {
        assert_eq!(human(Duration::from_secs(45)), "45 s");
        assert_eq!(human(Duration::from_millis(44_100)), "45 s");
        assert_eq!(human(Duration::from_secs(60)), "1 m");
        assert_eq!(human(Duration::from_secs(170)), "3 m");
        assert_eq!(human(Duration::from_secs(8787)), "2 h 27 m");
        assert_eq!(human(Duration::from_secs(7200)), "2 h");
        assert_eq!(human(Duration::from_secs(47 * 3600 + 1)), "47 h 1 m");
        assert_eq!(human(Duration::from_secs(48 * 3600)), "2 d");
        assert_eq!(human(Duration::from_secs(75 * 3600 - 1)), "3 d 3 h");
        assert_eq!(deadline_flag(Duration::from_secs(8787)), "3h");
        assert_eq!(deadline_flag(Duration::from_secs(41)), "50s");
        assert_eq!(deadline_flag(Duration::from_secs(1130)), "20m");
        assert_eq!(deadline_flag(Duration::from_secs(3599)), "1h");
        assert_eq!(
            estimate(870, 870, 10.0, 0.1),
            Duration::from_secs_f64(8787.0)
        );
        assert_eq!(
            estimate(870, 109, 10.0, 0.1),
            Duration::from_secs_f64(109.0 * 10.1)
        );
        assert_eq!(
            estimate(3, 10, 1.0, 0.0),
            Duration::from_secs(3),
            "never more rounds than pairs"
        );
        assert_eq!(estimate(1, 1, f64::MAX, f64::MAX), Duration::MAX);
    }

    fn budget(concurrency: u32, deadline_s: u64) -> Budget {
        Budget {
            concurrency,
            duration_s: 10.0,
            overhead_s: 0.1,
            deadline: Duration::from_secs(deadline_s),
            extra: Duration::ZERO,
        }
    }

    #[test]
    fn refusal_with_zones_suggests_what_fits() {
        let ns = nodes(30, 3);
        let p = Plan::new(&PlanSpec::Mesh, &ns, None, None, 0).unwrap();
        let msg = refusal(&p, &budget(1, 1800)).unwrap();
        assert_eq!(
            msg,
            "870 pairs × ~10.1 s ≈ 2 h 27 m > deadline 30 m: try --plan zones:19 (≈ 29 m), --concurrency 5 (≈ 30 m) or --deadline 3h; or --allow-partial to run anyway and keep what is measured by the deadline"
        );
        // The suggestions are right: zones:19 and --concurrency 5 fit, zones:20 and 4 do not.
        let fits = |p: &Plan, c| refusal(p, &budget(c, 1800)).is_none();
        let z = |k| Plan::new(&PlanSpec::Zones(k), &ns, None, None, 0).unwrap();
        assert!(fits(&z(19), 1) && !fits(&z(20), 1));
        assert!(fits(&p, 5) && !fits(&p, 4));
        assert!(refusal(&p, &budget(1, 3 * 3600)).is_none());
        // Concurrency in the message.
        let msg = refusal(&p, &budget(2, 1800)).unwrap();
        assert!(msg.starts_with("870 pairs in 435 rounds of up to 2 × ~10.1 s ≈ 1 h 14 m > deadline 30 m: try --plan zones:"), "{msg}");
        assert!(msg.contains("--concurrency 5 (≈ 30 m)"), "{msg}");
    }

    #[test]
    fn refusal_without_zones_suggests_a_sample_and_ring() {
        let ns = nodes(30, 0);
        let p = Plan::new(&PlanSpec::Mesh, &ns, None, None, 0).unwrap();
        let msg = refusal(&p, &budget(1, 600)).unwrap();
        assert_eq!(
            msg,
            "870 pairs × ~10.1 s ≈ 2 h 27 m > deadline 10 m: try --plan sample:59 (≈ 10 m), --plan ring (≈ 6 m), --concurrency 15 (≈ 10 m) or --deadline 3h; or --allow-partial to run anyway and keep what is measured by the deadline"
        );
        let s = Plan::new(&PlanSpec::Sample(59), &ns, None, None, 0).unwrap();
        assert!(refusal(&s, &budget(1, 600)).is_none());
        // Nothing smaller fits: only the deadline is left to suggest.
        let star = Plan::new(&PlanSpec::Star("node-00".into()), &ns, None, None, 0).unwrap();
        let msg = refusal(&star, &budget(4, 5)).unwrap();
        assert_eq!(
            msg,
            "58 pairs in 58 rounds of up to 4 × ~10.1 s ≈ 10 m > deadline 5 s: try --deadline 10m; or --allow-partial to run anyway and keep what is measured by the deadline"
        );
    }

    #[test]
    fn refusal_on_5000_nodes_is_quick_and_right() {
        let zoned: Vec<PlanNode> = (0..5000)
            .map(|i| PlanNode::new(format!("n{i:04}"), format!("z{}", i % 3)))
            .collect();
        let mesh = Plan::new(&PlanSpec::Mesh, &zoned, None, None, 0).unwrap();
        let msg = refusal(&mesh, &budget(1, 3600)).unwrap();
        assert_eq!(
            msg,
            "24995000 pairs × ~10.1 s ≈ 2921 d 21 h > deadline 1 h: try --plan zones:39 (≈ 1 h) or --deadline 70125h; or --allow-partial to run anyway and keep what is measured by the deadline"
        );
        let z = |k| Plan::new(&PlanSpec::Zones(k), &zoned, None, None, 0).unwrap();
        assert_eq!(z(39).len(), 351);
        assert!(refusal(&z(39), &budget(1, 3600)).is_none());
        assert!(refusal(&z(40), &budget(1, 3600)).is_some());

        let bare = nodes(5000, 0);
        let mesh = Plan::new(&PlanSpec::Mesh, &bare, None, None, 0).unwrap();
        let msg = refusal(&mesh, &budget(64, 24 * 3600)).unwrap();
        assert!(msg.starts_with("24995000 pairs in 390547 rounds of up to 64 × ~10.1 s ≈ 45 d 16 h > deadline 24 h: try --plan sample:"), "{msg}");
        assert!(msg.contains("--plan ring (≈ 14 m)"), "{msg}");
        assert!(
            !msg.contains("--concurrency"),
            "not even 2,500 at once fit: {msg}"
        );
    }

    #[test]
    fn plans_and_their_iterators_cross_threads() {
        fn send<T: Send>(_: &T) {}
        fn sync<T: Sync>(_: &T) {}
        for spec in ["mesh", "ring", "sample:5", "star:node-01"] {
            let p = mk(spec, 5);
            send(&p);
            sync(&p);
            send(&p.pairs());
            send(&p.pairs_for_concurrency());
            send(&p.run_order(2));
        }
    }

    #[test]
    fn run_order_is_canonical_when_serial() {
        let p = mk("mesh", 6);
        assert!(p.run_order(1).eq(p.pairs()));
        assert!(p.run_order(3).eq(p.pairs_for_concurrency()));
        assert!(!p.pairs().eq(p.pairs_for_concurrency()));
    }
}
