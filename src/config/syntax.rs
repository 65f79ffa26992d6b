//! Pure parsers for the textual values in the config: socket addresses, primaries, domain names, CIDRs.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::Primary;

const MAX_DOMAIN_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// `"ip:port"`, IPv6 in brackets (`"[::1]:2525"`).
pub fn parse_socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>().map_err(|_| {
        if text.parse::<IpAddr>().is_ok() {
            format!("{text:?} has no port; write \"ip:port\" (IPv6 as \"[::1]:2525\")")
        } else {
            format!("{text:?} is not an \"ip:port\" address (IPv6 as \"[::1]:2525\")")
        }
    })
}

/// `"ip:port"` or a bare `"ip"`, which means `default_port`.
pub fn parse_addr_with_default_port(text: &str, default_port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    let unbracketed = text.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    text.parse::<SocketAddr>().map_err(|_| {
        format!("{text:?} is not an IP address with an optional port (\"ip\" or \"ip:port\")")
    })
}

/// `"host[:port]"` where host is a domain name, an IPv4 address or a bracketed IPv6 address.
pub fn parse_primary(text: &str, default_port: u16) -> Result<Primary, String> {
    if let Some(after_bracket) = text.strip_prefix('[') {
        return parse_bracketed_primary(text, after_bracket, default_port);
    }
    if text.matches(':').count() > 1 {
        return Err(format!(
            "{text:?}: write an IPv6 primary in brackets, e.g. \"[2001:db8::1]:25\""
        ));
    }
    let (host, port) = match text.split_once(':') {
        Some((host, port)) => (host, parse_port(text, port)?),
        None => (text, default_port),
    };
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return Ok(Primary {
            host: host.to_string(),
            port,
        });
    }
    let host = normalise_domain(host).map_err(|e| format!("primary host: {e}"))?;
    Ok(Primary { host, port })
}

fn parse_bracketed_primary(
    text: &str,
    after_bracket: &str,
    default_port: u16,
) -> Result<Primary, String> {
    let Some((inside, rest)) = after_bracket.split_once(']') else {
        return Err(format!("{text:?}: missing ']' after the IPv6 address"));
    };
    let ip: std::net::Ipv6Addr = inside
        .parse()
        .map_err(|_| format!("{text:?}: {inside:?} is not an IPv6 address"))?;
    let port = match rest {
        "" => default_port,
        _ => match rest.strip_prefix(':') {
            Some(port) => parse_port(text, port)?,
            None => return Err(format!("{text:?}: expected ':port' after ']'")),
        },
    };
    Ok(Primary {
        host: ip.to_string(),
        port,
    })
}

fn parse_port(text: &str, port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(format!("{text:?}: {port:?} is not a port number (1-65535)")),
    }
}

/// Lower-cases, strips one trailing dot and checks RFC 1035 host-name syntax (LDH labels).
pub fn normalise_domain(text: &str) -> Result<String, String> {
    let lower = text.to_ascii_lowercase();
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    if name.is_empty() {
        return Err("empty domain name".into());
    }
    if name.len() > MAX_DOMAIN_LEN {
        return Err(format!(
            "{text:?} is longer than {MAX_DOMAIN_LEN} characters"
        ));
    }
    for label in name.split('.') {
        check_label(text, label)?;
    }
    Ok(name.to_string())
}

fn check_label(text: &str, label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err(format!("{text:?} has an empty label"));
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(format!(
            "{text:?} has a label longer than {MAX_LABEL_LEN} characters"
        ));
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(format!(
            "{text:?} is not a valid domain name (letters, digits, '-' and '.' only; IDNs in A-label form)"
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("{text:?}: a label cannot start or end with '-'"));
    }
    Ok(())
}

