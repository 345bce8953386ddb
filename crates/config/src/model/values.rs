//! Readers for keyword arguments (numbers, timers, booleans, addresses), each reporting a
//! diagnostic at the argument's location and returning None when the value is unusable.

use crate::diag::Diagnostics;
use crate::tree::Node;
use std::net::IpAddr;

/// Reads argument `n` as an unsigned integer in `[min, max]`.
pub fn uint(node: &Node, n: usize, min: u64, max: u64, d: &mut Diagnostics) -> Option<u64> {
    let Some(arg) = node.arg(n) else {
        missing(node, d);
        return None;
    };
    match arg.text.parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Some(v),
        Ok(_) => {
            d.error(
                Some(&arg.location),
                format!(
                    "{} '{}' outside range [{min}, {max}]",
                    node.keyword, arg.text
                ),
            );
            None
        }
        Err(_) => {
            d.error(
                Some(&arg.location),
                format!("{}: '{}' is not a valid number", node.keyword, arg.text),
            )
            .with_help(format!("expected an integer in [{min}, {max}]"));
            None
        }
    }
}

/// Reads argument `n` as a signed integer in `[min, max]`.
pub fn int(node: &Node, n: usize, min: i64, max: i64, d: &mut Diagnostics) -> Option<i64> {
    let Some(arg) = node.arg(n) else {
        missing(node, d);
        return None;
    };
    match arg.text.parse::<i64>() {
        Ok(v) if (min..=max).contains(&v) => Some(v),
        Ok(_) => {
            d.error(
                Some(&arg.location),
                format!(
                    "{} '{}' outside range [{min}, {max}]",
                    node.keyword, arg.text
                ),
            );
            None
        }
        Err(_) => {
            d.error(
                Some(&arg.location),
                format!("{}: '{}' is not a valid number", node.keyword, arg.text),
            )
            .with_help(format!("expected an integer in [{min}, {max}]"));
            None
        }
    }
}

/// Parses a decimal number of seconds into microseconds (keepalived's timer resolution).
pub fn parse_seconds_us(s: &str) -> Option<u64> {
    let (int_part, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int_part.is_empty() && frac.is_empty() {
        return None;
    }
    if !int_part.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().ok()?
    };
    let mut micros = 0u64;
    let mut scale = 100_000u64;
    for c in frac.chars() {
        let digit = u64::from(c.to_digit(10)?);
        micros += digit * scale;
        scale /= 10;
        if scale == 0 {
            break;
        }
    }
    whole.checked_mul(1_000_000)?.checked_add(micros)
}

/// Reads argument `n` as a time in decimal seconds within `[min_us, max_us]`, in microseconds.
pub fn seconds(
    node: &Node,
    n: usize,
    min_us: u64,
    max_us: u64,
    d: &mut Diagnostics,
) -> Option<u64> {
    let Some(arg) = node.arg(n) else {
        missing(node, d);
        return None;
    };
    match parse_seconds_us(&arg.text) {
        Some(v) if (min_us..=max_us).contains(&v) => Some(v),
        _ => {
            d.error(
                Some(&arg.location),
                format!("{} '{}' is invalid", node.keyword, arg.text),
            )
            .with_help(format!(
                "expected seconds in [{}, {}]",
                fmt_seconds(min_us),
                fmt_seconds(max_us)
            ));
            None
        }
    }
}

/// Formats microseconds as decimal seconds without trailing zeros.
pub fn fmt_seconds(us: u64) -> String {
    let s = format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Reads an optional boolean after a flag keyword: a bare keyword means true.
pub fn flag(node: &Node, d: &mut Diagnostics) -> Option<bool> {
    let Some(arg) = node.arg(0) else {
        return Some(true);
    };
    match parse_bool(&arg.text) {
        Some(b) => Some(b),
        None => {
            d.error(
                Some(&arg.location),
                format!("{}: invalid boolean '{}'", node.keyword, arg.text),
            )
            .with_help("expected one of on, off, true, false, yes, no");
            None
        }
    }
}

/// keepalived's booleans (lower case only).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// Reads a required single word argument.
pub fn word(node: &Node, n: usize, d: &mut Diagnostics) -> Option<String> {
    match node.arg(n) {
        Some(a) => Some(a.text.to_string()),
        None => {
            missing(node, d);
            None
        }
    }
}

/// Reads argument `n` as an IP address.
pub fn ip(node: &Node, n: usize, d: &mut Diagnostics) -> Option<IpAddr> {
    let Some(arg) = node.arg(n) else {
        missing(node, d);
        return None;
    };
    match arg.text.parse::<IpAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            d.error(
                Some(&arg.location),
                format!("{}: invalid IP address '{}'", node.keyword, arg.text),
            );
            None
        }
    }
}

/// Reports a missing argument: keepalived aborts the whole run (exit 2) on this.
pub fn missing(node: &Node, d: &mut Diagnostics) {
    d.abort(
        Some(&node.location),
        format!(
            "'{}' is missing a parameter after the keyword",
            node.keyword
        ),
    )
    .with_help("keepalived stops reading here (exit 2)");
}

/// Reports arguments beyond the first `allowed`.
pub fn extra_args(node: &Node, allowed: usize, d: &mut Diagnostics) {
    if let Some(a) = node.args.get(allowed) {
        d.error(
            Some(&a.location),
            format!("{}: unexpected extra argument '{}'", node.keyword, a.text),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse() {
        assert_eq!(parse_seconds_us("1"), Some(1_000_000));
        assert_eq!(parse_seconds_us("0.5"), Some(500_000));
        assert_eq!(parse_seconds_us(".25"), Some(250_000));
        assert_eq!(parse_seconds_us("2.0000019"), Some(2_000_001));
        assert_eq!(parse_seconds_us("abc"), None);
        assert_eq!(parse_seconds_us("-1"), None);
        assert_eq!(parse_seconds_us("."), None);
        assert_eq!(fmt_seconds(4_294_967_295), "4294.967295");
        assert_eq!(fmt_seconds(1_000_000), "1");
    }
}
