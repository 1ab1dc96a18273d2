//! The one duration grammar of the command line: `500ms`, `30s`, `10m`, `6h`,
//! `2d`, compounds such as `1h30m`, and a bare number meaning seconds.
//!
//! Every command that takes a duration (`soak --duration`, `trend --range`,
//! `capture --interval`, …) parses it here, so a value accepted by one is
//! accepted by all.

use std::time::Duration;

/// The units, longest name first so that `ms` is not read as `m`.
const UNITS: [(&str, f64); 5] = [
    ("ms", 0.001),
    ("s", 1.0),
    ("m", 60.0),
    ("h", 3600.0),
    ("d", 86400.0),
];

const EXAMPLES: &str = "use e.g. 500ms, 30s, 10m, 6h, 2d or 1h30m";

/// Parses a duration of the grammar above; zero and negative durations are
/// refused, since no flag means "no time at all".
pub fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("empty duration: {EXAMPLES}"));
    }
    let mut rest = t;
    let mut secs = 0.0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_end);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("bad duration {s:?}: {EXAMPLES}"))?;
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_end);
        let mul = if unit.is_empty() && next.is_empty() && rest.len() == t.len() {
            1.0
        } else {
            UNITS
                .iter()
                .find(|(u, _)| *u == unit)
                .map(|(_, m)| *m)
                .ok_or_else(|| format!("bad duration {s:?}: unknown unit {unit:?}; {EXAMPLES}"))?
        };
        secs += n * mul;
        rest = next;
    }
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("bad duration {s:?}: must be above zero"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("bad duration {s:?}: too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_of_the_cli_contract() {
        let ok = [
            ("500ms", 0.5),
            ("30s", 30.0),
            ("10m", 600.0),
            ("6h", 21600.0),
            ("2d", 172800.0),
            ("1h30m", 5400.0),
            ("90", 90.0),
            ("1.5s", 1.5),
        ];
        for (s, want) in ok {
            assert_eq!(parse(s).unwrap(), Duration::from_secs_f64(want), "{s}");
        }
        for bad in ["", "0s", "5x", "abc", "s", "-3s", "1h30", "1e9999d"] {
            assert!(parse(bad).is_err(), "{bad} parsed");
        }
    }
}
