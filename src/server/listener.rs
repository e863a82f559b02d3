//! Accept loops, one per configured listener, sharing the connection limits:
//! `max.connections` over all listeners (past it the loops stop accepting and
//! the kernel backlog holds new clients, as Kafka's acceptor waits for a slot)
//! and `max.connections.per.ip` (a further connection from that address is
//! closed as soon as it is accepted, as Kafka does).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore, TryAcquireError};

use crate::broker::Broker;
use crate::server::connection::{serve_connection, ConnectionInfo};

/// Broadcast shutdown plus completion tracking: every task holding a
/// `Shutdown` keeps the `done` channel open, so the owner knows when the last
/// connection has flushed its responses.
#[derive(Debug, Clone)]
pub struct Shutdown {
    signal: watch::Receiver<bool>,
    _done: mpsc::Sender<()>,
}

impl Shutdown {
    pub fn new() -> (watch::Sender<bool>, Shutdown, mpsc::Receiver<()>) {
        let (signal_tx, signal_rx) = watch::channel(false);
        let (done_tx, done_rx) = mpsc::channel(1);
        (
            signal_tx,
            Shutdown {
                signal: signal_rx,
                _done: done_tx,
            },
            done_rx,
        )
    }

    pub fn is_shutdown(&self) -> bool {
        *self.signal.borrow()
    }

    /// Resolves once shutdown has been requested.
    pub async fn recv(&mut self) {
        while !*self.signal.borrow_and_update() {
            if self.signal.changed().await.is_err() {
                return;
            }
        }
    }
}

/// Binds every listener (failing fast if a port is taken) and spawns their
/// accept loops. Returns the bound addresses, in listener order.
pub async fn run_listeners(
    broker: Arc<Broker>,
    shutdown: Shutdown,
) -> std::io::Result<Vec<std::net::SocketAddr>> {
    let limit = Arc::new(Semaphore::new(broker.config.max_connections));
    let per_ip = Arc::new(PerIp {
        max: broker.config.max_connections_per_ip,
        open: Mutex::new(HashMap::new()),
    });
    let mut bound = Vec::new();
    for listener in &broker.config.listeners {
        let addr = listener
            .bind_addr()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let socket = TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot bind listener {} on {addr}: {e}", listener.name),
            )
        })?;
        let local = socket.local_addr()?;
        tracing::info!(listener = %listener.name, %local, "listening");
        bound.push(local);
        tokio::spawn(accept_loop(
            socket,
            listener.name.clone(),
            broker.clone(),
            limit.clone(),
            per_ip.clone(),
            shutdown.clone(),
        ));
    }
    Ok(bound)
}

/// Open connections per client address (`max.connections.per.ip`).
#[derive(Debug)]
struct PerIp {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted in [`PerIp`]; uncounted on drop.
struct PerIpSlot {
    per_ip: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    /// Counts a connection from `ip`, or returns None when `ip` is at the limit.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<PerIpSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(PerIpSlot {
            per_ip: self.clone(),
            ip,
        })
    }
}

impl Drop for PerIpSlot {
    fn drop(&mut self) {
        let mut open = self.per_ip.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

async fn accept_loop(
    socket: TcpListener,
    listener_name: String,
    broker: Arc<Broker>,
    limit: Arc<Semaphore>,
    per_ip: Arc<PerIp>,
    mut shutdown: Shutdown,
) {
    let listener_name: Arc<str> = listener_name.into();
    let mut backoff_ms = 1u64;
    loop {
        // A permit is taken before accepting, so the limit applies before the
        // socket is even accepted (the kernel backlog absorbs the excess).
        let permit = match limit.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(TryAcquireError::Closed) => return,
            Err(TryAcquireError::NoPermits) => {
                tracing::warn!(
                    listener = %listener_name,
                    max_connections = broker.config.max_connections,
                    "max.connections reached: not accepting connections until one closes"
                );
                tokio::select! {
                    _ = shutdown.recv() => return,
                    permit = limit.clone().acquire_owned() => match permit {
                        Ok(p) => p,
                        Err(_) => return,
                    },
                }
            }
        };
        let accepted = tokio::select! {
            _ = shutdown.recv() => return,
            accepted = socket.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff_ms = 1;
                let Some(slot) = per_ip.admit(peer.ip()) else {
                    tracing::warn!(
                        listener = %listener_name,
                        %peer,
                        max_connections_per_ip = per_ip.max,
                        "max.connections.per.ip reached: closing the new connection"
                    );
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                set_socket_buffers(&stream, &broker.config);
                let info = ConnectionInfo {
                    peer,
                    listener_name: listener_name.clone(),
                };
                let broker = broker.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    serve_connection(stream, info, broker, shutdown).await;
                    drop(slot);
                    drop(permit);
                });
            }
            Err(e) => {
                // Usually EMFILE: wait instead of spinning, then retry.
                tracing::warn!(error = %e, backoff_ms, "accept failed");
                tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
                backoff_ms = (backoff_ms * 2).min(1000);
            }
        }
    }
}

/// Applies `socket.send.buffer.bytes` / `socket.receive.buffer.bytes` when
/// configured; a failure only costs the tuning, so it is logged, not fatal.
fn set_socket_buffers(stream: &tokio::net::TcpStream, config: &crate::config::BrokerConfig) {
    use nix::sys::socket::{setsockopt, sockopt};
    let fd = std::os::fd::AsFd::as_fd(stream);
    if let Some(bytes) = config.socket_send_buffer_bytes {
        if let Err(e) = setsockopt(&fd, sockopt::SndBuf, &bytes) {
            tracing::debug!(error = %e, "cannot set SO_SNDBUF");
        }
    }
    if let Some(bytes) = config.socket_receive_buffer_bytes {
        if let Err(e) = setsockopt(&fd, sockopt::RcvBuf, &bytes) {
            tracing::debug!(error = %e, "cannot set SO_RCVBUF");
        }
    }
}
