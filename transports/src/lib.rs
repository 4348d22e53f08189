//! The MI transports of miwa. Each moves bytes and talks to one [`Dispatcher`]; none knows
//! how the core is run.
#![forbid(unsafe_code)]

pub mod datagram;
pub mod fifo;
pub mod html;
pub mod http;
pub mod playground;
pub mod xmlrpc;

/// What a transport must send back for one JSON-RPC request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A JSON-RPC reply text.
    Text(String),
    /// The -32700 reply text for a request that is not JSON (datagram answers
    /// `400 Parse_error` instead).
    ParseError(String),
    /// Nothing (a notification).
    Nothing,
    /// The reply cannot be rendered (an `id` of a bad type, a core failure with no reply):
    /// each transport answers with its own failure form.
    Unprintable,
}

impl From<mi_core::Reply> for Reply {
    fn from(reply: mi_core::Reply) -> Self {
        match reply {
            mi_core::Reply::Text(text) => Reply::Text(text),
            mi_core::Reply::ParseError(text) => Reply::ParseError(text),
            mi_core::Reply::Nothing => Reply::Nothing,
            mi_core::Reply::Unprintable => Reply::Unprintable,
        }
    }
}

/// Which transport carried a request (statistics, logs, events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// JSON-RPC over HTTP (`/mi`).
    Http,
    /// JSON-RPC in UDP datagrams.
    Udp,
    /// JSON-RPC in UNIX datagrams.
    Unix,
    /// JSON-RPC over a named pipe.
    Fifo,
    /// XML-RPC over HTTP (`/RPC2`).
    Xmlrpc,
    /// The HTML interface (`/html`).
    Html,
}

impl TransportKind {
    /// Every transport, in the order their statistics are listed.
    pub const ALL: [TransportKind; 6] = [
        TransportKind::Http,
        TransportKind::Udp,
        TransportKind::Unix,
        TransportKind::Fifo,
        TransportKind::Xmlrpc,
        TransportKind::Html,
    ];

    /// A short stable name (`http`, `udp`, `unix`, `fifo`, `xmlrpc`, `html`).
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Http => "http",
            TransportKind::Udp => "udp",
            TransportKind::Unix => "unix",
            TransportKind::Fifo => "fifo",
            TransportKind::Xmlrpc => "xmlrpc",
            TransportKind::Html => "html",
        }
    }
}

/// One command as the HTML page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandInfo {
    /// Command name.
    pub name: String,
    /// Owning module.
    pub module: String,
    /// Help text.
    pub help: Option<String>,
    /// Parameter names of each recipe.
    pub recipes: Vec<Vec<String>>,
}

/// Runs JSON-RPC requests. Implemented by the daemon over the core component.
///
/// Calls are synchronous and short (microseconds, bounded by the host's deadline); a
/// transport may call them on its async worker threads.
pub trait Dispatcher: Send + Sync + 'static {
    /// Handles one JSON-RPC request text (or batch), with compact or pretty replies.
    fn dispatch(&self, transport: TransportKind, request: &[u8], pretty: bool) -> Reply;

    /// Every command the core serves, in registration order.
    fn commands(&self) -> Vec<CommandInfo>;

    /// Called on a thread a transport starts for itself, before it serves: the host lists
    /// it as a process named `name`.
    fn thread_started(&self, name: &str);

    /// Called on a transport thread right before it ends.
    fn thread_stopped(&self);
}
