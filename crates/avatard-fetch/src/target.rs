//! What a URL may point at: the rules that need no network.
//!
//! Everything here runs before a packet leaves, so a hostile URL costs
//! nothing: the scheme must be http or https, credentials in the URL are
//! refused (they would be sent to whoever the URL names), cloud metadata
//! names are refused, and a non-default port is only for allow-listed hosts
//! (an open port scanner of the LAN otherwise). The range and port checks
//! over resolved addresses live here too, so all the policy is in one place;
//! resolving itself is the client's job.
//!
//! The `url` crate parses hosts the WHATWG way, which already turns the odd
//! IPv4 spellings (`2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`) into the
//! address they mean and lower-cases names, so nothing here re-parses hosts.

use std::net::{IpAddr, Ipv4Addr};

use url::{Host, Url};

use crate::allowlist::{Allowlist, normalise_name};
use crate::error::FetchError;
use crate::ranges::is_public;

/// Cloud instance-metadata names, refused (with their sub-domains) unless
/// allow-listed. Most resolve to a link-local address the range check
/// refuses anyway; refusing the name also covers resolvers that map them
/// elsewhere, and saves the lookup. Some do not: Equinix Metal's service has
/// a public address and tells instances apart by the caller's address, so
/// for it the name is the only defence.
pub(crate) const METADATA_NAMES: &[&str] = &[
    "metadata",                     // GCE short name (via the search domain)
    "metadata.google.internal",     // GCE
    "metadata.goog",                // GCE
    "metadata.azure.internal",      // Azure
    "instance-data",                // AWS short name
    "instance-data.ec2.internal",   // AWS
    "api.metadata.cloud.ibm.com",   // IBM Cloud VPC (169.254.169.254)
    "metadata.tencentyun.com",      // Tencent Cloud (169.254.0.23)
    "metadata.platformequinix.com", // Equinix Metal: a PUBLIC address
    "metadata.packet.net",          // Equinix Metal's former name, public too
];

/// The address the metadata names stand for, reported in `Blocked`.
const METADATA_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254));

/// The host part of a fetch target.
#[derive(Debug)]
pub(crate) enum TargetHost {
    /// An IP literal: checked as it is, never resolved.
    Ip(IpAddr),
    /// A name as the URL carries it (lower case, maybe with a trailing dot):
    /// this exact text is resolved and pinned, since it is what the HTTP
    /// client will look up.
    Name(String),
}

/// A URL that passed the rules that need no network.
#[derive(Debug)]
pub(crate) struct Target {
    pub url: Url,
    pub host: TargetHost,
    /// The port to connect to, explicit or the scheme's default.
    pub port: u16,
}

