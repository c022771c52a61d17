//! IP addresses and networks for the network extension (`ip`, `cidr`), with cel-go's rules:
//! no zones (`fe80::1%en0`) and no IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`), which
//! would make one address equal to another written differently.

use crate::error::{EvalError, EvalErrorKind as K};
use std::net::IpAddr;

fn invalid(msg: String) -> EvalError {
    EvalError::new(K::InvalidArgument, msg)
}

pub(super) fn parse_ip(s: &str) -> Result<IpAddr, EvalError> {
    if s.contains('%') {
        return Err(invalid(format!("IP address {s:?}: a zone is not allowed")));
    }
    let a: IpAddr = s.parse().map_err(|_| invalid(format!("IP address {s:?}: parse error")))?;
    if let IpAddr::V6(v6) = a {
        if v6.to_ipv4_mapped().is_some() {
            return Err(invalid(format!("IP address {s:?}: IPv4-mapped IPv6 addresses are not allowed")));
        }
    }
    Ok(a)
}

pub(super) fn parse_cidr(s: &str) -> Result<(IpAddr, u8), EvalError> {
    let (addr, len) = s.split_once('/').ok_or_else(|| invalid(format!("network {s:?}: no prefix length")))?;
    let a = parse_ip(addr)?;
    let n: u8 = len.parse().map_err(|_| invalid(format!("network {s:?}: bad prefix length")))?;
    if n > bits(&a) {
        return Err(invalid(format!("network {s:?}: prefix length over {}", bits(&a))));
    }
    Ok((a, n))
}

/// The address length in bits.
pub(super) fn bits(a: &IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

fn as_u128(a: &IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u32::from(*v) as u128,
        IpAddr::V6(v) => u128::from(*v),
    }
}

/// `a` with all but its first `n` bits cleared.
pub(super) fn mask(a: &IpAddr, n: u8) -> IpAddr {
    let width = bits(a) as u32;
    let keep = if n == 0 { 0 } else { u128::MAX << (width - n as u32) } & (u128::MAX >> (128 - width));
    match a {
        IpAddr::V4(_) => IpAddr::V4(((as_u128(a) & keep) as u32).into()),
        IpAddr::V6(_) => IpAddr::V6((as_u128(a) & keep).into()),
    }
}

/// Whether the network `net/n` contains the address `a` (of the same family).
pub(super) fn contains(net: &IpAddr, n: u8, a: &IpAddr) -> bool {
    net.is_ipv4() == a.is_ipv4() && mask(net, n) == mask(a, n)
}

fn is_multicast(a: &IpAddr) -> bool {
    a.is_multicast()
}

pub(super) fn is_link_local_unicast(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => v.is_link_local(),
        IpAddr::V6(v) => v.segments()[0] & 0xffc0 == 0xfe80,
    }
}

pub(super) fn is_link_local_multicast(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => v.octets()[..3] == [224, 0, 0],
        IpAddr::V6(v) => v.segments()[0] & 0xff0f == 0xff02,
    }
}

/// Go's `IsGlobalUnicast`: not unspecified, loopback, multicast, link-local or the IPv4
/// broadcast address (private ranges count as global).
pub(super) fn is_global_unicast(a: &IpAddr) -> bool {
    let broadcast = matches!(a, IpAddr::V4(v) if v.is_broadcast());
    !(broadcast || a.is_unspecified() || a.is_loopback() || is_multicast(a) || is_link_local_unicast(a))
}
