//! A TCP proxy on loopback that can cut a client off: it forwards to a target until [`TcpProxy::cut`],
//! which drops every forwarded connection and from then on accepts new ones without ever forwarding
//! (a black hole: the client's connects succeed and its requests go unanswered, like a network that
//! stopped delivering packets). [`TcpProxy::heal`] forwards again.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct TcpProxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    /// Bumped at each cut: forwarding tasks of an older generation end.
    generation: Arc<AtomicU64>,
    accept_loop: JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let cut = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(AtomicU64::new(0));
        let accept_loop = tokio::spawn(accept(listener, target, cut.clone(), generation.clone()));
        TcpProxy {
            addr,
            cut,
            generation,
            accept_loop,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept_loop.abort();
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

async fn accept(
    listener: TcpListener,
    target: SocketAddr,
    cut: Arc<AtomicBool>,
    generation: Arc<AtomicU64>,
) {
    let mut held = Vec::new();
    while let Ok((client, _)) = listener.accept().await {
        if cut.load(Ordering::SeqCst) {
            // Black hole: keep the socket open, never answer.
            held.push(client);
            continue;
        }
        let mine = generation.load(Ordering::SeqCst);
        let generation = generation.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(target).await else {
                return;
            };
            let (mut client, mut server) = (client, server);
            let forward = tokio::io::copy_bidirectional(&mut client, &mut server);
            let watch = async {
                while generation.load(Ordering::SeqCst) == mine {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            };
            tokio::select! {
                _ = forward => {}
                _ = watch => {}
            }
        });
    }
}
