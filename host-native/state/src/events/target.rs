//! Where a subscriber receives events: the `socket` of `event_subscribe`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// A parsed subscriber socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `udp:<host>:<port>`: one datagram per event.
    Udp(SocketAddr),
    /// `unix:<path>`: one datagram per event.
    Unix(PathBuf),
    /// `tcp:<host>:<port>`: a stream of concatenated notifications, reconnected with backoff.
    Tcp(SocketAddr),
    /// `flatstore:<path>`: one notification per line, appended; the file is reopened when
    /// it is rotated away.
    Flatstore(PathBuf),
    /// `ws:` or `sse:`: the push channel (connection) with this number.
    Channel(transports::ChannelId),
}

fn address(text: &str) -> Option<SocketAddr> {
    let (host, port) = text.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    (host, port).to_socket_addrs().ok()?.next()
}

/// A flatstore file must sit directly in the configured directory, with a plain name.
fn flatstore_path(path: &str, dir: Option<&Path>) -> Option<PathBuf> {
    let dir = dir?;
    let path = Path::new(path);
    let name = path.file_name()?.to_str()?;
    let plain = !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    (plain && path.parent()? == dir).then(|| path.to_path_buf())
}

/// Parses a subscriber socket; `flatstore_dir` is the only directory flatstore files may
/// live in (`None`: flatstore is off).
pub fn parse(socket: &str, flatstore_dir: Option<&Path>) -> Option<Target> {
    let (transport, rest) = socket.split_once(':')?;
    match transport {
        "udp" => address(rest).map(Target::Udp),
        "tcp" => address(rest).map(Target::Tcp),
        "unix" if !rest.is_empty() => Some(Target::Unix(PathBuf::from(rest))),
        "flatstore" => flatstore_path(rest, flatstore_dir).map(Target::Flatstore),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_syntax() {
        let dir = Path::new("/var/log/miwa");
        assert_eq!(
            parse("udp:127.0.0.1:9999", None),
            Some(Target::Udp("127.0.0.1:9999".parse().unwrap()))
        );
        assert_eq!(
            parse("udp:[::1]:9999", None),
            Some(Target::Udp("[::1]:9999".parse().unwrap()))
        );
        assert_eq!(
            parse("tcp:127.0.0.1:9", None),
            Some(Target::Tcp("127.0.0.1:9".parse().unwrap()))
        );
        assert_eq!(
            parse("unix:/tmp/x.sock", None),
            Some(Target::Unix("/tmp/x.sock".into()))
        );
        assert_eq!(
            parse("flatstore:/var/log/miwa/events.log", Some(dir)),
            Some(Target::Flatstore("/var/log/miwa/events.log".into()))
        );
        for bad in [
            "udp:127.0.0.1",
            "udp:127.0.0.1:99999",
            "udp::5",
            "tcp:1.2.3.4",
            "unix:",
            "nothing",
            "flatstore:/var/log/miwa/events.log",
        ] {
            assert_eq!(parse(bad, None), None, "{bad}");
        }
        for outside in [
            "flatstore:/etc/passwd",
            "flatstore:/var/log/miwa/../../etc/passwd",
            "flatstore:/var/log/miwa/sub/x.log",
            "flatstore:/var/log/miwa/.hidden",
            "flatstore:relative.log",
        ] {
            assert_eq!(parse(outside, Some(dir)), None, "{outside}");
        }
    }
}
