//! The proxy the environment names for a target, read the way curl reads it, and `no_proxy`
//! matching. Pure functions of the variables: the process environment is only read by callers.
#![forbid(unsafe_code)]

use std::net::IpAddr;

use super::{Proxy, ProxyError};
use crate::proto::handshake::client::Uri;

/// The proxy for `uri`, with variables looked up by `vars` (see the module docs for the order).
pub(super) fn from_vars(
    uri: &Uri,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, ProxyError> {
    let no_proxy = vars("no_proxy").or_else(|| vars("NO_PROXY"));
    if no_proxy.is_some_and(|list| no_proxy_matches(&list, &uri.host, uri.port)) {
        return Ok(None);
    }
    if is_loopback(&uri.host) {
        return Ok(None);
    }
    // ws:// reads http_proxy but never HTTP_PROXY (httpoxy); wss:// reads both spellings.
    let names: &[&str] = if uri.tls {
        &["wss_proxy", "WSS_PROXY", "https_proxy", "HTTPS_PROXY"]
    } else {
        &["ws_proxy", "WS_PROXY", "http_proxy"]
    };
    let value = names
        .iter()
        .chain(&["all_proxy", "ALL_PROXY"])
        .find_map(|name| vars(name));
    match value {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => Proxy::parse(v.trim()).map(Some),
    }
}

/// Whether `host` is this machine's loopback: `localhost`, `*.localhost`, `127.0.0.0/8`, `::1`.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// Whether a `no_proxy` list names `host:port`, so that it is reached directly.
///
/// The list is separated by commas and/or white space. An entry `*` matches every host. A name
/// matches itself and its subdomains, with or without a leading dot (`example.com` and
/// `.example.com` both match `example.com` and `www.example.com`, not `badexample.com`); a
/// leading `*.` is read like a leading dot. Names compare without case and without a trailing
/// dot. An IP address entry matches the same address (`::1` and `[::1]` alike), and `addr/bits`
/// a network (as in curl); names never match IP targets nor the reverse (nothing is
/// resolved). Any entry may end in `:port` to apply to that port only (`[v6]:port` for IPv6).
///
/// ```
/// use websock::proxy::no_proxy_matches;
/// assert!(no_proxy_matches("localhost, .corp.example", "ws.corp.example", 443));
/// assert!(no_proxy_matches("10.0.0.0/8", "10.1.2.3", 80));
/// assert!(no_proxy_matches("example.com:8080", "example.com", 8080));
/// assert!(!no_proxy_matches("example.com:8080", "example.com", 443));
/// assert!(!no_proxy_matches("example.com", "badexample.com", 80));
/// ```
pub fn no_proxy_matches(no_proxy: &str, host: &str, port: u16) -> bool {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return false;
    }
    let host_ip = host.parse::<IpAddr>().ok();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    no_proxy
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|entry| !entry.is_empty())
        .any(|entry| entry_matches(entry, &host, host_ip, port))
}

fn entry_matches(entry: &str, host: &str, host_ip: Option<IpAddr>, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    let (pattern, entry_port) = split_port(entry);
    if entry_port.is_some_and(|p| p != Some(port)) {
        return false;
    }
    if let Some(ip) = host_ip {
        return ip_matches(pattern, ip);
    }
    let pattern = pattern
        .strip_prefix("*.")
        .or_else(|| pattern.strip_prefix('.'))
        .unwrap_or(pattern)
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if pattern.is_empty() {
        return false;
    }
    host == pattern
        || host
            .strip_suffix(pattern.as_str())
            .is_some_and(|rest| rest.ends_with('.'))
}

/// Splits `host:port`, `[v6]:port` and `[v6]`; a bare IPv6 address has no port. The port is
/// `Some(None)` when it is there but not a number (the entry then matches nothing).
fn split_port(entry: &str) -> (&str, Option<Option<u16>>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, "")) => (ip, None),
            Some((ip, after)) => match after.strip_prefix(':') {
                Some(p) => (ip, Some(p.parse().ok())),
                None => (ip, Some(None)),
            },
            None => (entry, Some(None)),
        };
    }
    match entry.split_once(':') {
        Some((h, p)) if !p.contains(':') => (h, Some(p.parse().ok())),
        _ => (entry, None),
    }
}

