//! JSON-RPC in datagrams (`mi_datagram`): UDP and UNIX sockets, one request per datagram,
//! one reply datagram to the sender.
//!
//! Each socket is served by its own worker threads (a blocking receive each), so several
//! sockets and several workers per socket run at once; OpenSIPS allows one socket.

use crate::{Caller, Dispatcher, Reply, TransportKind};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// OpenSIPS's datagram buffer: longer requests are truncated, longer replies refused.
pub const MAX_DATAGRAM: usize = 65457;

/// Plain-text reply to a request that is not JSON.
pub const PARSE_ERROR: &[u8] = b"400 Parse_error";

/// Plain-text reply when no JSON reply can be sent (unprintable `id`, reply too large).
pub const INTERNAL_ERROR: &[u8] = b"500 Internal error";

/// How often an idle worker looks at the stop flag.
const POLL: Duration = Duration::from_millis(200);

/// Settings shared by every datagram socket.
#[derive(Debug, Clone)]
pub struct DatagramSettings {
    /// Worker threads per socket.
    pub workers: usize,
    /// Largest request read and largest reply sent, bytes.
    pub max_datagram: usize,
    /// Pretty-print JSON replies.
    pub pretty: bool,
    /// How long a reply may wait for room in the peer's receive queue.
    pub reply_timeout: Duration,
    /// Native stack of each worker thread, bytes (the dispatcher may run deep calls).
    pub stack_size: usize,
}

/// The bytes to send back for a dispatcher reply, if any.
pub fn reply_bytes(reply: Reply, max_datagram: usize) -> Option<Vec<u8>> {
    match reply {
        Reply::Nothing => None,
        Reply::ParseError(_) => Some(PARSE_ERROR.to_vec()),
        Reply::Unprintable => Some(INTERNAL_ERROR.to_vec()),
        Reply::Text(text) if text.len() > max_datagram => Some(INTERNAL_ERROR.to_vec()),
        Reply::Text(text) => Some(text.into_bytes()),
    }
}

/// Running datagram workers; stopped (and their UNIX socket files removed) by [`Self::stop`].
pub struct DatagramServer {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    unix_paths: Vec<PathBuf>,
}

/// A bound datagram socket.
enum Socket {
    Udp(UdpSocket),
    Unix(UnixDatagram),
}

impl Socket {
    fn try_clone(&self) -> io::Result<Socket> {
        Ok(match self {
            Socket::Udp(s) => Socket::Udp(s.try_clone()?),
            Socket::Unix(s) => Socket::Unix(s.try_clone()?),
        })
    }

    /// Receives wake up every `read` to look at the stop flag; a reply to a peer whose
    /// queue is full gives up after `write` (a UNIX client that never reads cannot hold a
    /// worker).
    fn set_timeouts(&self, read: Duration, write: Duration) -> io::Result<()> {
        match self {
            Socket::Udp(s) => {
                s.set_read_timeout(Some(read))?;
                s.set_write_timeout(Some(write))
            }
            Socket::Unix(s) => {
                s.set_read_timeout(Some(read))?;
                s.set_write_timeout(Some(write))
            }
        }
    }
}

/// Binds a UNIX datagram socket at `path` (an old file there is removed) with `mode` and,
/// if given, `owner`.
pub fn bind_unix(path: &Path, mode: u32, owner: Option<crate::Owner>) -> io::Result<UnixDatagram> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_dir() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is a directory", path.display()),
            ))
        }
        Ok(_) => std::fs::remove_file(path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let socket = UnixDatagram::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    if let Some(owner) = owner {
        owner.apply(path)?;
    }
    Ok(socket)
}

