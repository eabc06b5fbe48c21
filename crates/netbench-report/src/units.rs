//! Values in the units people read. Results keep base units (bytes per second, seconds); these
//! helpers turn them into Gbit/s (×8), µs/ms and `/s` for tables, pages and progress lines.

use netbench_proto::Unit;

/// A value with its human unit: `12.20 Gbit/s`, `37.0 µs`, `35327/s`, `49`.
pub fn human(value: f64, unit: Unit) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    match unit {
        Unit::BytesPerSecond => {
            let bits = value * 8.0;
            if bits.abs() >= 1e9 {
                format!("{:.2} Gbit/s", bits / 1e9)
            } else if bits.abs() >= 1e6 {
                format!("{:.1} Mbit/s", bits / 1e6)
            } else {
                format!("{:.1} kbit/s", bits / 1e3)
            }
        }
        Unit::Seconds => {
            if value.abs() < 1e-3 {
                format!("{:.1} µs", value * 1e6)
            } else if value.abs() < 1.0 {
                format!("{:.2} ms", value * 1e3)
            } else {
                format!("{value:.2} s")
            }
        }
        Unit::PerSecond => {
            if value.abs() >= 100.0 {
                format!("{value:.0}/s")
            } else {
                format!("{value:.2}/s")
            }
        }
        Unit::Count => {
            if value.fract() == 0.0 {
                format!("{value:.0}")
            } else {
                format!("{value:.2}")
            }
        }
    }
}

/// A range with its unit once when both ends share it: `11.70–12.10 Gbit/s`, `35000–35327/s`.
pub fn human_range(low: f64, high: f64, unit: Unit) -> String {
    fn split(s: &str) -> (&str, &str) {
        let at = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
            .unwrap_or(s.len());
        s.split_at(at)
    }
    let (lo, hi) = (human(low, unit), human(high, unit));
    let ((ln, lu), (hn, hu)) = (split(&lo), split(&hi));
    if lu == hu && !ln.is_empty() && !hn.is_empty() {
        format!("{ln}–{hn}{hu}")
    } else {
        format!("{lo} – {hi}")
    }
}

/// A relative change as a signed percentage: `+20.0%`, `-3.1%`.
pub fn percent(change: f64) -> String {
    if change.is_infinite() {
        return if change > 0.0 { "+inf%" } else { "-inf%" }.to_string();
    }
    format!("{:+.1}%", change * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_become_bits_and_seconds_become_micro_or_milliseconds() {
        assert_eq!(human(1_524_473_451.5, Unit::BytesPerSecond), "12.20 Gbit/s");
        assert_eq!(human(1_250_000.0, Unit::BytesPerSecond), "10.0 Mbit/s");
        assert_eq!(human(3.7e-5, Unit::Seconds), "37.0 µs");
        assert_eq!(human(0.0042, Unit::Seconds), "4.20 ms");
        assert_eq!(human(2.5, Unit::Seconds), "2.50 s");
        assert_eq!(human(35327.4, Unit::PerSecond), "35327/s");
        assert_eq!(human(49.0, Unit::Count), "49");
        assert_eq!(percent(-0.2), "-20.0%");
        assert_eq!(percent(0.05), "+5.0%");
        assert_eq!(
            human_range(1.4625e9, 1.5125e9, Unit::BytesPerSecond),
            "11.70–12.10 Gbit/s"
        );
        assert_eq!(
            human_range(35000.0, 35327.4, Unit::PerSecond),
            "35000–35327/s"
        );
        assert_eq!(
            human_range(9e-4, 1.1e-3, Unit::Seconds),
            "900.0 µs – 1.10 ms"
        );
    }
}
