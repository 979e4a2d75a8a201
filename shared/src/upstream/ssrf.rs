//! The SSRF guard of the remote runner: which upstream addresses the platform
//! may connect to on a tool author's behalf.
//!
//! A remote MCP server URL is chosen by whoever registers the tool, so without
//! this guard `/mcp/{slug}` would let any developer make the platform call its
//! own neighbours (databases on the private network, the cloud metadata service,
//! admin ports on loopback). The check is on *addresses*, not names:
//! - [`resolve`] is the connector's only way from a host to addresses, so the
//!   addresses that are checked are the very ones it dials — a name that
//!   resolves to a public address for the check and to 127.0.0.1 for the connect
//!   (DNS rebinding) cannot slip through between the two.
//! - IP-literal hosts are checked by [`SsrfPolicy::check_url`] when the upstream
//!   is configured and on every redirect hop, and again by [`resolve`] before
//!   the connect. The URL parser (WHATWG) has already turned spellings such as
//!   `2130706433`, `0x7f.1` or `0177.0.0.1` into the IPv4 address they denote.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;

use crate::config::Settings;

/// Which non-public destinations an upstream may have. The default refuses
/// every one of them; link-local, cloud-metadata, unspecified, multicast,
/// broadcast and reserved addresses are refused whatever the policy says,
/// because no MCP server legitimately lives there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SsrfPolicy {
    /// 127.0.0.0/8 and ::1 (`GATEWAY_ALLOW_LOOPBACK_UPSTREAMS`).
    pub allow_loopback: bool,
    /// RFC 1918, CGNAT 100.64/10 and IPv6 unique-local fc00::/7
    /// (`GATEWAY_ALLOW_PRIVATE_UPSTREAMS`).
    pub allow_private: bool,
}

/// What kind of destination an address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrClass {
    Public,
    Loopback,
    /// RFC 1918, CGNAT (RFC 6598) and IPv6 unique-local (RFC 4193).
    Private,
    /// 169.254/16 and fe80::/10 (also where most clouds' metadata lives).
    LinkLocal,
    /// A cloud instance-metadata endpoint.
    Metadata,
    /// 0.0.0.0/8 and :: — Linux dials them as loopback.
    Unspecified,
    Multicast,
    Broadcast,
    /// Documentation, benchmarking, 240/4 and other ranges nothing serves from.
    Reserved,
}

impl AddrClass {
    fn describe(self) -> &'static str {
        match self {
            Self::Public => "a public address",
            Self::Loopback => "a loopback address",
            Self::Private => "a private-network address",
            Self::LinkLocal => "a link-local address",
            Self::Metadata => "a cloud metadata address",
            Self::Unspecified => "an unspecified address",
            Self::Multicast => "a multicast address",
            Self::Broadcast => "a broadcast address",
            Self::Reserved => "a reserved address",
        }
    }
}

/// Why an upstream URL or address was refused. Its text names the refused host
/// and the rule, nothing else: it is safe to show to the tool's caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub host: String,
    pub reason: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "upstream {} refused: {}", self.host, self.reason)
    }
}

impl std::error::Error for Refused {}

/// The hostnames of cloud metadata services. They resolve to link-local
/// addresses (refused anyway); naming them refuses them even where a resolver
/// is configured to answer something else.
const METADATA_HOSTS: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.azure.internal",
];

pub fn classify(ip: IpAddr) -> AddrClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    let [a, b, c, _] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254)
        || ip == Ipv4Addr::new(169, 254, 170, 2) // AWS ECS task metadata
        || ip == Ipv4Addr::new(100, 100, 100, 200)
    // Alibaba Cloud metadata
    {
        return AddrClass::Metadata;
    }
    if a == 0 {
        return AddrClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddrClass::Loopback;
    }
    if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        return AddrClass::Private;
    }
    if ip.is_link_local() {
        return AddrClass::LinkLocal;
    }
    if ip.is_broadcast() {
        return AddrClass::Broadcast;
    }
    if ip.is_multicast() {
        return AddrClass::Multicast;
    }
    if ip.is_documentation()
        || a >= 240 // reserved for future use (240/4)
        || (a == 198 && (b & 0xfe) == 18) // benchmarking 198.18/15
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0/24
        || (a == 192 && b == 88 && c == 99)
    // 6to4 relay anycast (deprecated)
    {
        return AddrClass::Reserved;
    }
    AddrClass::Public
}

