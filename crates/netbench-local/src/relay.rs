//! A TCP relay: accept on the testbed gateway (reachable from the node namespaces) and forward
//! each connection to NATS on the host. Lets workers reach a NATS that listens on loopback.

use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Listen on `listen` and forward to `target` until `stop` is cancelled. Returns the bound
/// address.
pub async fn start(
    listen: SocketAddr,
    target: String,
    stop: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop.cancelled() => return,
            };
            let Ok((mut inbound, _)) = accepted else {
                continue;
            };
            let (target, stop) = (target.clone(), stop.clone());
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(&target).await else {
                    return;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = stop.cancelled() => {}
                }
            });
        }
    });
    Ok(bound)
}