/// `pattern` is an address, or `address/bits`.
fn ip_matches(pattern: &str, ip: IpAddr) -> bool {
    let (addr, bits) = match pattern.split_once('/') {
        Some((a, b)) => match b.parse::<u8>() {
            Ok(bits) => (a, Some(bits)),
            Err(_) => return false,
        },
        None => (pattern, None),
    };
    let Ok(net) = addr.parse::<IpAddr>() else {
        return false;
    };
    let (ip, net) = (ip.to_canonical(), net.to_canonical());
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            prefix_eq(u32::from(ip).into(), u32::from(net).into(), 32, bits)
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => prefix_eq(ip.into(), net.into(), 128, bits),
        _ => false,
    }
}

/// Whether the top `bits` (all `width` when `None`) of `a` and `b` agree.
fn prefix_eq(a: u128, b: u128, width: u32, bits: Option<u8>) -> bool {
    let bits = u32::from(bits.unwrap_or(width as u8));
    if bits > width {
        return false;
    }
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (b >> shift)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::proxy::ProxyKind;

    #[test]
    fn no_proxy_table() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, u16, bool)] = &[
            // (no_proxy, host, port, matches)
            ("", "example.com", 80, false),
            ("*", "example.com", 80, true),
            ("*", "10.0.0.1", 80, true),
            ("foo, *", "example.com", 80, true),
            ("example.com", "example.com", 80, true),
            ("example.com", "EXAMPLE.com.", 80, true),
            ("Example.COM.", "example.com", 80, true),
            ("example.com", "www.example.com", 80, true),
            ("example.com", "a.b.example.com", 80, true),
            (".example.com", "example.com", 80, true),
            (".example.com", "www.example.com", 80, true),
            ("*.example.com", "www.example.com", 80, true),
            ("example.com", "badexample.com", 80, false),
            ("example.com", "example.com.evil", 80, false),
            ("www.example.com", "example.com", 80, false),
            ("a.com,b.com", "b.com", 80, true),
            ("a.com b.com", "b.com", 80, true),
            (" a.com ,, b.com ", "b.com", 80, true),
            ("a.com,b.com", "c.com", 80, false),
            (".", "example.com", 80, false),
            ("example.com:8080", "example.com", 8080, true),
            ("example.com:8080", "example.com", 80, false),
            ("example.com:x", "example.com", 80, false),
            ("127.0.0.1", "127.0.0.1", 80, true),
            ("127.0.0.1", "127.0.0.2", 80, false),
            ("127.0.0.1:9000", "127.0.0.1", 9000, true),
            ("127.0.0.1:9000", "127.0.0.1", 9001, false),
            ("10.0.0.0/8", "10.200.3.4", 80, true),
            ("10.0.0.0/8", "11.0.0.1", 80, false),
            ("10.0.0.0/33", "10.0.0.0", 80, false),
            ("0.0.0.0/0", "192.0.2.1", 80, true),
            ("::1", "::1", 80, true),
            ("[::1]", "::1", 80, true),
            ("::1", "[::1]", 80, true),
            ("[::1]:443", "::1", 443, true),
            ("[::1]:443", "::1", 80, false),
            ("0:0:0:0:0:0:0:1", "::1", 80, true),
            ("2001:db8::/32", "2001:db8:1::5", 80, true),
            ("2001:db8::/32", "2001:db9::5", 80, false),
            ("::ffff:10.0.0.1", "10.0.0.1", 80, true),
            // Names never match addresses, nor the reverse: nothing is resolved.
            ("localhost", "127.0.0.1", 80, false),
            ("127.0.0.1", "localhost", 80, false),
            ("1.2.3.4", "1.2.3.4.example.com", 80, false),
        ];
        for &(list, host, port, want) in cases {
            assert_eq!(
                no_proxy_matches(list, host, port),
                want,
                "no_proxy={list:?} host={host:?} port={port}"
            );
        }
    }

    /// The proxy the variables name for a target, as `kind host:port`, or `direct`.
    fn resolve(target: &str, vars: &[(&str, &str)]) -> String {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match Proxy::from_vars(target, |name| map.get(name).cloned()) {
            Ok(None) => "direct".to_string(),
            Ok(Some(p)) => {
                let kind = match p.kind() {
                    ProxyKind::Http => "http",
                    ProxyKind::Socks5 => "socks5",
                };
                format!("{kind} {}:{}", p.host(), p.port())
            }
            Err(e) => format!("error: {e}"),
        }
    }

    /// (target, variables, expected proxy).
    type EnvCase<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

    #[test]
    fn env_table() {
        #[rustfmt::skip]
        let cases: &[EnvCase] = &[
            ("ws://example.com/", &[], "direct"),
            // ws:// reads ws_proxy, then http_proxy; never HTTP_PROXY.
            ("ws://example.com/", &[("http_proxy", "p:1")], "http p:1"),
            ("ws://example.com/", &[("HTTP_PROXY", "p:1")], "direct"),
            ("ws://example.com/", &[("HTTP_PROXY", "p:1"), ("ALL_PROXY", "q:2")], "http q:2"),
            ("ws://example.com/", &[("ws_proxy", "w:1"), ("http_proxy", "p:1")], "http w:1"),
            ("ws://example.com/", &[("WS_PROXY", "w:1"), ("http_proxy", "p:1")], "http w:1"),
            ("ws://example.com/", &[("ws_proxy", "a:1"), ("WS_PROXY", "b:1")], "http a:1"),
            ("ws://example.com/", &[("https_proxy", "s:1")], "direct"),
            // wss:// reads wss_proxy, then https_proxy, both spellings, lower case first.
            ("wss://example.com/", &[("https_proxy", "s:1")], "http s:1"),
            ("wss://example.com/", &[("HTTPS_PROXY", "S:1")], "http S:1"),
            ("wss://example.com/", &[("https_proxy", "s:1"), ("HTTPS_PROXY", "S:1")], "http s:1"),
            ("wss://example.com/", &[("WSS_PROXY", "w:1"), ("https_proxy", "s:1")], "http w:1"),
            ("wss://example.com/", &[("http_proxy", "p:1")], "direct"),
            // Then all_proxy, ALL_PROXY.
            ("wss://example.com/", &[("all_proxy", "socks5h://a:1")], "socks5 a:1"),
            ("ws://example.com/", &[("ALL_PROXY", "socks5://A")], "socks5 A:1080"),
            ("ws://example.com/", &[("all_proxy", "a:1"), ("ALL_PROXY", "A:1")], "http a:1"),
            ("wss://example.com/", &[("https_proxy", "s:1"), ("all_proxy", "a:1")], "http s:1"),
            // Set but empty: no proxy, as in curl (no fall-back to all_proxy).
            ("wss://example.com/", &[("https_proxy", ""), ("all_proxy", "a:1")], "direct"),
            ("ws://example.com/", &[("http_proxy", "  ")], "direct"),
            // no_proxy, lower case first.
            ("ws://example.com/", &[("http_proxy", "p:1"), ("no_proxy", "example.com")], "direct"),
            ("ws://example.com/", &[("http_proxy", "p:1"), ("NO_PROXY", ".example.com")], "direct"),
            ("ws://example.com/", &[("http_proxy", "p:1"), ("no_proxy", "other"), ("NO_PROXY", "example.com")], "http p:1"),
            ("ws://a.example.com:81/", &[("http_proxy", "p:1"), ("no_proxy", "example.com:81")], "direct"),
            ("ws://a.example.com/", &[("http_proxy", "p:1"), ("no_proxy", "example.com:81")], "http p:1"),
            ("ws://example.com/", &[("http_proxy", "p:1"), ("no_proxy", "*")], "direct"),
            ("ws://10.1.1.1/", &[("http_proxy", "p:1"), ("no_proxy", "10.0.0.0/8")], "direct"),
            // Loopback is always direct.
            ("ws://localhost:9000/", &[("http_proxy", "p:1")], "direct"),
            ("ws://app.localhost/", &[("all_proxy", "p:1")], "direct"),
            ("ws://127.0.0.1:9000/", &[("http_proxy", "p:1")], "direct"),
            ("ws://127.8.9.10/", &[("http_proxy", "p:1")], "direct"),
            ("wss://[::1]:9000/", &[("https_proxy", "p:1")], "direct"),
            ("ws://[::2]/", &[("http_proxy", "p:1")], "http p:1"),
            // Credentials and schemes come through; an unusable value is an error.
            ("ws://example.com/", &[("http_proxy", "http://u:p%40ss@p:3128/")], "http p:3128"),
            ("ws://example.com/", &[("http_proxy", "https://p:1")], "error: unsupported proxy scheme \"https\" (http, socks5 and socks5h are supported)"),
            ("ws://example.com/", &[("http_proxy", "http://p:x")], "error: invalid proxy URL: bad port"),
            ("http://example.com/", &[], "error: cannot use the proxy for this target: the target is not a valid ws:// or wss:// URL"),
        ];
        for (target, vars, want) in cases {
            assert_eq!(resolve(target, vars), *want, "{target} {vars:?}");
        }
    }

    #[test]
    fn env_credentials_are_decoded() {
        let vars =
            |name: &str| (name == "http_proxy").then(|| "http://u:p%40ss@p:3128".to_string());
        let p = Proxy::from_vars("ws://example.com/", vars)
            .unwrap()
            .unwrap();
        assert_eq!(p.credentials(), Some(("u", "p@ss")));
    }
}