impl Target {
    /// Parses the URL and applies the scheme, userinfo and host rules.
    pub fn parse(raw: &str) -> Result<Target, FetchError> {
        let url =
            Url::parse(raw).map_err(|e| FetchError::InvalidUrl(format!("not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::InvalidUrl(format!(
                "scheme `{}` is not allowed",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::InvalidUrl(
                "credentials in the URL are not allowed".to_owned(),
            ));
        }
        let host = match url.host() {
            Some(Host::Ipv4(ip)) => TargetHost::Ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => TargetHost::Ip(IpAddr::V6(ip)),
            Some(Host::Domain(name)) if !normalise_name(name).is_empty() => {
                TargetHost::Name(name.to_owned())
            }
            _ => return Err(FetchError::InvalidUrl("the URL has no host".to_owned())),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| FetchError::InvalidUrl("the URL has no port".to_owned()))?;
        Ok(Target { url, host, port })
    }

    /// Refuses cloud metadata names, unless the name is allow-listed.
    pub fn check_name(&self, allowlist: &Allowlist) -> Result<(), FetchError> {
        match &self.host {
            TargetHost::Name(name) if is_metadata_name(name) && !allowlist.allows_host(name) => {
                Err(FetchError::Blocked(METADATA_ADDR))
            }
            _ => Ok(()),
        }
    }

    /// The range and port rules over the addresses the connection may use.
    ///
    /// An allow-listed name lets all its addresses through; otherwise every
    /// address must be public or allow-listed, or the whole target is refused
    /// (one private address among public ones is enough to reach inside). A
    /// non-default port needs the name, or every address, allow-listed.
    pub fn check_addrs(&self, addrs: &[IpAddr], allowlist: &Allowlist) -> Result<(), FetchError> {
        let name_listed =
            matches!(&self.host, TargetHost::Name(name) if allowlist.allows_host(name));
        if !name_listed {
            let refused = addrs
                .iter()
                .find(|ip| !is_public(**ip) && !allowlist.allows_ip(**ip));
            if let Some(ip) = refused {
                return Err(FetchError::Blocked(*ip));
            }
        }
        // `Url::port` is `None` for the scheme's default port, explicit or not.
        let port_listed =
            name_listed || (!addrs.is_empty() && addrs.iter().all(|ip| allowlist.allows_ip(*ip)));
        if self.url.port().is_some() && !port_listed {
            return Err(FetchError::InvalidUrl(format!(
                "port {} is only allowed for allow-listed hosts",
                self.port
            )));
        }
        Ok(())
    }
}

/// Whether the name is a metadata name or a sub-domain of one.
fn is_metadata_name(name: &str) -> bool {
    let name = normalise_name(name);
    METADATA_NAMES.iter().any(|blocked| {
        name.strip_suffix(blocked)
            .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    fn target(url: &str) -> Target {
        Target::parse(url).expect("test URL")
    }

    #[test]
    fn default_ports_are_implied() {
        assert_eq!(target("http://example.com/").port, 80);
        assert_eq!(target("https://example.com/").port, 443);
        assert_eq!(target("https://example.com:443/").port, 443);
        assert_eq!(target("http://example.com:8080/").port, 8080);
    }

    #[test]
    fn names_are_kept_as_the_url_carries_them() {
        assert!(
            matches!(target("http://Example.COM./").host, TargetHost::Name(n) if n == "example.com.")
        );
        assert!(matches!(target("http://[::1]/").host, TargetHost::Ip(a) if a == ip("::1")));
    }

    #[test]
    fn a_dot_is_no_host() {
        assert!(matches!(
            Target::parse("http://./"),
            Err(FetchError::InvalidUrl(_))
        ));
    }

    #[test]
    fn metadata_names_and_their_sub_domains_are_blocked() {
        for name in [
            "metadata",
            "metadata.google.internal",
            "METADATA.Google.Internal.",
            "x.metadata.google.internal",
            "metadata.goog",
            "metadata.azure.internal",
            "instance-data",
            "instance-data.ec2.internal",
            "api.metadata.cloud.ibm.com",
            "metadata.tencentyun.com",
            "metadata.platformequinix.com",
            "Metadata.Packet.Net.",
        ] {
            assert!(is_metadata_name(name), "{name}");
        }
        for name in [
            "mymetadata",
            "metadata.example.com",
            "notmetadata.google.internal",
            "api.packet.net",
            "cloud.ibm.com",
        ] {
            assert!(!is_metadata_name(name), "{name}");
        }
    }

    #[test]
    fn an_allow_listed_metadata_name_passes_the_name_check() {
        let t = target("http://metadata.google.internal/");
        assert!(
            matches!(t.check_name(&Allowlist::default()), Err(FetchError::Blocked(a)) if a == METADATA_ADDR)
        );
        assert!(
            t.check_name(&Allowlist::parse("metadata.google.internal"))
                .is_ok()
        );
    }

    #[test]
    fn one_private_address_refuses_the_whole_name() {
        let t = target("http://example.com/");
        let addrs = [ip("93.184.216.34"), ip("10.0.0.1")];
        let result = t.check_addrs(&addrs, &Allowlist::default());
        assert!(matches!(result, Err(FetchError::Blocked(a)) if a == ip("10.0.0.1")));
        assert!(
            t.check_addrs(&addrs, &Allowlist::parse("10.0.0.0/8"))
                .is_ok()
        );
        assert!(
            t.check_addrs(&addrs, &Allowlist::parse("example.com"))
                .is_ok()
        );
    }

    #[test]
    fn a_non_default_port_needs_the_name_or_every_address_listed() {
        let t = target("http://example.com:8080/");
        let addrs = [ip("93.184.216.34"), ip("93.184.217.1")];
        let port_refused = |list: &str| {
            matches!(
                t.check_addrs(&addrs, &Allowlist::parse(list)),
                Err(FetchError::InvalidUrl(_))
            )
        };
        assert!(port_refused(""));
        assert!(port_refused("93.184.216.34"));
        assert!(!port_refused("example.com"));
        assert!(!port_refused("93.184.216.0/23"));
        assert!(!port_refused("93.184.216.34, 93.184.217.1"));
        // The default port needs nothing.
        assert!(
            target("http://example.com/")
                .check_addrs(&addrs, &Allowlist::default())
                .is_ok()
        );
    }
}