fn classify_v6(ip: Ipv6Addr) -> AddrClass {
    // IPv4 in IPv6 clothing is judged as the IPv4 address it reaches:
    // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible, deprecated),
    // 64:ff9b::a.b.c.d (NAT64) and 2002:aabb:ccdd:: (6to4).
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let seg = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254) {
        return AddrClass::Metadata;
    }
    if ip.is_unspecified() {
        return AddrClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddrClass::Loopback;
    }
    if (seg[0] & 0xfe00) == 0xfc00 {
        return AddrClass::Private;
    }
    // fe80::/10 link-local and the deprecated fec0::/10 site-local.
    if (seg[0] & 0xffc0) == 0xfe80 || (seg[0] & 0xffc0) == 0xfec0 {
        return AddrClass::LinkLocal;
    }
    if ip.is_multicast() {
        return AddrClass::Multicast;
    }
    // 2001:db8::/32 documentation, 100::/64 discard, 2001::/23 IETF assignments
    // (includes Teredo 2001::/32, whose embedded address is obfuscated).
    if (seg[0] == 0x2001 && seg[1] == 0x0db8)
        || (seg[0] == 0x0100 && seg[1] == 0 && seg[2] == 0 && seg[3] == 0)
        || (seg[0] == 0x2001 && seg[1] < 0x0200)
        || (seg[0] & 0xe000) != 0x2000
    {
        // Everything outside 2000::/3 (global unicast) is unassigned or special.
        return AddrClass::Reserved;
    }
    AddrClass::Public
}

fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let seg = ip.segments();
    let low = Ipv4Addr::new(
        (seg[6] >> 8) as u8,
        seg[6] as u8,
        (seg[7] >> 8) as u8,
        seg[7] as u8,
    );
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    // ::a.b.c.d, but not :: and ::1 which are IPv6's own.
    if seg[..6].iter().all(|s| *s == 0) && !ip.is_unspecified() && !ip.is_loopback() {
        return Some(low);
    }
    if seg[0] == 0x0064 && seg[1] == 0xff9b && seg[2..6].iter().all(|s| *s == 0) {
        return Some(low);
    }
    if seg[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            seg[1] as u8,
            (seg[2] >> 8) as u8,
            seg[2] as u8,
        ));
    }
    None
}

impl SsrfPolicy {
    /// The policy the configuration asks for.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            allow_loopback: settings.gateway_allow_loopback_upstreams,
            allow_private: settings.gateway_allow_private_upstreams,
        }
    }

    /// Everything reachable (tests and local development only).
    pub fn permissive() -> Self {
        Self {
            allow_loopback: true,
            allow_private: true,
        }
    }

    /// `Ok` when the platform may connect to `ip`; otherwise why not.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), &'static str> {
        let class = classify(ip);
        let allowed = match class {
            AddrClass::Public => true,
            AddrClass::Loopback => self.allow_loopback,
            AddrClass::Private => self.allow_private,
            _ => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(class.describe())
        }
    }

    /// Checks what can be checked before DNS: the scheme, credentials in the
    /// URL, metadata hostnames and IP-literal hosts. Names are checked again,
    /// address by address, when they resolve.
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        let host_text = url.host_str().unwrap_or_default().to_owned();
        let refuse = |reason: String| Refused {
            host: host_text.clone(),
            reason,
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(refuse(format!(
                "scheme {:?} is not allowed (http or https only)",
                url.scheme()
            )));
        }
        if host_text.is_empty() {
            return Err(refuse("the URL has no host".into()));
        }
        self.check_host(&host_text).map(drop)
    }

    /// Checks a URL's host (a name, an IPv4 literal or a bracketed IPv6
    /// literal) before DNS: an IP literal is returned if allowed; a name is
    /// refused only if it is a cloud metadata host, and checked again address
    /// by address when it resolves.
    fn check_host(&self, host: &str) -> Result<Option<IpAddr>, Refused> {
        let refuse = |reason: String| Refused {
            host: host.to_owned(),
            reason,
        };
        // The URL parser prints IP hosts canonically (IPv6 in brackets), so an
        // address-shaped host is an IP literal the connector dials as is.
        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return self
                .check_ip(ip)
                .map(|()| Some(ip))
                .map_err(|why| refuse(format!("{why} is not allowed")));
        }
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if METADATA_HOSTS.contains(&name.as_str()) {
            return Err(refuse("a cloud metadata host is not allowed".into()));
        }
        Ok(None)
    }

    /// Keeps the allowed addresses of a resolved `host`; refuses when none is.
    /// Dropping only the bad ones keeps a dual-stack name usable when, say, its
    /// AAAA record is public and its A record private.
    pub fn filter_resolved(
        &self,
        host: &str,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, Refused> {
        let mut kept = Vec::new();
        let mut first_refusal = None;
        let mut any = false;
        for addr in addrs {
            any = true;
            match self.check_ip(addr.ip()) {
                Ok(()) => kept.push(addr),
                Err(why) => {
                    first_refusal.get_or_insert(why);
                }
            }
        }
        if kept.is_empty() {
            let reason = match first_refusal {
                Some(why) => format!("it resolves to {why}, which is not allowed"),
                None if !any => "it does not resolve to any address".into(),
                None => "no allowed address".into(),
            };
            return Err(Refused {
                host: host.to_owned(),
                reason,
            });
        }
        Ok(kept)
    }
}

