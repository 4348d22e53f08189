//! The MI wire client: JSON-RPC exchanges with an MI server over its FIFO, UDP or UNIX
//! datagram socket, HTTP (JSON-RPC, XML-RPC) or WebSocket, the way opensips-cli makes
//! them. The front forwards over it, `miwa call` sends over it, and the tests call over
//! it.
//!
//! # Layout
//! - `link`: the pooled wire to one server (FIFO, datagram, HTTP), each exchange with a
//!   reply channel of its own, replies bounded in size and, together, by a budget;
//! - `reply`: a reply checked to answer its request's id, and read for a command line;
//! - `tls`: TCP and TLS streams;
//! - `credentials`: `Authorization` values (sensitive), URLs rid of their credentials;
//! - `endpoint`: one exchange of a command line, within a timeout, and how it failed;
//! - `params`: a command line's `params` by opensips-cli's rules, and its request text;
//! - `ws`: the WebSocket side (`--transport ws`, `miwa events`).

#![forbid(unsafe_code)]

pub mod credentials;
mod endpoint;
mod link;
mod params;
mod reply;
mod tls;
pub mod ws;

pub use endpoint::{run_async, Endpoint, Endpoints, Failure, HttpTarget};
pub use link::{Budget, Framing, HttpOptions, Link, LinkError, ReplyAccess};
pub use params::{build_params, request_body};
pub use reply::{check, interpret, node_entry, ReplyError};
pub use tls::client_config;
