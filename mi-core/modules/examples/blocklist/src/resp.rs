//! A Redis client of the least RESP2 the module needs: commands as arrays of bulk strings,
//! replies of every RESP2 type, one connection kept per instance and opened again once
//! when it broke.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// Largest bulk string or array accepted from the server.
const MAX_LENGTH: usize = 1 << 20;

/// A Redis reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`.
    Status(String),
    /// `-ERR …`.
    Error(String),
    /// `:1`.
    Integer(i64),
    /// `$3 abc`, or `$-1` (nil).
    Bulk(Option<String>),
    /// `*2 …`, or `*-1` (nil).
    Array(Option<Vec<Reply>>),
}

/// Why a command got no reply.
#[derive(Debug)]
pub enum Failure {
    /// The connection could not be made or broke.
    Io(std::io::Error),
    /// The server sent something that is not RESP2.
    Protocol(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Io(error) => write!(f, "{error}"),
            Failure::Protocol(what) => write!(f, "not a Redis reply: {what}"),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Failure::Io(error)
    }
}

/// One connection to a Redis server.
pub struct Connection {
    address: String,
    stream: BufReader<TcpStream>,
}

impl Connection {
    /// Connects to `address` (`host:port`).
    pub fn open(address: &str) -> Result<Connection, Failure> {
        let stream = TcpStream::connect(address)?;
        let _ = stream.set_nodelay(true);
        Ok(Connection {
            address: address.to_string(),
            stream: BufReader::new(stream),
        })
    }

    /// The server it is connected to.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Sends one command and reads its reply.
    pub fn command(&mut self, args: &[&str]) -> Result<Reply, Failure> {
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        self.stream.get_mut().write_all(request.as_bytes())?;
        read_reply(&mut self.stream)
    }
}

fn line(stream: &mut impl BufRead) -> Result<String, Failure> {
    let mut line = String::new();
    let read = stream.take(MAX_LENGTH as u64).read_line(&mut line)?;
    if read == 0 {
        return Err(Failure::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    line.strip_suffix("\r\n")
        .map(str::to_string)
        .ok_or_else(|| Failure::Protocol("a line without CRLF".into()))
}

fn length(text: &str) -> Result<Option<usize>, Failure> {
    let n: i64 = text
        .parse()
        .map_err(|_| Failure::Protocol(format!("length {text:?}")))?;
    match n {
        -1 => Ok(None),
        n if (0..=MAX_LENGTH as i64).contains(&n) => Ok(Some(n as usize)),
        _ => Err(Failure::Protocol(format!("length {n}"))),
    }
}

fn read_reply(stream: &mut impl BufRead) -> Result<Reply, Failure> {
    let line = line(stream)?;
    let (kind, rest) = line.split_at(line.len().min(1));
    Ok(match kind {
        "+" => Reply::Status(rest.to_string()),
        "-" => Reply::Error(rest.to_string()),
        ":" => Reply::Integer(
            rest.parse()
                .map_err(|_| Failure::Protocol(format!("integer {rest:?}")))?,
        ),
        "$" => match length(rest)? {
            None => Reply::Bulk(None),
            Some(n) => {
                let mut data = vec![0u8; n + 2];
                stream.read_exact(&mut data)?;
                data.truncate(n);
                Reply::Bulk(Some(String::from_utf8_lossy(&data).into_owned()))
            }
        },
        "*" => match length(rest)? {
            None => Reply::Array(None),
            Some(n) => Reply::Array(Some(
                (0..n)
                    .map(|_| read_reply(stream))
                    .collect::<Result<_, _>>()?,
            )),
        },
        other => return Err(Failure::Protocol(format!("type {other:?}"))),
    })
}
