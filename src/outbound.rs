//! Requests to addresses someone else chose (a municipality's webhook): only to public hosts.
//!
//! A URL is checked twice. When it is set, by its shape: https, a DNS name (no IP literal), not
//! a name that is internal by nature. When a request is made, by where the name resolves: the
//! HTTP client's resolver drops loopback, private, link-local and unique-local addresses, so a
//! name that later resolves inward (DNS rebinding) reaches nothing. Hosts the operator lists in
//! settings skip both checks (a receiver inside the operator's own network, or a test's).
//!
//! A proxy would resolve the name itself, where that check cannot run: the environment's proxy
//! (`HTTPS_PROXY`, `ALL_PROXY`) is never used for these requests. Only a proxy the operator names
//! in settings is, and then nonstop resolves the name first and sends nothing unless every
//! address it resolves to is public (`resolves_publicly`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Whether an address is on the public internet: not this machine, not a private, shared,
/// link-local, unique-local, multicast, documentation or unspecified range.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // 100.64.0.0/10, carrier-grade NAT (shared address space).
        || (a == 100 && (64..128).contains(&b))
        // 192.0.0.0/24 (protocol assignments) and 198.18.0.0/15 (benchmarking).
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local, 2001:db8::/32 documentation.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        // 64:ff9b::/96 (NAT64) could reach any IPv4 address, private ones included.
        || (first == 0x0064 && ip.segments()[1] == 0xff9b))
}

/// Whether `host` is one the operator allows despite the checks.
pub fn is_allowed(host: &str, allowed_hosts: &[String]) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    allowed_hosts.iter().any(|a| a.trim_start_matches('[').trim_end_matches(']').eq_ignore_ascii_case(host))
}

/// Checks a URL a tenant gives for nonstop to call, by its shape; returns why not.
pub fn check_url(url: &url::Url, allowed_hosts: &[String]) -> Result<(), String> {
    let host = url.host_str().ok_or("must name a host")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials; the HMAC signature authenticates nonstop".into());
    }
    if is_allowed(host, allowed_hosts) {
        return match url.scheme() {
            "https" | "http" => Ok(()),
            _ => Err("must be an https URL".into()),
        };
    }
    if url.scheme() != "https" {
        return Err("must be an https URL".into());
    }
    match url.host() {
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let internal = !name.contains('.')
                || ["localhost", "local", "internal", "intranet", "lan", "home.arpa", "localdomain"]
                    .iter()
                    .any(|suffix| name == *suffix || name.ends_with(&format!(".{suffix}")));
            if internal {
                Err("must be a public host name, not an internal one".into())
            } else {
                Ok(())
            }
        }
        _ => Err("must be a host name, not an IP address".into()),
    }
}

/// A DNS resolver that keeps only public addresses (or every address of an allowed host).
pub struct PublicOnlyResolver {
    allowed_hosts: Vec<String>,
}

impl PublicOnlyResolver {
    pub fn new(allowed_hosts: Vec<String>) -> Arc<Self> {
        Arc::new(Self { allowed_hosts })
    }
}

