//! `wasi:sockets/tcp-create-socket` for modules: wasmtime-wasi's, with each new socket
//! counted against the module's `max_descriptors` ([`super::holdings`]) before it is
//! made. The rest of `wasi:sockets` is wasmtime-wasi's own; a socket can only be made
//! here, as listening (and so accepting) is refused.

use super::holdings::Holdings;
use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::p2::bindings::sockets::network::{self, ErrorCode, IpAddressFamily};
use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket;
use wasmtime_wasi::p2::{SocketError, SocketResult, TcpSocket};
use wasmtime_wasi::sockets::WasiSocketsCtxView;

/// What `create-tcp-socket` reaches: wasmtime-wasi's sockets and the instance's holdings.
pub(crate) struct CountedSockets<'a> {
    /// wasmtime-wasi's view of the instance's sockets.
    pub sockets: WasiSocketsCtxView<'a>,
    /// What the instance holds.
    pub holdings: &'a mut Holdings,
}

/// [`HasData`] for [`CountedSockets`].
pub(crate) struct Counted;

impl HasData for Counted {
    type Data<'a> = CountedSockets<'a>;
}

impl tcp_create_socket::Host for CountedSockets<'_> {
    fn create_tcp_socket(
        &mut self,
        address_family: IpAddressFamily,
    ) -> SocketResult<Resource<TcpSocket>> {
        self.holdings
            .descriptor(self.sockets.table)
            .map_err(SocketError::trap)?;
        tcp_create_socket::Host::create_tcp_socket(&mut self.sockets, address_family)
    }
}

impl network::Host for CountedSockets<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        network::Host::convert_error_code(&mut self.sockets, error)
    }

    fn network_error_code(
        &mut self,
        error: Resource<network::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        network::Host::network_error_code(&mut self.sockets, error)
    }
}

impl network::HostNetwork for CountedSockets<'_> {
    fn drop(&mut self, this: Resource<network::Network>) -> wasmtime::Result<()> {
        network::HostNetwork::drop(&mut self.sockets, this)
    }
}
