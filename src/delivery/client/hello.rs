//! Session set-up: the greeting, EHLO (HELO fallback), the server's extensions, and STARTTLS.

use std::net::SocketAddr;

use backupmx_smtp::Reply;
use tokio_rustls::TlsConnector;

use super::io::{Stream, Wire};
use super::{ClientConfig, ClientError, TlsPolicy, tls};

/// What the server said it supports in its EHLO reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Extensions {
    /// False after a HELO fallback: no extension may be used.
    pub esmtp: bool,
    pub pipelining: bool,
    /// SIZE: `Some(0)` when advertised without a limit.
    pub size: Option<u64>,
    pub eight_bit_mime: bool,
    pub smtputf8: bool,
    pub starttls: bool,
    pub dsn: bool,
}

impl Extensions {
    /// Parses an EHLO reply: the first line is the server's name, each further line a keyword with
    /// optional parameters; keywords are case-insensitive, unknown ones are ignored.
    pub fn from_ehlo(reply: &Reply) -> Extensions {
        let mut ext = Extensions {
            esmtp: true,
            ..Extensions::default()
        };
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword.to_ascii_uppercase().as_str() {
                "PIPELINING" => ext.pipelining = true,
                "8BITMIME" => ext.eight_bit_mime = true,
                "SMTPUTF8" => ext.smtputf8 = true,
                "STARTTLS" => ext.starttls = true,
                "DSN" => ext.dsn = true,
                "SIZE" => ext.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                _ => {}
            }
        }
        ext
    }
}

/// Waits for the 220 greeting.
pub(crate) async fn greeting(wire: &mut Wire) -> Result<Reply, ClientError> {
    let reply = wire.read_reply("greeting").await?;
    if reply.code == 220 {
        Ok(reply)
    } else {
        Err(ClientError::Greeting(reply))
    }
}

/// EHLO, or HELO when EHLO gets a 5xx (RFC 5321 §3.2).
pub(crate) async fn hello(wire: &mut Wire, hostname: &str) -> Result<Extensions, ClientError> {
    let reply = wire.command("EHLO", &format!("EHLO {hostname}")).await?;
    if reply.code == 250 {
        return Ok(Extensions::from_ehlo(&reply));
    }
    if !reply.is_permanent() {
        return Err(ClientError::Rejected {
            stage: "EHLO",
            reply,
        });
    }
    let reply = wire.command("HELO", &format!("HELO {hostname}")).await?;
    if reply.code == 250 {
        Ok(Extensions::default())
    } else {
        Err(ClientError::Rejected {
            stage: "HELO",
            reply,
        })
    }
}

/// Starts TLS when the policy and the server allow it, then says EHLO again (RFC 3207 §4.2: the
/// extensions learnt in clear are forgotten). Returns whether TLS is on.
pub(crate) async fn maybe_start_tls(
    wire: &mut Wire,
    extensions: &mut Extensions,
    host: &str,
    addr: SocketAddr,
    config: &ClientConfig,
) -> Result<bool, ClientError> {
    if config.tls == TlsPolicy::None {
        return Ok(false);
    }
    if !extensions.starttls {
        return match config.tls {
            TlsPolicy::Require => Err(ClientError::TlsUnavailable("STARTTLS not offered".into())),
            _ => Ok(false),
        };
    }
    let reply = wire.command("STARTTLS", "STARTTLS").await?;
    if reply.code != 220 {
        // Opportunistic: a refused STARTTLS just means clear text, as if it was not offered.
        return match config.tls {
            TlsPolicy::Require => Err(ClientError::TlsUnavailable(reply.to_one_line())),
            _ => Ok(false),
        };
    }
    handshake(wire, host, addr, config).await?;
    *extensions = hello(wire, &config.hostname).await?;
    Ok(true)
}

async fn handshake(
    wire: &mut Wire,
    host: &str,
    addr: SocketAddr,
    config: &ClientConfig,
) -> Result<(), ClientError> {
    let Stream::Plain(tcp) = std::mem::replace(&mut wire.stream, Stream::Closed) else {
        return Err(ClientError::TlsHandshake(
            "the connection is not in clear text".into(),
        ));
    };
    wire.reset_parser();
    let connector = TlsConnector::from(config.rustls_config());
    let name = tls::server_name(host, addr.ip());
    match tokio::time::timeout(config.command_timeout, connector.connect(name, tcp)).await {
        Ok(Ok(stream)) => {
            wire.stream = Stream::Tls(Box::new(stream));
            Ok(())
        }
        Ok(Err(e)) => Err(ClientError::TlsHandshake(e.to_string())),
        Err(_) => Err(ClientError::TlsHandshake("timeout".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ehlo(lines: &[&str]) -> Reply {
        Reply {
            code: 250,
            enhanced: None,
            lines: lines.iter().map(|l| l.to_string()).collect(),
        }
    }

    #[test]
    fn parses_known_extensions() {
        let ext = Extensions::from_ehlo(&ehlo(&[
            "mx1.example.test hello",
            "PIPELINING",
            "SIZE 10485760",
            "8bitmime",
            "SMTPUTF8",
            "STARTTLS",
            "DSN",
            "ENHANCEDSTATUSCODES",
        ]));
        assert_eq!(
            ext,
            Extensions {
                esmtp: true,
                pipelining: true,
                size: Some(10_485_760),
                eight_bit_mime: true,
                smtputf8: true,
                starttls: true,
                dsn: true,
            }
        );
    }

    #[test]
    fn size_without_limit_and_bare_greeting() {
        let ext = Extensions::from_ehlo(&ehlo(&["mx1", "SIZE"]));
        assert_eq!(ext.size, Some(0));
        let bare = Extensions::from_ehlo(&ehlo(&["mx1.example.test"]));
        assert_eq!(
            bare,
            Extensions {
                esmtp: true,
                ..Extensions::default()
            }
        );
    }

    #[test]
    fn the_greeting_line_is_not_a_keyword() {
        let ext = Extensions::from_ehlo(&ehlo(&["PIPELINING"]));
        assert!(!ext.pipelining);
    }
}