impl DatagramServer {
    /// Starts `settings.workers` threads on every socket.
    pub fn start(
        udp: Vec<UdpSocket>,
        unix: Vec<(PathBuf, UnixDatagram)>,
        settings: DatagramSettings,
        dispatcher: Arc<dyn Dispatcher>,
    ) -> io::Result<DatagramServer> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut server = DatagramServer {
            stop: stop.clone(),
            workers: Vec::new(),
            unix_paths: Vec::new(),
        };
        let mut sockets: Vec<(String, TransportKind, Socket)> = Vec::new();
        for socket in udp {
            let name = format!("MI Datagram udp:{}", socket.local_addr()?);
            sockets.push((name, TransportKind::Udp, Socket::Udp(socket)));
        }
        for (path, socket) in unix {
            sockets.push((
                format!("MI Datagram unix:{}", path.display()),
                TransportKind::Unix,
                Socket::Unix(socket),
            ));
            server.unix_paths.push(path);
        }
        let own = Arc::new(OwnSockets::of(&server.unix_paths));
        let mut listing = crate::listing::Listing::new();
        for (name, kind, socket) in sockets {
            socket.set_timeouts(POLL, settings.reply_timeout)?;
            for _ in 0..settings.workers.max(1) {
                let socket = socket.try_clone()?;
                let (name, settings, dispatcher, stop, own) = (
                    name.clone(),
                    settings.clone(),
                    dispatcher.clone(),
                    stop.clone(),
                    own.clone(),
                );
                let listed = listing.signal();
                let worker = std::thread::Builder::new()
                    .name("mi-datagram".into())
                    .stack_size(settings.stack_size)
                    .spawn(move || {
                        dispatcher.thread_started(&name);
                        let _ = listed.send(());
                        serve(&socket, kind, &settings, &own, dispatcher.as_ref(), &stop);
                        dispatcher.thread_stopped();
                    })?;
                server.workers.push(worker);
            }
        }
        listing.wait();
        Ok(server)
    }

    /// Stops every worker (each finishes the request in hand) and removes UNIX socket files.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            let _ = worker.join();
        }
        for path in self.unix_paths {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The daemon's own UNIX sockets, by path and by file identity: replies never go to them,
/// so a client cannot make the daemon talk to itself.
struct OwnSockets {
    paths: Vec<PathBuf>,
    files: Vec<(u64, u64)>,
}

impl OwnSockets {
    fn of(paths: &[PathBuf]) -> Self {
        let files = paths
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| {
                use std::os::unix::fs::MetadataExt;
                (m.dev(), m.ino())
            })
            .collect();
        Self {
            paths: paths.to_vec(),
            files,
        }
    }

    /// Why a reply must not be sent to the client path `to`, if it must not: the path is
    /// not (any longer) a socket — a symbolic link or a regular file put in its place —
    /// or it is one of the daemon's own sockets.
    fn refuses(&self, to: &Path) -> Option<&'static str> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        if self.paths.iter().any(|own| own == to) {
            return Some("the client path is the daemon's own socket");
        }
        match std::fs::symlink_metadata(to) {
            Ok(meta) if meta.file_type().is_symlink() => Some("the client path is a symbolic link"),
            Ok(meta) if !meta.file_type().is_socket() => Some("the client path is not a socket"),
            Ok(meta) if self.files.contains(&(meta.dev(), meta.ino())) => {
                Some("the client path is the daemon's own socket")
            }
            Ok(_) => None,
            Err(_) => Some("the client path is gone"),
        }
    }
}

fn serve(
    socket: &Socket,
    kind: TransportKind,
    settings: &DatagramSettings,
    own: &OwnSockets,
    dispatcher: &dyn Dispatcher,
    stop: &AtomicBool,
) {
    let mut buffer = vec![0u8; settings.max_datagram];
    while !stop.load(Ordering::Relaxed) {
        let received = match socket {
            Socket::Udp(s) => s
                .recv_from(&mut buffer)
                .map(|(n, from)| (n, Peer::Udp(from))),
            Socket::Unix(s) => s
                .recv_from(&mut buffer)
                .map(|(n, from)| (n, Peer::Unix(from.as_pathname().map(Path::to_path_buf)))),
        };
        let (length, peer) = match received {
            Ok(pair) => pair,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => {
                tracing::warn!(error = %e, "datagram receive failed");
                std::thread::sleep(POLL);
                continue;
            }
        };
        if length == 0 {
            continue;
        }
        if let Peer::Unix(Some(from)) = &peer {
            if let Some(reason) = own.refuses(from) {
                tracing::warn!(client = %from.display(), reason, "datagram refused: no reply can be sent safely");
                continue;
            }
        }
        let from = match &peer {
            Peer::Udp(address) => Some(*address),
            Peer::Unix(_) => None,
        };
        let caller = Caller::anonymous(kind).from_peer(from);
        let reply = dispatcher.dispatch(caller, &buffer[..length], settings.pretty);
        let Some(bytes) = reply_bytes(reply, settings.max_datagram) else {
            continue;
        };
        let sent = match (socket, &peer) {
            (Socket::Udp(s), Peer::Udp(to)) => s.send_to(&bytes, to).map(drop),
            (Socket::Unix(s), Peer::Unix(Some(to))) => match own.refuses(to) {
                None => s.send_to(&bytes, to).map(drop),
                Some(reason) => Err(io::Error::other(reason)),
            },
            _ => Ok(()),
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, ?peer, "datagram reply not delivered");
        }
    }
}

/// Where a request came from.
#[derive(Debug)]
enum Peer {
    Udp(SocketAddr),
    /// The client's bound path; `None` for an unbound client, which cannot get a reply.
    Unix(Option<PathBuf>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_mapping_and_size_edge() {
        assert_eq!(reply_bytes(Reply::Nothing, 10), None);
        assert_eq!(
            reply_bytes(Reply::ParseError("{}".into()), 10).unwrap(),
            PARSE_ERROR
        );
        assert_eq!(reply_bytes(Reply::Unprintable, 10).unwrap(), INTERNAL_ERROR);
        assert_eq!(
            reply_bytes(Reply::Text("x".repeat(10)), 10).unwrap(),
            b"xxxxxxxxxx"
        );
        assert_eq!(
            reply_bytes(Reply::Text("x".repeat(11)), 10).unwrap(),
            INTERNAL_ERROR
        );
    }
}
