//! `TCP_NODELAY` on this process's PostgreSQL connections.
//!
//! sqlx 0.9.0 opens its TCP sockets with Nagle's algorithm on (sqlx issue #4335; the fix,
//! sqlx PR #4336, is not in a release this project can use). A group commit's multi-row
//! `INSERT` is larger than one loopback segment (64 KiB), so its last partial segment waited
//! for the server to acknowledge the first, and the server delays that acknowledgement by
//! up to 40 ms: a group of 64 complaints paid 40 ms before PostgreSQL even saw its end.
//! sqlx does not hand out its socket, so after each connect ([`PgPoolOptions::after_connect`])
//! this walks the process's descriptors (`/proc/self/fd`) and turns `TCP_NODELAY` on for
//! every TCP socket connected to the database's address that has it off. Only Linux has
//! `/proc/self/fd`; elsewhere it does nothing.
//!
//! [`PgPoolOptions::after_connect`]: sqlx::postgres::PgPoolOptions::after_connect

use std::net::SocketAddr;

/// Turn `TCP_NODELAY` on for every TCP socket of this process whose peer is one of `peers`;
/// returns how many it changed.
pub(crate) fn enable_for(peers: &[SocketAddr]) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    let mut changed = 0;
    for entry in dir.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        // Sockets only (the link reads `socket:[inode]`): a regular file or pipe is never
        // handed to the socket calls below.
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"));
        if is_socket && set_if_peer(fd, peers) {
            changed += 1;
        }
    }
    changed
}

#[cfg(unix)]
fn set_if_peer(fd: i32, peers: &[SocketAddr]) -> bool {
    use std::os::fd::BorrowedFd;
    // SAFETY: `fd` was open when /proc listed it, and it is only borrowed for the three
    // socket calls below, never closed here. Another thread may close it in between; the
    // calls then fail with EBADF, or reach a descriptor newly opened under that number,
    // which is changed only if it too is a TCP socket connected to the database (where
    // `TCP_NODELAY` is what we want).
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = socket2::SockRef::from(&fd);
    let Some(peer) = sock.peer_addr().ok().and_then(|a| a.as_socket()) else {
        return false;
    };
    if !peers.contains(&peer) || sock.tcp_nodelay().unwrap_or(true) {
        return false;
    }
    sock.set_tcp_nodelay(true).is_ok()
}

#[cfg(not(unix))]
fn set_if_peer(_fd: i32, _peers: &[SocketAddr]) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_nodelay_on_for_sockets_to_the_peer_only() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let to_db = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let elsewhere = std::net::TcpStream::connect(other.local_addr().unwrap()).unwrap();
        assert!(!to_db.nodelay().unwrap());
        let changed = enable_for(&[listener.local_addr().unwrap()]);
        if cfg!(target_os = "linux") {
            assert!(changed >= 1);
            assert!(to_db.nodelay().unwrap());
        }
        assert!(!elsewhere.nodelay().unwrap());
    }
}