/// The addresses the connector may dial for `host` (as in a URL: a name, an
/// IPv4 literal or a bracketed IPv6 literal) and `port`: an IP literal if the
/// policy allows it, otherwise the system resolver's answers that it allows.
/// The error is a [`Refused`], or the resolver's I/O error.
pub async fn resolve(
    policy: SsrfPolicy,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    if let Some(ip) = policy.check_host(host)? {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = host.trim_end_matches('.');
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((name, port)).await?.collect();
    Ok(policy.filter_resolved(host, resolved)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strict() -> SsrfPolicy {
        SsrfPolicy::default()
    }

    fn url_verdict(policy: SsrfPolicy, url: &str) -> Result<(), Refused> {
        policy.check_url(&Url::parse(url).expect("parsable URL"))
    }

    #[test]
    fn address_classes() {
        let cases: &[(&str, AddrClass)] = &[
            ("8.8.8.8", AddrClass::Public),
            ("1.1.1.1", AddrClass::Public),
            ("127.0.0.1", AddrClass::Loopback),
            ("127.255.255.254", AddrClass::Loopback),
            ("10.0.0.1", AddrClass::Private),
            ("172.16.0.1", AddrClass::Private),
            ("172.31.255.255", AddrClass::Private),
            ("172.32.0.1", AddrClass::Public),
            ("192.168.1.1", AddrClass::Private),
            ("100.64.0.1", AddrClass::Private),
            ("100.127.255.255", AddrClass::Private),
            ("100.128.0.1", AddrClass::Public),
            ("169.254.169.254", AddrClass::Metadata),
            ("169.254.170.2", AddrClass::Metadata),
            ("169.254.1.1", AddrClass::LinkLocal),
            ("0.0.0.0", AddrClass::Unspecified),
            ("0.1.2.3", AddrClass::Unspecified),
            ("255.255.255.255", AddrClass::Broadcast),
            ("224.0.0.1", AddrClass::Multicast),
            ("240.0.0.1", AddrClass::Reserved),
            ("192.0.2.1", AddrClass::Reserved),
            ("198.18.0.1", AddrClass::Reserved),
            ("::1", AddrClass::Loopback),
            ("::", AddrClass::Unspecified),
            ("fc00::1", AddrClass::Private),
            ("fd12:3456::1", AddrClass::Private),
            ("fd00:ec2::254", AddrClass::Metadata),
            ("fe80::1", AddrClass::LinkLocal),
            ("fec0::1", AddrClass::LinkLocal),
            ("ff02::1", AddrClass::Multicast),
            ("2001:db8::1", AddrClass::Reserved),
            ("2606:4700:4700::1111", AddrClass::Public),
            // IPv4 wrapped in IPv6 is judged by the IPv4 address.
            ("::ffff:127.0.0.1", AddrClass::Loopback),
            ("::ffff:10.1.2.3", AddrClass::Private),
            ("::ffff:169.254.169.254", AddrClass::Metadata),
            ("::ffff:8.8.8.8", AddrClass::Public),
            ("::127.0.0.1", AddrClass::Loopback),
            ("64:ff9b::a00:1", AddrClass::Private),
            ("64:ff9b::7f00:1", AddrClass::Loopback),
            ("2002:7f00:1::", AddrClass::Loopback),
            ("2002:a9fe:a9fe::1", AddrClass::Metadata),
            ("2002:808:808::1", AddrClass::Public),
        ];
        for (text, expected) in cases {
            let ip: IpAddr = text.parse().expect("test address");
            assert_eq!(classify(ip), *expected, "{text}");
        }
    }

    #[test]
    fn policy_flags_open_only_their_class() {
        let loopback_only = SsrfPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        let private_only = SsrfPolicy {
            allow_loopback: false,
            allow_private: true,
        };
        let ip = |s: &str| s.parse::<IpAddr>().expect("test address");
        assert!(strict().check_ip(ip("127.0.0.1")).is_err());
        assert!(loopback_only.check_ip(ip("127.0.0.1")).is_ok());
        assert!(loopback_only.check_ip(ip("::ffff:127.0.0.1")).is_ok());
        assert!(loopback_only.check_ip(ip("10.0.0.1")).is_err());
        assert!(private_only.check_ip(ip("10.0.0.1")).is_ok());
        assert!(private_only.check_ip(ip("fd12::1")).is_ok());
        assert!(private_only.check_ip(ip("127.0.0.1")).is_err());
        // Never allowed, whatever the flags.
        for never in [
            "169.254.169.254",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "169.254.10.10",
            "fe80::1",
            "0.0.0.0",
            "::",
            "255.255.255.255",
            "239.1.1.1",
        ] {
            assert!(
                SsrfPolicy::permissive().check_ip(ip(never)).is_err(),
                "{never}"
            );
        }
    }

    #[test]
    fn urls_refused_before_dns() {
        let refused = [
            "http://127.0.0.1/mcp",
            "http://[::1]:8080/mcp",
            "http://[::ffff:127.0.0.1]/mcp",
            "http://[::ffff:7f00:1]/mcp",
            "http://10.0.0.5/mcp",
            "http://172.16.3.4/mcp",
            "http://192.168.0.10/mcp",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/latest/meta-data/",
            "http://[fe80::1]/mcp",
            "http://[fd01::1]/mcp",
            "http://100.64.1.1/mcp",
            "http://0.0.0.0:8080/mcp",
            // Decimal, hex, octal and short spellings of 127.0.0.1 and 169.254.169.254.
            "http://2130706433/mcp",
            "http://0x7f000001/mcp",
            "http://0x7f.0.0.1/mcp",
            "http://0177.0.0.1/mcp",
            "http://127.1/mcp",
            "http://017700000001/mcp",
            "http://2852039166/latest/",
            "http://0xa9fea9fe/latest/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://METADATA.GOOGLE.INTERNAL./computeMetadata/v1/",
            "file:///etc/passwd",
            "ftp://example.com/mcp",
            "gopher://example.com/",
        ];
        for url in refused {
            let err = url_verdict(strict(), url).expect_err(url);
            assert!(!err.reason.is_empty(), "{url}");
        }
        // Numeric spellings are refused as the address they denote.
        for (url, host) in [
            ("http://2130706433/", "127.0.0.1"),
            ("http://0x7f.0.0.1/", "127.0.0.1"),
            ("http://0177.0.0.1/", "127.0.0.1"),
            ("http://127.1/", "127.0.0.1"),
            ("http://0xa9fea9fe/", "169.254.169.254"),
            ("http://[::ffff:127.0.0.1]/", "[::ffff:7f00:1]"),
        ] {
            let err = url_verdict(strict(), url).expect_err(url);
            assert_eq!(err.host, host, "{url}");
        }
        for url in [
            "https://mcp.example.com/mcp",
            "http://8.8.8.8:8080/mcp",
            "https://[2606:4700:4700::1111]/mcp",
        ] {
            assert!(url_verdict(strict(), url).is_ok(), "{url}");
        }
        assert!(url_verdict(SsrfPolicy::permissive(), "http://127.0.0.1:9/mcp").is_ok());
    }

    #[test]
    fn refusal_names_only_the_host() {
        let err = url_verdict(strict(), "http://user:pass@10.1.2.3:8080/mcp?token=abc")
            .expect_err("private");
        let text = err.to_string();
        assert!(text.contains("10.1.2.3"), "{text}");
        assert!(!text.contains("pass") && !text.contains("token"), "{text}");
    }

    #[tokio::test]
    async fn resolve_refuses_names_that_resolve_to_loopback() {
        let err = resolve(strict(), "localhost", 80)
            .await
            .expect_err("localhost must be refused by the strict policy");
        let refused = err.downcast_ref::<Refused>().expect("a Refused error");
        assert_eq!(refused.host, "localhost");
        assert!(refused.reason.contains("loopback"), "{refused}");

        let loopback_allowed = SsrfPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        let addrs = resolve(loopback_allowed, "localhost", 8080)
            .await
            .map_err(|e| e.to_string())
            .expect("localhost allowed with allow_loopback");
        assert!(!addrs.is_empty());
        assert!(
            addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 8080),
            "{addrs:?}"
        );
    }

    #[tokio::test]
    async fn resolve_checks_ip_literals_and_metadata_names() {
        for host in ["127.0.0.1", "[::1]", "169.254.169.254", "10.0.0.1"] {
            let err = resolve(strict(), host, 80).await.expect_err(host);
            assert!(err.downcast_ref::<Refused>().is_some(), "{host}: {err}");
        }
        let err = resolve(SsrfPolicy::permissive(), "metadata.google.internal", 80)
            .await
            .expect_err("metadata name");
        assert!(err.downcast_ref::<Refused>().is_some(), "{err}");
        let addrs = resolve(strict(), "[2606:4700:4700::1111]", 443)
            .await
            .map_err(|e| e.to_string())
            .expect("a public IPv6 literal");
        assert_eq!(
            addrs,
            vec!["[2606:4700:4700::1111]:443".parse().expect("addr")]
        );
    }

    #[test]
    fn filter_keeps_only_allowed_addresses() {
        let addrs: Vec<SocketAddr> = ["10.0.0.1:0", "93.184.216.34:0", "[::1]:0"]
            .iter()
            .map(|s| s.parse().expect("addr"))
            .collect();
        let kept = strict()
            .filter_resolved("mixed.example", addrs.clone())
            .expect("one public address");
        assert_eq!(kept, vec![addrs[1]]);
        let err = strict()
            .filter_resolved("private.example", vec![addrs[0], addrs[2]])
            .expect_err("no public address");
        assert!(err.reason.contains("private-network"), "{err}");
        assert!(strict().filter_resolved("none.example", vec![]).is_err());
    }

    fn any_ipv4_in(base: u32, prefix: u32) -> impl Strategy<Value = Ipv4Addr> {
        let mask = if prefix == 0 {
            u32::MAX
        } else {
            u32::MAX >> prefix
        };
        any::<u32>().prop_map(move |r| Ipv4Addr::from((base & !mask) | (r & mask)))
    }

    proptest! {
        /// Every address of a refused IPv4 range is refused by the strict
        /// policy, bare and in each IPv6 wrapping.
        #[test]
        fn refused_ranges_refused_in_every_spelling(
            ip in prop_oneof![
                any_ipv4_in(0x7f00_0000, 8),   // 127/8
                any_ipv4_in(0x0a00_0000, 8),   // 10/8
                any_ipv4_in(0xac10_0000, 12),  // 172.16/12
                any_ipv4_in(0xc0a8_0000, 16),  // 192.168/16
                any_ipv4_in(0xa9fe_0000, 16),  // 169.254/16
                any_ipv4_in(0x6440_0000, 10),  // 100.64/10
                any_ipv4_in(0x0000_0000, 8),   // 0/8
                any_ipv4_in(0xe000_0000, 3),   // multicast and 240/4
            ]
        ) {
            let policy = SsrfPolicy::default();
            prop_assert!(policy.check_ip(IpAddr::V4(ip)).is_err());
            prop_assert!(policy.check_ip(IpAddr::V6(ip.to_ipv6_mapped())).is_err());
            let [a, b, c, d] = ip.octets();
            let nat64 = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0,
                u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
            prop_assert!(policy.check_ip(IpAddr::V6(nat64)).is_err());
            // The decimal spelling of the address parses to the same host.
            let url = Url::parse(&format!("http://{}/mcp", u32::from(ip))).expect("url");
            prop_assert!(policy.check_url(&url).is_err());
        }

        /// Unique-local and link-local IPv6 are refused by the strict policy.
        #[test]
        fn local_ipv6_refused(low in any::<u128>(), link in any::<bool>()) {
            let ip = if link {
                Ipv6Addr::from((0xfe80u128 << 112) | (low >> 10))
            } else {
                Ipv6Addr::from((0xfc00u128 << 112) | (low >> 7))
            };
            prop_assert!(SsrfPolicy::default().check_ip(IpAddr::V6(ip)).is_err());
        }
    }
}
