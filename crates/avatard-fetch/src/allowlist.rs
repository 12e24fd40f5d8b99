//! The operator's exceptions to the SSRF rules.
//!
//! Operators fetch avatars from LAN or test servers (`http://127.0.0.1:8080/a.png`,
//! `http://files.intranet/`), which the range check would refuse. The setting
//! is Rocket.Chat-style: one comma-separated string of host names, IP
//! addresses and CIDR networks. Names match exactly (no wildcards), because a
//! suffix match would let anyone who controls a sub-domain in.

use std::net::IpAddr;

use ipnet::IpNet;
use url::Host;

/// Host names and networks that bypass the range check (and the port rule).
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    /// Lower-case names without a trailing dot, IDNs in punycode (as URLs
    /// carry them).
    hosts: Vec<String>,
    networks: Vec<IpNet>,
    /// Entries that are none of the above, kept so the caller can log them.
    invalid: Vec<String>,
}

impl Allowlist {
    /// Parses a setting such as `"localhost, 10.0.0.0/8, 127.0.0.1, ::1, files.intranet"`.
    ///
    /// Blank entries are ignored. Entries that are neither a host name, an IP
    /// address nor a CIDR network are ignored too, and listed by
    /// [`invalid_entries`](Self::invalid_entries).
    pub fn parse(setting: &str) -> Allowlist {
        let mut allowlist = Allowlist::default();
        for entry in setting.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if let Ok(net) = entry.parse::<IpNet>() {
                // "10.1.2.3/8" means the network 10.0.0.0/8.
                allowlist.networks.push(net.trunc());
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                allowlist.networks.push(IpNet::from(ip));
            } else {
                // The URL parser's own host rules, so an entry means what the
                // same text means in a URL (IDN to punycode, "[::1]", and the
                // odd IPv4 spellings).
                match Host::parse(entry) {
                    Ok(Host::Ipv4(ip)) => allowlist.networks.push(IpNet::from(IpAddr::V4(ip))),
                    Ok(Host::Ipv6(ip)) => allowlist.networks.push(IpNet::from(IpAddr::V6(ip))),
                    Ok(Host::Domain(name)) if is_host_name(&name) => {
                        allowlist.hosts.push(normalise_name(&name));
                    }
                    _ => allowlist.invalid.push(entry.to_owned()),
                }
            }
        }
        allowlist
    }

    /// Whether the host name is listed (exact, case-insensitive; a trailing
    /// dot is ignored since `example.com.` is the same name).
    pub fn allows_host(&self, host: &str) -> bool {
        let host = normalise_name(host);
        self.hosts.contains(&host)
    }

    /// Whether the address is listed or inside a listed network.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// The entries [`parse`](Self::parse) could not understand and ignored.
    pub fn invalid_entries(&self) -> &[String] {
        &self.invalid
    }
}

/// The form names are compared in: lower case, no trailing dot.
pub(crate) fn normalise_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Letters, digits, `-`, `_` and dots, with at least one character that is
/// not a dot. The URL parser accepts more (`*`, `!`, ...), but such an entry
/// could only be a mistake, e.g. a wildcard we do not support.
fn is_host_name(name: &str) -> bool {
    name.bytes().any(|b| b != b'.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn parses_the_documented_example() {
        let list = Allowlist::parse("localhost, 10.0.0.0/8, 127.0.0.1, ::1, files.intranet");
        assert!(list.allows_host("localhost"));
        assert!(list.allows_host("files.intranet"));
        assert!(list.allows_ip(ip("10.20.30.40")));
        assert!(list.allows_ip(ip("127.0.0.1")));
        assert!(list.allows_ip(ip("::1")));
        assert!(!list.allows_ip(ip("127.0.0.2")));
        assert!(!list.allows_ip(ip("11.0.0.0")));
        assert!(!list.allows_host("intranet"));
        assert!(!list.allows_host("x.files.intranet"));
        assert!(list.invalid_entries().is_empty());
    }

    #[test]
    fn names_match_case_insensitively_and_ignore_a_trailing_dot() {
        let list = Allowlist::parse("Files.Intranet., LOCALHOST");
        assert!(list.allows_host("files.intranet"));
        assert!(list.allows_host("FILES.INTRANET."));
        assert!(list.allows_host("localhost"));
    }

    #[test]
    fn idn_names_are_stored_as_punycode() {
        let list = Allowlist::parse("bücher.example");
        assert!(list.allows_host("xn--bcher-kva.example"));
    }

    #[test]
    fn addresses_in_other_spellings_are_networks_not_names() {
        let list = Allowlist::parse("[fd00::1], 0x7f.1, 192.168.0.0/16, 10.1.2.3/8");
        assert!(list.allows_ip(ip("fd00::1")));
        assert!(list.allows_ip(ip("127.0.0.1")));
        assert!(list.allows_ip(ip("192.168.200.1")));
        assert!(list.allows_ip(ip("10.200.0.1")));
        assert!(!list.allows_host("0x7f.1"));
        assert!(list.invalid_entries().is_empty());
    }

    #[test]
    fn blank_and_invalid_entries_are_ignored_and_reported() {
        let list = Allowlist::parse(
            " , *.example.com,,  bad host , 10.0.0.0/33, http://x/, ., localhost ",
        );
        assert!(list.allows_host("localhost"));
        assert!(!list.allows_host("a.example.com"));
        assert_eq!(
            list.invalid_entries(),
            ["*.example.com", "bad host", "10.0.0.0/33", "http://x/", "."]
        );
    }

    #[test]
    fn the_empty_setting_allows_nothing() {
        let list = Allowlist::parse("");
        assert!(!list.allows_host("localhost"));
        assert!(!list.allows_ip(ip("127.0.0.1")));
        assert!(list.invalid_entries().is_empty());
    }
}
