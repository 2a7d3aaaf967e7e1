//! The client address of a request — the one place that decides it, for the public
//! channels' rate limits, the webhooks and the staff pages alike.
//!
//! The address is the TCP peer's, unless the peer is one of `[server] trusted_proxies`
//! (IPs or CIDRs; default none): then the right-most address of `X-Forwarded-For` that is
//! not itself a trusted proxy is the client. Anyone can write an `X-Forwarded-For` header,
//! so it is never read from a peer that is not trusted, and only the entries the trusted
//! proxies appended (the right-most ones) count. IPv4-mapped IPv6 addresses are taken as
//! the IPv4 address they carry.
//!
//! The server ([`crate::server`]) computes it once per request and puts it into the
//! request's extensions; handlers take it with the [`ClientAddr`] extractor.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

/// An IP network: an address and a prefix length (`10.0.0.0/8`, `2001:db8::/32`; a bare
/// address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// `ADDR` or `ADDR/PREFIX`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or CIDR (e.g. 10.0.0.0/8)"))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(IpNet { addr, prefix })
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// `[server] trusted_proxies`: the reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parse the configured list; every entry that is not an IP or CIDR is named.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, Vec<String>> {
        let mut nets = Vec::new();
        let mut errors = Vec::new();
        for s in items {
            match IpNet::parse(s.as_ref()) {
                Ok(n) => nets.push(n),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(TrustedProxies(nets))
        } else {
            Err(errors)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }
}

/// The client address of a request from `peer` with `headers` (see the module docs).
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    // All X-Forwarded-For headers form one list, in order; walk it from the right.
    let mut client = peer;
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for entry in entries.iter().rev() {
        let Some(ip) = forwarded_ip(entry) else {
            // Garbage where an address belongs: nothing left of it is believable; the
            // nearest trusted hop stands for the client.
            break;
        };
        client = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, or `ADDR:PORT` / `[V6]:PORT` as some proxies
/// write it.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    let e = entry.trim();
    e.parse::<IpAddr>()
        .ok()
        .or_else(|| e.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// Extractor: the client address of this request ([`client_addr`], computed by the
/// server). Without the server's extension (a router driven directly in a test), the TCP
/// peer from `ConnectInfo`, else `0.0.0.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The client address recorded in a request's extensions.
    pub fn of(parts: &Parts) -> IpAddr {
        parts
            .extensions
            .get::<ClientAddr>()
            .map(|c| c.0)
            .or_else(|| {
                parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip().to_canonical())
            })
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(ClientAddr::of(parts)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn networks_parse_and_contain() {
        let n = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(n.contains(ip("10.200.1.1")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(n.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped");
        let one = IpNet::parse("192.0.2.7").unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6 = IpNet::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(IpNet::parse("::/0").unwrap().contains(ip("2001::1")));
        for bad in ["10.0.0.0/33", "2001:db8::/129", "proxy", "10.0.0.0/x", ""] {
            assert!(IpNet::parse(bad).is_err(), "{bad}");
        }
        let e = TrustedProxies::parse(&["10.0.0.1", "nope", "1.2.3.4/40"]).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
    }

    #[test]
    fn forwarded_for_only_from_a_trusted_proxy() {
        let none = TrustedProxies::default();
        let proxy = TrustedProxies::parse(&["10.0.0.1", "10.9.0.0/16"]).unwrap();
        let h = xff(&["203.0.113.9"]);
        // Not trusted (the default): the header is anyone's to write.
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &none), ip("10.0.0.1"));
        assert_eq!(
            client_addr(ip("198.51.100.1"), &h, &proxy),
            ip("198.51.100.1")
        );
        // From the proxy: its entry.
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &proxy), ip("203.0.113.9"));
        // A client's own forged entries stand left of the proxy's: the right-most
        // untrusted one wins.
        let h = xff(&["1.1.1.1, 203.0.113.9"]);
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &proxy), ip("203.0.113.9"));
        // Chained trusted proxies are skipped, over several headers.
        let h = xff(&["6.6.6.6, 203.0.113.9", "10.9.3.4"]);
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &proxy), ip("203.0.113.9"));
        // No header: the proxy itself; garbage: the nearest trusted hop.
        assert_eq!(
            client_addr(ip("10.0.0.1"), &HeaderMap::new(), &proxy),
            ip("10.0.0.1")
        );
        let h = xff(&["203.0.113.9, unknown"]);
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &proxy), ip("10.0.0.1"));
        // Ports and IPv6.
        let h = xff(&["[2001:db8::5]:4711"]);
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &proxy), ip("2001:db8::5"));
        let h = xff(&["203.0.113.9:1234"]);
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &proxy), ip("203.0.113.9"));
        // A mapped peer is its IPv4 address.
        assert_eq!(
            client_addr(ip("::ffff:10.0.0.1"), &xff(&["203.0.113.9"]), &proxy),
            ip("203.0.113.9")
        );
    }
}
