//! The UDP socket under a QUIC endpoint: its kernel buffers, and how big
//! its datagrams may be and how many go to the kernel per `sendmsg`, which
//! follows from where the socket can reach ([`Datagrams`]).
//!
//! QUIC's per-packet work (sealing, framing, acknowledging, one trip
//! through quinn's receive path) is what a node pays per byte it moves on
//! top of the copy and the cipher, so packets are as big as the path
//! carries (decisions 0020 and 0027).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, Runtime, UdpPoller};

/// What each QUIC socket asks the kernel to buffer, either way.
const SOCKET_BUFFER_BYTES: usize = 8 << 20;

/// How an endpoint sizes and sends its datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Datagrams {
    /// A socket that reaches other machines: packets discovered up to
    /// 6,500 bytes (a plain Ethernet LAN keeps 1,452; a jumbo-frame one
    /// reaches 6,500), handed to the kernel 10 at a time (UDP GSO). Not
    /// larger, because quinn's batch of 10 must fit one `sendmsg`, which
    /// the kernel limits to 64 KiB; past that quinn turns GSO off for the
    /// socket (decision 0020).
    Batched,
    /// A socket bound to a loopback address (`cairn up`'s nodes on one
    /// machine), which reaches only this machine's loopback, whose MTU is
    /// 64 KiB: packets discovered up to the largest UDP payload, one per
    /// `sendmsg`. A 3-node PUT load of 64 MiB objects moved 10-16 % more
    /// bytes than with `Batched`; the receiving nodes spent 0.82 ns of CPU
    /// per byte against 1.00 (decision 0027).
    Whole,
}

impl Datagrams {
    /// The sizing for a socket bound to `local`.
    pub(crate) fn for_local(local: SocketAddr) -> Datagrams {
        if local.ip().is_loopback() {
            Datagrams::Whole
        } else {
            Datagrams::Batched
        }
    }

    /// The largest UDP payload the endpoint accepts and its connections'
    /// MTU discovery probes up to (connections start at 1,200 bytes).
    pub(crate) fn payload_max(self) -> u16 {
        match self {
            Datagrams::Batched => 6_500,
            // IPv4's limit: 65,535 bytes less the IP and UDP headers.
            Datagrams::Whole => 65_507,
        }
    }
}

/// A UDP socket on `addr`, ready for quinn, sending as `datagrams` says.
pub(crate) fn bind(
    addr: SocketAddr,
    datagrams: Datagrams,
    runtime: &dyn Runtime,
) -> io::Result<Arc<dyn AsyncUdpSocket>> {
    let socket = runtime.wrap_udp_socket(buffered_socket(addr)?)?;
    Ok(match datagrams {
        Datagrams::Batched => socket,
        Datagrams::Whole => Arc::new(OneDatagramPerSend(socket)),
    })
}

/// A UDP socket on `addr` whose kernel buffers hold [`SOCKET_BUFFER_BYTES`]
/// (or the most the system allows, `net.core.rmem_max`/`wmem_max`). With
/// Linux's default 208 KiB, a node that is off the CPU for a millisecond
/// while a peer streams an object to it overflows its receive buffer, and
/// QUIC retransmits the drops and backs off: 0.7 % of the datagrams of a
/// 3-node PUT load on one machine were dropped that way, against under
/// 0.1 % with these buffers (docs/benchmarks.md).
fn buffered_socket(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES)?;
    socket.set_send_buffer_size(SOCKET_BUFFER_BYTES)?;
    // Linux reports twice what it granted (the other half covers its
    // per-datagram overhead).
    let granted = socket.recv_buffer_size()? / 2;
    if granted < crate::tls::CONNECTION_WINDOW as usize {
        tracing::warn!(
            granted,
            window = crate::tls::CONNECTION_WINDOW,
            "the UDP receive buffer is smaller than a connection's flow-control window, \
             so datagrams may be dropped under load; raise net.core.rmem_max (decision 0024)"
        );
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// quinn's socket, but one datagram per `sendmsg` and per receive slot.
///
/// One per send, so a datagram may be as large as the path allows (a GSO
/// batch of them could not be). One per receive slot, so quinn sizes its
/// receive buffer for one largest datagram per slot (2 MiB for its 32
/// slots) instead of 64 GRO segments of one (134 MB): loopback does no GRO,
/// and whatever the kernel hands over at once is one IP datagram at most.
/// Were a receive ever cut short, the packet would fail its AEAD tag and be
/// sent again.
#[derive(Debug)]
struct OneDatagramPerSend(Arc<dyn AsyncUdpSocket>);

impl AsyncUdpSocket for OneDatagramPerSend {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.0.clone().create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        self.0.try_send(transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [io::IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_recv(cx, bufs, meta)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        1
    }

    fn max_receive_segments(&self) -> usize {
        1
    }

    fn may_fragment(&self) -> bool {
        self.0.may_fragment()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_sockets_send_whole_datagrams() {
        for (addr, want) in [
            ("127.0.0.1:0", Datagrams::Whole),
            ("127.0.0.3:7000", Datagrams::Whole),
            ("[::1]:0", Datagrams::Whole),
            ("0.0.0.0:0", Datagrams::Batched),
            ("10.0.0.2:7000", Datagrams::Batched),
            ("[::]:0", Datagrams::Batched),
        ] {
            assert_eq!(Datagrams::for_local(addr.parse().unwrap()), want, "{addr}");
        }
    }
}
