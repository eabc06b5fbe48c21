//! The benchmark parameters (`--streams`, `--message-size`, `--rate`): their limits and how a
//! command template takes them.
//!
//! A template takes a parameter by naming it in one of two placeholders, so the template is
//! also the declaration of what a benchmark takes (there is no second list to keep in step):
//! - `{name=DEFAULT}` inside an argument: the value, or `DEFAULT` when none was given
//!   (`"-c", "{streams=1}"`);
//! - `{?name FLAG}` as a whole argument: the two arguments `FLAG VALUE` when a value was given,
//!   nothing otherwise (`"{?streams -P}"`), so a run without the flag renders exactly the
//!   command it always did.

use netbench_proto::Parameters;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Param {
    Streams,
    MessageSize,
    Rate,
}

/// Most parallel streams or connections (iperf3's own limit is 128).
pub const MAX_STREAMS: u32 = 128;
/// Largest message for TCP benchmarks (iperf3's largest block is 1 MiB).
pub const MAX_MESSAGE_SIZE_TCP: u32 = 1 << 20;
/// Largest UDP payload over IPv4.
pub const MAX_MESSAGE_SIZE_UDP: u32 = 65_507;
/// Highest target rate: 1 Tbit/s.
pub const MAX_RATE: u64 = 1_000_000_000_000;

impl Param {
    pub const ALL: [Param; 3] = [Param::Streams, Param::MessageSize, Param::Rate];

    /// The name in templates and in the results' `parameters`.
    pub fn name(self) -> &'static str {
        match self {
            Param::Streams => "streams",
            Param::MessageSize => "message_size",
            Param::Rate => "rate",
        }
    }
    /// The command-line flag that sets it.
    pub fn flag(self) -> &'static str {
        match self {
            Param::Streams => "--streams",
            Param::MessageSize => "--message-size",
            Param::Rate => "--rate",
        }
    }
    pub fn from_name(name: &str) -> Option<Param> {
        Param::ALL.into_iter().find(|p| p.name() == name)
    }
    /// The value given for it, if any.
    pub fn get(self, p: &Parameters) -> Option<u64> {
        match self {
            Param::Streams => p.streams.map(u64::from),
            Param::MessageSize => p.message_size.map(u64::from),
            Param::Rate => p.rate,
        }
    }
    fn set(self, p: &mut Parameters, v: u64) {
        match self {
            Param::Streams => p.streams = u32::try_from(v).ok(),
            Param::MessageSize => p.message_size = u32::try_from(v).ok(),
            Param::Rate => p.rate = Some(v),
        }
    }
}

/// A placeholder found in a template argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder<'a> {
    /// `{name=DEFAULT}` at `start..end` of the argument.
    WithDefault {
        param: Param,
        default: &'a str,
        start: usize,
        end: usize,
    },
    /// `{?name FLAG}`, the whole argument.
    Optional { param: Param, flag: &'a str },
}

/// The parameter placeholders of one template argument (none for `{server_ip}` and the like).
pub fn placeholders(arg: &str) -> Vec<Placeholder<'_>> {
    if let Some(inner) = arg.strip_prefix("{?").and_then(|a| a.strip_suffix('}')) {
        if let Some((name, flag)) = inner.split_once(' ') {
            if let Some(param) = Param::from_name(name) {
                return vec![Placeholder::Optional { param, flag }];
            }
        }
    }
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = arg[from..].find('{').map(|i| i + from) {
        let Some(close) = arg[open..].find('}').map(|i| i + open) else {
            break;
        };
        if let Some((name, default)) = arg[open + 1..close].split_once('=') {
            if let Some(param) = Param::from_name(name) {
                out.push(Placeholder::WithDefault {
                    param,
                    default,
                    start: open,
                    end: close + 1,
                });
            }
        }
        from = close + 1;
    }
    out
}

