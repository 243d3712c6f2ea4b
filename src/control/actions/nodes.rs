//! DescribeNodeCidrList: the addresses gateways and databases see the
//! control plane at, as CIDR blocks of one address each.
//!
//! They come from the URL the control plane is reached at (`serve
//! --public-url`, else its listen address): an address literal as it is, a
//! host name resolved when asked. Private, shared (100.64.0.0/10),
//! loopback and link-local addresses are `IntranetIPs`; others
//! `InternetIPs`.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{json, Value};

use crate::api::ApiError;
use crate::control::call::Call;
use crate::control::ControlPlane;

/// Longest wait for the public host name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// DescribeNodeCidrList: `Region` (required, one of DescribeRegions').
pub async fn describe_node_cidr_list(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let region = call.require("Region")?;
    if !plane.settings.regions.iter().any(|r| r == region) {
        return Err(ApiError::invalid(
            "Region",
            "not one of the regions of DescribeRegions",
        ));
    }
    let addresses = match plane.settings.public_url.as_deref() {
        Some(url) => addresses_of(url).await,
        None => Vec::new(),
    };
    let cidr = |ip: &IpAddr| match ip {
        IpAddr::V4(_) => format!("{ip}/32"),
        IpAddr::V6(_) => format!("{ip}/128"),
    };
    let (intranet, internet): (Vec<IpAddr>, Vec<IpAddr>) =
        addresses.into_iter().partition(is_intranet);
    Ok(json!({
        "IntranetIPs": { "IntranetIP": intranet.iter().map(cidr).collect::<Vec<_>>() },
        "InternetIPs": { "InternetIP": internet.iter().map(cidr).collect::<Vec<_>>() },
    }))
}

/// The addresses of a URL's host, sorted, each once; none when the host
/// name does not resolve in time (logged).
async fn addresses_of(url: &str) -> Vec<IpAddr> {
    let Ok(url) = reqwest::Url::parse(url) else {
        return Vec::new();
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let Some(host) = url.host_str() else {
        return Vec::new();
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let mut found = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let lookup = tokio::net::lookup_host((bare.to_string(), port));
            match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
                Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                Ok(Err(error)) => {
                    tracing::warn!(host = bare, %error, "the public URL's host does not resolve");
                    Vec::new()
                }
                Err(_) => {
                    tracing::warn!(host = bare, "the public URL's host did not resolve in time");
                    Vec::new()
                }
            }
        }
    };
    found.sort();
    found.dedup();
    found
}

/// Whether an address is one only a private network reaches.
fn is_intranet(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || first & 0xfe00 == 0xfc00
                || first & 0xffc0 == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_public_addresses_are_told_apart() {
        for intranet in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "127.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
        ] {
            assert!(is_intranet(&intranet.parse().unwrap()), "{intranet}");
        }
        for internet in ["203.0.113.7", "8.8.8.8", "100.128.0.1", "2001:db8::1"] {
            assert!(!is_intranet(&internet.parse().unwrap()), "{internet}");
        }
    }

    #[tokio::test]
    async fn a_url_gives_its_address_and_a_name_resolves() {
        assert_eq!(
            addresses_of("https://203.0.113.7:8443/").await,
            vec!["203.0.113.7".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            addresses_of("http://[::1]:8080").await,
            vec!["::1".parse::<IpAddr>().unwrap()]
        );
        let local = addresses_of("http://localhost:8080").await;
        assert!(
            local.iter().all(IpAddr::is_loopback) && !local.is_empty(),
            "{local:?}"
        );
    }
}
