//! Delivery to datagram subscribers (`udp:`, `unix:`), done by the fan-out thread itself
//! with non-blocking sends: the kernel's socket buffer is the subscriber's queue, and a full
//! buffer or an unreachable subscriber is a counted drop. No thread hand-off per event.

use super::target::Target;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;

/// Non-blocking sockets shared by every datagram subscriber.
#[derive(Default)]
pub(crate) struct DatagramSender {
    udp4: Option<UdpSocket>,
    udp6: Option<UdpSocket>,
    unix: Option<UnixDatagram>,
}

fn udp(local: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind(local)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

impl DatagramSender {
    /// Sends one datagram, trying `attempts` times (only interruptions and transient
    /// buffer shortages are worth an immediate retry).
    pub fn send(&mut self, target: &Target, payload: &[u8], attempts: u32) -> bool {
        (0..attempts.max(1)).any(|_| match self.try_send(target, payload) {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(?target, %error, "event datagram not sent");
                false
            }
        })
    }

    fn try_send(&mut self, target: &Target, payload: &[u8]) -> std::io::Result<()> {
        match target {
            Target::Udp(address) => {
                let slot = if address.is_ipv4() {
                    &mut self.udp4
                } else {
                    &mut self.udp6
                };
                let socket = match slot {
                    Some(socket) => socket,
                    None => slot.insert(udp(if address.is_ipv4() {
                        ([0, 0, 0, 0], 0).into()
                    } else {
                        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                    })?),
                };
                socket.send_to(payload, address).map(drop)
            }
            Target::Unix(path) => {
                let socket = match &self.unix {
                    Some(socket) => socket,
                    None => {
                        let socket = UnixDatagram::unbound()?;
                        socket.set_nonblocking(true)?;
                        self.unix.insert(socket)
                    }
                };
                socket.send_to(payload, path).map(drop)
            }
            Target::Tcp(_) | Target::Flatstore(_) | Target::Channel(_) => Err(
                std::io::Error::other("stream, file and channel subscribers have their own queue"),
            ),
        }
    }
}