/// Fill one template argument's parameter placeholders: zero, one or two arguments.
pub fn fill(arg: &str, p: &Parameters) -> Vec<String> {
    let found = placeholders(arg);
    if let [Placeholder::Optional { param, flag }] = found.as_slice() {
        return match param.get(p) {
            Some(v) => vec![flag.to_string(), v.to_string()],
            None => Vec::new(),
        };
    }
    let mut s = String::with_capacity(arg.len());
    let mut at = 0;
    for ph in found {
        if let Placeholder::WithDefault {
            param,
            default,
            start,
            end,
        } = ph
        {
            s.push_str(&arg[at..start]);
            match param.get(p) {
                Some(v) => s.push_str(&v.to_string()),
                None => s.push_str(default),
            }
            at = end;
        }
    }
    s.push_str(&arg[at..]);
    vec![s]
}

/// `1G`, `100M`, `2.5g`, `500k` or a plain number: bits per second, decimal units (as iperf3
/// reads `-b`).
pub fn parse_rate(s: &str) -> Option<u64> {
    let t = s.trim();
    let (num, mult) = match t.chars().last()? {
        'k' | 'K' => (&t[..t.len() - 1], 1e3),
        'm' | 'M' => (&t[..t.len() - 1], 1e6),
        'g' | 'G' => (&t[..t.len() - 1], 1e9),
        't' | 'T' => (&t[..t.len() - 1], 1e12),
        _ => (t, 1.0),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let v: f64 = num.parse().ok()?;
    let bits = (v * mult).round();
    (bits.is_finite() && bits >= 0.0 && bits <= MAX_RATE as f64).then_some(bits as u64)
}

/// The parameters a template's defaults give (`{streams=1}` -> streams 1), for the results:
/// what the command ran with, given or not. A parameter the tool picks itself stays `None`.
pub fn defaults<'a>(args: impl IntoIterator<Item = &'a &'a str>) -> Parameters {
    let mut p = Parameters::default();
    for arg in args {
        for ph in placeholders(arg) {
            if let Placeholder::WithDefault { param, default, .. } = ph {
                let v = match param {
                    Param::Rate => parse_rate(default),
                    _ => default.parse().ok(),
                };
                if let Some(v) = v {
                    param.set(&mut p, v);
                }
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fill_or_vanish() {
        let none = Parameters::default();
        let four = Parameters {
            streams: Some(4),
            ..Default::default()
        };
        assert_eq!(fill("{?streams -P}", &none), Vec::<String>::new());
        assert_eq!(fill("{?streams -P}", &four), vec!["-P", "4"]);
        assert_eq!(fill("{streams=1}", &none), vec!["1"]);
        assert_eq!(fill("{streams=1}", &four), vec!["4"]);
        assert_eq!(
            fill("x{streams=1}y{server_ip}", &four),
            vec!["x4y{server_ip}"]
        );
        assert_eq!(fill("{server_ip}", &four), vec!["{server_ip}"]);
        assert_eq!(fill("{?nonsense -P}", &four), vec!["{?nonsense -P}"]);
    }

    #[test]
    fn rates_read_like_iperf3() {
        assert_eq!(parse_rate("1G"), Some(1_000_000_000));
        assert_eq!(parse_rate("2.5g"), Some(2_500_000_000));
        assert_eq!(parse_rate("100M"), Some(100_000_000));
        assert_eq!(parse_rate("0"), Some(0));
        assert_eq!(parse_rate("1234"), Some(1234));
        for bad in ["", "G", "-1M", "1X", "1e9", "2T", "nan", "1 G"] {
            assert_eq!(parse_rate(bad), None, "{bad:?}");
        }
        assert_eq!(parse_rate("1T"), Some(MAX_RATE));
    }

    #[test]
    fn defaults_come_from_the_template() {
        let p = defaults(&["-b", "{rate=1G}", "-c", "{streams=1}", "{?message_size -l}"]);
        assert_eq!(
            p,
            Parameters {
                streams: Some(1),
                message_size: None,
                rate: Some(1_000_000_000)
            }
        );
    }
}
