//! Which IP addresses are publicly routable.
//!
//! Every other address is refused as a fetch target: loopback, private and
//! link-local ranges reach the server's own network (SSRF), and the
//! special-purpose ranges either are not reachable at all or tunnel to an
//! IPv4 address (NAT64, 6to4, Teredo, IPv4-mapped) that would slip past the
//! IPv4 table. The tables follow the IANA special-purpose registries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6(segments: [u16; 8], prefix: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix)
}

/// IPv4 ranges that are not publicly routable.
const BLOCKED_V4: &[Ipv4Net] = &[
    v4(0, 0, 0, 0, 8),       // "this network"; 0.0.0.0 reaches localhost on Linux
    v4(10, 0, 0, 0, 8),      // private
    v4(100, 64, 0, 0, 10),   // shared (CGNAT); holds 100.100.100.200, Alibaba metadata
    v4(127, 0, 0, 0, 8),     // loopback
    v4(169, 254, 0, 0, 16),  // link-local; holds 169.254.169.254, cloud metadata
    v4(172, 16, 0, 0, 12),   // private
    v4(192, 0, 0, 0, 24),    // IETF protocol assignments
    v4(192, 0, 2, 0, 24),    // documentation (TEST-NET-1)
    v4(192, 88, 99, 0, 24),  // 6to4 relay anycast
    v4(192, 168, 0, 0, 16),  // private
    v4(198, 18, 0, 0, 15),   // benchmarking
    v4(198, 51, 100, 0, 24), // documentation (TEST-NET-2)
    v4(203, 0, 113, 0, 24),  // documentation (TEST-NET-3)
    v4(224, 0, 0, 0, 4),     // multicast
    v4(240, 0, 0, 0, 4),     // reserved; includes broadcast 255.255.255.255
];

/// Only global unicast IPv6 can be public. Outside it lie, among others,
/// `::/128`, `::1/128`, IPv4-mapped `::ffff:0:0/96`, IPv4-compatible `::/96`,
/// NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`, discard `100::/64`, unique-local
/// `fc00::/7`, link-local `fe80::/10`, site-local `fec0::/10` and multicast
/// `ff00::/8`, so this one check refuses all of them.
const GLOBAL_UNICAST: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// Special-purpose ranges inside global unicast.
const BLOCKED_V6: &[Ipv6Net] = &[
    // IETF protocol assignments, all of it, as `192.0.0.0/24` is for IPv4.
    // The registry calls the block not globally reachable; its few global
    // pieces are anycast services that land on the local network's own
    // servers (PCP 2001:1::1, TURN 2001:1::2, DNS-SD 2001:1::3, the IPv6
    // twins of 192.0.0.9 and 192.0.0.10), AMT and AS112: infrastructure,
    // never an image host. The entries below it stay for documentation.
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), // Teredo (tunnels to IPv4)
    v6([0x2001, 0x2, 0, 0, 0, 0, 0, 0], 48), // benchmarking
    v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28), // ORCHID
    v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28), // ORCHIDv2
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
    v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), // 6to4 (tunnels to IPv4)
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation (RFC 9637)
];

/// True when the address is publicly routable: the inverse of the blocked
/// ranges above. IPv4 addresses written in IPv6 form (mapped, compatible,
/// NAT64, 6to4, Teredo) are never public, whatever IPv4 address they carry.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => !BLOCKED_V4.iter().any(|net| net.contains(&ip)),
        IpAddr::V6(ip) => {
            GLOBAL_UNICAST.contains(&ip) && !BLOCKED_V6.iter().any(|net| net.contains(&ip))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::IpNet;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    /// Every range the product must refuse, as written in its specification,
    /// checked at both ends so a wrong prefix length shows up.
    #[test]
    fn every_specified_range_is_refused_at_both_ends() {
        let ranges = [
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.0.0.0/24",
            "192.0.2.0/24",
            "192.88.99.0/24",
            "192.168.0.0/16",
            "198.18.0.0/15",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "224.0.0.0/4",
            "240.0.0.0/4",
            "255.255.255.255/32",
            "::/128",
            "::1/128",
            "::ffff:0:0/96",
            "::/96",
            "64:ff9b::/96",
            "64:ff9b:1::/48",
            "100::/64",
            "2001::/23",
            "2001::/32",
            "2001:1::1/128",
            "2001:2::/48",
            "2001:3::/32",
            "2001:4:112::/48",
            "2001:db8::/32",
            "2001:10::/28",
            "2001:20::/28",
            "2002::/16",
            "3fff::/20",
            "fc00::/7",
            "fe80::/10",
            "fec0::/10",
            "ff00::/8",
            "::/3",
            "4000::/2",
        ];
        for range in ranges {
            let net: IpNet = range.parse().expect("test range");
            assert!(!is_public(net.network()), "{range}: first address");
            assert!(!is_public(net.broadcast()), "{range}: last address");
        }
    }

    #[test]
    fn ipv4_boundaries() {
        let cases = [
            ("9.255.255.255", true),
            ("10.0.0.0", false),
            ("10.255.255.255", false),
            ("11.0.0.0", true),
            ("100.63.255.255", true),
            ("100.64.0.0", false),
            ("100.100.100.200", false),
            ("100.127.255.255", false),
            ("100.128.0.0", true),
            ("126.255.255.255", true),
            ("127.0.0.1", false),
            ("128.0.0.0", true),
            ("169.253.255.255", true),
            ("169.254.169.254", false),
            ("169.255.0.0", true),
            ("172.15.255.255", true),
            ("172.16.0.0", false),
            ("172.31.255.255", false),
            ("172.32.0.0", true),
            ("192.0.0.255", false),
            ("192.0.1.0", true),
            ("192.0.1.255", true),
            ("192.0.2.0", false),
            ("192.0.3.0", true),
            ("192.167.255.255", true),
            ("192.168.0.0", false),
            ("192.169.0.0", true),
            ("198.17.255.255", true),
            ("198.18.0.0", false),
            ("198.19.255.255", false),
            ("198.20.0.0", true),
            ("223.255.255.255", true),
            ("224.0.0.0", false),
            ("1.1.1.1", true),
            ("8.8.8.8", true),
            ("93.184.216.34", true),
        ];
        for (text, public) in cases {
            assert_eq!(is_public(ip(text)), public, "{text}");
        }
    }

    #[test]
    fn ipv6_boundaries() {
        let cases = [
            ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2000::", true),
            ("2000::1", true),
            ("2001:0:ffff:ffff:ffff:ffff:ffff:ffff", false),
            // The rest of the IETF block 2001::/23, public or not in the
            // registry, is refused as a whole.
            ("2001:1::", false),
            ("2001:1::1", false),
            ("2001:1::3", false),
            ("2001:2:1::", false),
            ("2001:f:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:10::", false),
            ("2001:2f:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:30::", false),
            ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:200::", true),
            ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("2001:db9::", true),
            ("2001:4860:4860::8888", true),
            ("2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("2002::1", false),
            ("2003::", true),
            ("2606:4700:4700::1111", true),
            ("3ffe:ffff::", true),
            ("3fff:fff::", false),
            ("3fff:1000::", true),
            ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("4000::", false),
            ("::ffff:93.184.216.34", false),
            ("64:ff9b::5db8:d822", false),
        ];
        for (text, public) in cases {
            assert_eq!(is_public(ip(text)), public, "{text}");
        }
    }
}
