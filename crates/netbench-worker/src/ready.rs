//! Server readiness: a port "accepts connections" once a socket is in LISTEN state on it. We read
//! that from `/proc/net/tcp` and `/proc/net/tcp6` of our own network namespace instead of
//! connecting, because a probe connection disturbs the tools (iperf3 logs a failed test for it).

use std::time::{Duration, Instant};

/// TCP state LISTEN in `/proc/net/tcp`.
const TCP_LISTEN: &str = "0A";

/// Whether a `/proc/net/tcp`-format table has a listening socket on `port`.
pub fn table_has_listener(table: &str, port: u16) -> bool {
    table.lines().skip(1).any(|line| {
        let mut cols = line.split_whitespace();
        let (Some(_sl), Some(local), Some(_remote), Some(state)) =
            (cols.next(), cols.next(), cols.next(), cols.next())
        else {
            return false;
        };
        let Some((_, hex_port)) = local.rsplit_once(':') else {
            return false;
        };
        state == TCP_LISTEN && u16::from_str_radix(hex_port, 16) == Ok(port)
    })
}

/// Whether anything in this network namespace listens on TCP `port`.
pub fn is_listening(port: u16) -> bool {
    use std::io::Read;
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|path| {
        // /proc files report size 0, so a plain read_to_string starts with 32-byte reads, each
        // regenerating the table; a sized buffer reads a small namespace's table at once.
        let mut table = String::with_capacity(16 * 1024);
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_string(&mut table))
            .map(|_| table_has_listener(&table, port))
            .unwrap_or(false)
    })
}

/// Poll with a tight backoff (0.5 ms doubling to 2 ms) until `port` listens or `limit` passes.
/// Tools take 5-50 ms to listen; a longer pause would be paid as a lag on every pair.
/// `alive` is checked between polls so a server that exits is noticed at once.
pub async fn wait_listening(
    port: u16,
    limit: Duration,
    mut alive: impl FnMut() -> bool,
) -> Result<Duration, ReadyError> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(500);
    loop {
        if is_listening(port) {
            return Ok(start.elapsed());
        }
        if !alive() {
            return Err(ReadyError::Exited);
        }
        if start.elapsed() > limit {
            return Err(ReadyError::TimedOut(limit));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(2));
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadyError {
    #[error("the server exited before listening")]
    Exited,
    #[error("the server did not listen within {0:?}")]
    TimedOut(Duration),
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1451 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:3241 0100007F:1451 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn finds_listeners_only() {
        assert!(table_has_listener(TABLE, 5201)); // 0x1451
        assert!(!table_has_listener(TABLE, 0x3241)); // established, not listening
        assert!(!table_has_listener(TABLE, 80));
        assert!(!table_has_listener("garbage\nmore garbage", 5201));
    }

    #[tokio::test]
    async fn a_real_listener_is_seen_and_a_closed_port_is_not() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(wait_listening(port, Duration::from_secs(1), || true)
            .await
            .is_ok());
        drop(l);
        assert!(!is_listening(port));
        assert!(matches!(
            wait_listening(port, Duration::from_millis(20), || true).await,
            Err(ReadyError::TimedOut(_))
        ));
    }
}