/// Why a name was not resolved to anything usable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotAllowed(&'static str);

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let allowed = is_allowed(&host, &self.allowed_hosts);
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found.into_iter().filter(|a| allowed || is_public(a.ip())).collect();
            if kept.is_empty() {
                return Err(Box::new(NotAllowed("the host resolves to no public address")) as _);
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Resolves names the way the operating system does (`getaddrinfo`).
pub struct SystemLookup;

impl reqwest::dns::Resolve for SystemLookup {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Why a destination is not sent to through a proxy.
#[derive(Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// The name resolves to an address that is not public (or to none at all).
    NotPublic,
    /// The name did not resolve.
    Unknown,
}

/// Checks, before a request leaves through a proxy (which resolves the name again itself), that
/// `host` resolves to public addresses only: every one of them, since the proxy may take any.
pub async fn resolves_publicly(lookup: &dyn reqwest::dns::Resolve, host: &str) -> Result<(), Unresolved> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return if is_public(ip) { Ok(()) } else { Err(Unresolved::NotPublic) };
    }
    let name: reqwest::dns::Name = host.parse().map_err(|_| Unresolved::Unknown)?;
    let found: Vec<SocketAddr> = lookup.resolve(name).await.map_err(|_| Unresolved::Unknown)?.collect();
    if found.is_empty() || !found.iter().all(|a| is_public(a.ip())) {
        return Err(Unresolved::NotPublic);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn only_public_addresses_are_public() {
        for inward in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(ip(inward)), "{inward}");
        }
        for public in ["8.8.8.8", "133.242.0.1", "2001:4860:4860::8888"] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[test]
    fn urls_are_checked_by_shape() {
        let check = |u: &str, allowed: &[&str]| {
            let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
            check_url(&url::Url::parse(u).expect("url"), &allowed)
        };
        assert!(check("https://hook.city.chiyoda.lg.jp/nonstop", &[]).is_ok());
        for refused in [
            "http://hook.city.chiyoda.lg.jp/nonstop",
            "https://10.0.0.1/hook",
            "https://[::1]/hook",
            "https://localhost/hook",
            "https://intranet/hook",
            "https://metadata.google.internal/computeMetadata",
            "https://user:pw@hook.city.chiyoda.lg.jp/",
        ] {
            assert!(check(refused, &[]).is_err(), "{refused}");
        }
        assert!(check("http://127.0.0.1:8080/hook", &["127.0.0.1"]).is_ok(), "the operator's own receiver");
    }

    #[tokio::test]
    async fn a_name_that_resolves_inward_resolves_to_nothing() {
        use reqwest::dns::Resolve;
        let name = || "localhost".parse::<reqwest::dns::Name>().expect("name");
        let refused = PublicOnlyResolver::new(vec![]).resolve(name()).await;
        assert!(refused.is_err_and(|e| e.to_string().contains("no public address")));
        let allowed = PublicOnlyResolver::new(vec!["localhost".into()]).resolve(name()).await.expect("allowed");
        assert!(allowed.into_iter().all(|a| a.ip().is_loopback()));
    }

    /// Answers from a fixed table, as a DNS server under a tenant's control might.
    pub struct FixedLookup(pub Vec<(&'static str, Vec<IpAddr>)>);

    impl reqwest::dns::Resolve for FixedLookup {
        fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
            let found: Vec<SocketAddr> = self
                .0
                .iter()
                .filter(|(host, _)| *host == name.as_str())
                .flat_map(|(_, ips)| ips.iter().map(|ip| SocketAddr::new(*ip, 0)))
                .collect();
            Box::pin(async move {
                if found.is_empty() {
                    return Err("no such name".into());
                }
                Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
            })
        }
    }

    #[tokio::test]
    async fn before_a_proxy_every_address_must_be_public() {
        let lookup = FixedLookup(vec![
            ("hook.city.example.jp", vec![ip("8.8.8.8")]),
            ("inward.city.example.jp", vec![ip("10.0.0.8")]),
            ("both.city.example.jp", vec![ip("8.8.8.8"), ip("127.0.0.1")]),
        ]);
        assert_eq!(resolves_publicly(&lookup, "hook.city.example.jp").await, Ok(()));
        assert_eq!(resolves_publicly(&lookup, "inward.city.example.jp").await, Err(Unresolved::NotPublic));
        assert_eq!(resolves_publicly(&lookup, "both.city.example.jp").await, Err(Unresolved::NotPublic));
        assert_eq!(resolves_publicly(&lookup, "nowhere.city.example.jp").await, Err(Unresolved::Unknown));
        assert_eq!(resolves_publicly(&lookup, "[::1]").await, Err(Unresolved::NotPublic));
    }
}