/// A network in CIDR form (`"192.0.2.0/24"`, `"::1/128"`); a bare address means that one host.
pub fn parse_cidr(text: &str) -> Result<IpNet, String> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net);
    }
    text.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
        format!("{text:?} is not a network in CIDR form (e.g. \"192.0.2.0/24\", \"::1/128\")")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn primary(host: &str, port: u16) -> Primary {
        Primary {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn socket_addrs() {
        assert_eq!(
            parse_socket_addr("127.0.0.1:2525"),
            Ok("127.0.0.1:2525".parse().unwrap())
        );
        assert_eq!(
            parse_socket_addr("[::1]:2525"),
            Ok("[::1]:2525".parse().unwrap())
        );
        assert!(
            parse_socket_addr("127.0.0.1")
                .unwrap_err()
                .contains("no port")
        );
        assert!(parse_socket_addr("::1:2525").is_err());
        assert!(parse_socket_addr("localhost:25").is_err());
        assert!(parse_socket_addr("127.0.0.1:99999").is_err());
    }

    #[test]
    fn nameservers_default_to_port_53() {
        let parse = |t| parse_addr_with_default_port(t, 53);
        assert_eq!(parse("192.0.2.1"), Ok("192.0.2.1:53".parse().unwrap()));
        assert_eq!(
            parse("127.0.0.1:5353"),
            Ok("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(parse("::1"), Ok("[::1]:53".parse().unwrap()));
        assert_eq!(parse("[::1]"), Ok("[::1]:53".parse().unwrap()));
        assert_eq!(parse("[::1]:5353"), Ok("[::1]:5353".parse().unwrap()));
        assert!(parse("ns1.example.net").is_err());
    }

    #[test]
    fn primaries() {
        assert_eq!(
            parse_primary("127.0.0.1:2526", 25),
            Ok(primary("127.0.0.1", 2526))
        );
        assert_eq!(
            parse_primary("Mail.Example.COM.", 25),
            Ok(primary("mail.example.com", 25))
        );
        assert_eq!(
            parse_primary("mail.example.com:587", 25),
            Ok(primary("mail.example.com", 587))
        );
        assert_eq!(
            parse_primary("[2001:db8::1]:2526", 25),
            Ok(primary("2001:db8::1", 2526))
        );
        assert_eq!(parse_primary("[::1]", 26), Ok(primary("::1", 26)));
        for bad in [
            "",
            "::1",
            "2001:db8::1:25",
            "[::1",
            "[::1]x",
            "[nope]:25",
            "host:0",
            "host:x",
            "host:",
            "bad_host:25",
            "-bad.example:25",
            "a..b:25",
            "[::1]:70000",
        ] {
            assert!(parse_primary(bad, 25).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn domains_normalised() {
        assert_eq!(normalise_domain("Example.TEST."), Ok("example.test".into()));
        assert_eq!(
            normalise_domain("xn--bcher-kva.example"),
            Ok("xn--bcher-kva.example".into())
        );
        assert_eq!(normalise_domain("localhost"), Ok("localhost".into()));
        let long_label = "a".repeat(64);
        let too_long = ["a"; 127].join(".") + ".b";
        for bad in [
            "",
            ".",
            "a..b",
            ".a",
            "a.-b",
            "a-.b",
            "a_b.example",
            "bücher.example",
            "a b",
            "a.b..",
            long_label.as_str(),
            too_long.as_str(),
            "@example.test",
        ] {
            assert!(normalise_domain(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn cidrs() {
        assert_eq!(
            parse_cidr("127.0.0.1/32"),
            Ok("127.0.0.1/32".parse().unwrap())
        );
        assert_eq!(parse_cidr("::1/128"), Ok("::1/128".parse().unwrap()));
        assert_eq!(parse_cidr("192.0.2.7"), Ok("192.0.2.7/32".parse().unwrap()));
        assert_eq!(
            parse_cidr("2001:db8::/32"),
            Ok("2001:db8::/32".parse().unwrap())
        );
        for bad in ["", "10.0.0.0/33", "::/129", "example.net", "10.0.0/8"] {
            assert!(parse_cidr(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
