//! IPv4 subnet arithmetic (the little rmqgen needs; no extra crate).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// An IPv4 subnet, normalised to its network address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    network: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Net {
    /// `0.0.0.0/0`: every address.
    pub const ANY: Ipv4Net = Ipv4Net {
        network: Ipv4Addr::UNSPECIFIED,
        prefix: 0,
    };

    /// The network address (all host bits zero).
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// Prefix length, 0..=32.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// The netmask in dotted form.
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask())
    }

    /// The broadcast address (all host bits one).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask())
    }

    /// True when `addr` is inside the subnet.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & self.mask() == u32::from(self.network)
    }

    /// True when `addr` is the network or broadcast address of a subnet that
    /// has them (/31 and /32 have none).
    pub fn is_reserved(&self, addr: Ipv4Addr) -> bool {
        self.prefix < 31 && (addr == self.network || addr == self.broadcast())
    }
}

impl FromStr for Ipv4Net {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` has no prefix length (expected ADDRESS/PREFIX)"))?;
        let addr = parse_ipv4(addr)?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("prefix length `{prefix}` is not 0..=32"))?;
        let net = Ipv4Net {
            network: addr,
            prefix,
        };
        let network = Ipv4Addr::from(u32::from(addr) & net.mask());
        if network != addr {
            return Err(format!(
                "`{s}` has host bits set; the network is {network}/{prefix}"
            ));
        }
        Ok(Ipv4Net { network, prefix })
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Ipv4Net {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Parses a dotted-quad IPv4 address with a message fit for a diagnostic.
pub fn parse_ipv4(s: &str) -> Result<Ipv4Addr, String> {
    Ipv4Addr::from_str(s).map_err(|_| {
        if s.contains(':') {
            format!("`{s}` is an IPv6 address; rmqgen supports IPv4 only")
        } else {
            format!("`{s}` is not an IPv4 address")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_arithmetic() {
        let net: Ipv4Net = "192.168.247.0/24".parse().unwrap();
        assert_eq!(net.broadcast(), Ipv4Addr::new(192, 168, 247, 255));
        assert_eq!(net.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert!(net.contains(Ipv4Addr::new(192, 168, 247, 160)));
        assert!(!net.contains(Ipv4Addr::new(192, 168, 248, 1)));
        assert!(net.is_reserved(Ipv4Addr::new(192, 168, 247, 0)));
        assert!(net.is_reserved(Ipv4Addr::new(192, 168, 247, 255)));
        let p2p: Ipv4Net = "10.0.0.0/31".parse().unwrap();
        assert!(!p2p.is_reserved(Ipv4Addr::new(10, 0, 0, 0)));
        let all: Ipv4Net = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::new(8, 8, 8, 8)));
    }

    #[test]
    fn rejects_bad_subnets_with_reasons() {
        for (s, needle) in [
            ("192.168.247.1/24", "host bits"),
            ("192.168.247.0", "no prefix"),
            ("192.168.247.0/33", "0..=32"),
            ("fe80::/64", "IPv6"),
            ("300.1.1.1/8", "not an IPv4"),
        ] {
            let err = s.parse::<Ipv4Net>().unwrap_err();
            assert!(err.contains(needle), "{s}: {err}");
        }
    }
}
