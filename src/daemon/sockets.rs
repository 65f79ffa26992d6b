//! The server's TCP sockets in two steps: [`reserve`] binds (so a port in use or an address this host
//! does not have is found before anything is created on disk), [`listen`] starts accepting once the
//! spool is open (until then clients are refused, not left waiting in a backlog).

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

use super::StartError;

/// Pending connections the kernel queues per listener (tokio's default).
const BACKLOG: i32 = 1024;

/// A bound socket, not listening yet.
pub struct Reserved {
    socket: Socket,
    addr: SocketAddr,
    /// The config key that names the address, for errors.
    key: &'static str,
}

/// Binds `addr` (with SO_REUSEADDR, as tokio's `TcpListener::bind` does, so a restart is not refused
/// for connections still in TIME_WAIT; an IPv6 address with IPV6_V6ONLY).
pub fn reserve(addr: SocketAddr, key: &'static str) -> Result<Reserved, StartError> {
    let error = |source| StartError::Bind { addr, key, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(error)?;
    socket.set_reuse_address(true).map_err(error)?;
    if addr.is_ipv6() {
        // `[::]:25` means IPv6 only, so that it can be listed beside `0.0.0.0:25` (with the system's
        // default dual-stack socket, the second bind would find the port taken).
        socket.set_only_v6(true).map_err(error)?;
    }
    socket.set_nonblocking(true).map_err(error)?;
    socket.bind(&addr.into()).map_err(error)?;
    Ok(Reserved { socket, addr, key })
}

/// Starts accepting on a reserved socket.
pub fn listen(reserved: Reserved) -> Result<TcpListener, StartError> {
    let Reserved { socket, addr, key } = reserved;
    let error = |source| StartError::Bind { addr, key, source };
    socket.listen(BACKLOG).map_err(error)?;
    TcpListener::from_std(socket.into()).map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_port_in_use_is_found_when_reserving() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = reserve(addr, "[smtp] listen").err().expect("in use");
        assert!(
            matches!(&err, StartError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_ipv4_and_ipv6_wildcards_can_both_be_listened_on() {
        let v4 = listen(reserve("0.0.0.0:0".parse().unwrap(), "[smtp] listen").unwrap()).unwrap();
        let port = v4.local_addr().unwrap().port();
        let v6 = reserve(format!("[::]:{port}").parse().unwrap(), "[smtp] listen").and_then(listen);
        assert!(v6.is_ok(), "{:?}", v6.err().map(|e| e.to_string()));
    }

    #[tokio::test]
    async fn a_reserved_socket_refuses_until_it_listens() {
        let reserved = reserve("127.0.0.1:0".parse().unwrap(), "[smtp] listen").unwrap();
        let addr = reserved.socket.local_addr().unwrap().as_socket().unwrap();
        assert!(std::net::TcpStream::connect(addr).is_err());
        let listener = listen(reserved).unwrap();
        let client = tokio::net::TcpStream::connect(addr);
        let (accepted, connected) = tokio::join!(listener.accept(), client);
        assert!(accepted.is_ok() && connected.is_ok());
    }
}
