//! Request bodies, streamed off the connection as the application reads
//! them.
//!
//! The body owns the connection's read side while the application holds it.
//! However it ends (read to the end, dropped early, dropped in the middle of
//! a read) it hands the reader back to the connection with its framing
//! state, so the connection can drain what is left of the message and serve
//! the next request; the framing state is valid at every await point.

use crate::chunked::{self, ChunkError};
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use thiserror::Error;
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Bytes read from the socket in one go, and the most a Content-Length
/// body gathers into one piece.
const READ_CHUNK: usize = 256 * 1024;
/// How long a Content-Length body gathers bytes into a piece before it
/// hands on what it has: a client that pauses or trickles mid-body still
/// has its bytes passed on, well inside any client timeout.
const GATHER_WAIT: Duration = Duration::from_millis(50);

/// The connection's read side and what has been read but not consumed.
pub struct Reader {
    io: OwnedReadHalf,
    pub buf: BytesMut,
}

impl Reader {
    pub fn new(io: OwnedReadHalf) -> Self {
        Reader {
            io,
            buf: BytesMut::with_capacity(READ_CHUNK),
        }
    }

    /// Reads more bytes into the buffer, first making room for at least
    /// `room` more (never less than a quarter of [`READ_CHUNK`]); `Ok(0)` at
    /// end of stream.
    pub async fn fill(&mut self, room: usize) -> std::io::Result<usize> {
        let room = room.max(READ_CHUNK / 4);
        if self.buf.capacity() - self.buf.len() < room {
            self.buf.reserve(room);
        }
        self.io.read_buf(&mut self.buf).await
    }
}

/// Where a body stands in its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remaining {
    /// This many bytes of a Content-Length body are still to come.
    Length(u64),
    Chunked(chunked::Decoder),
    /// The message ended.
    Done,
    /// The body is unusable (bad chunking, I/O error); close the connection.
    Broken,
}

impl Remaining {
    /// Takes the next piece of body from the reader's buffer; `Ok(None)` when
    /// it needs more bytes, `Ok(Some(empty))` when the body has ended.
    fn take(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, BodyError> {
        match self {
            Remaining::Done => Ok(Some(Bytes::new())),
            Remaining::Broken => Err(BodyError::Broken),
            Remaining::Length(left) => {
                if buf.is_empty() {
                    return Ok(None);
                }
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(buf.len())
                    .min(READ_CHUNK);
                *left -= n as u64;
                let data = buf.split_to(n).freeze();
                if *left == 0 {
                    *self = Remaining::Done;
                }
                Ok(Some(data))
            }
            Remaining::Chunked(decoder) => match decoder.step(buf) {
                Ok(chunked::Step::Data(data)) => Ok(Some(data)),
                Ok(chunked::Step::NeedMore) => Ok(None),
                Ok(chunked::Step::Done) => {
                    *self = Remaining::Done;
                    Ok(Some(Bytes::new()))
                }
                Err(e) => {
                    *self = Remaining::Broken;
                    Err(BodyError::Chunked(e))
                }
            },
        }
    }

    /// Reads the next piece of body, from the buffer or the socket. An empty
    /// piece means the body has ended.
    ///
    /// A Content-Length body is handed on in pieces of [`READ_CHUNK`] (or
    /// its rest, if less), read into one buffer as the socket delivers
    /// them, so the application gets large pieces without copying small
    /// ones together. The socket delivers what it has as soon as it has
    /// any, often a few tens of KiB. Once bytes are waiting, they go on
    /// within [`GATHER_WAIT`] however slowly the rest comes.
    pub async fn next(&mut self, reader: &mut Reader) -> Result<Bytes, BodyError> {
        // Set once bytes are waiting: a piece is handed on by then even if
        // the client trickles.
        let mut deadline = None;
        loop {
            let read = match self.gather() {
                Some(piece) if reader.buf.len() < piece => {
                    let room = piece - reader.buf.len();
                    if reader.buf.is_empty() {
                        reader.fill(room).await
                    } else {
                        let by = *deadline.get_or_insert_with(|| Instant::now() + GATHER_WAIT);
                        match tokio::time::timeout_at(by, reader.fill(room)).await {
                            Ok(read) => read,
                            // The client paused: hand on what has come.
                            Err(_) => match self.take(&mut reader.buf)? {
                                Some(data) => return Ok(data),
                                None => continue,
                            },
                        }
                    }
                }
                _ => match self.take(&mut reader.buf)? {
                    Some(data) => return Ok(data),
                    None => reader.fill(0).await,
                },
            };
            match read {
                Ok(0) => {
                    *self = Remaining::Broken;
                    return Err(BodyError::Truncated);
                }
                Ok(_) => {}
                Err(e) => {
                    *self = Remaining::Broken;
                    return Err(BodyError::Io(e));
                }
            }
        }
    }

    /// The size of the next piece of a Content-Length body.
    fn gather(&self) -> Option<usize> {
        match *self {
            Remaining::Length(left) => {
                Some(usize::try_from(left).map_or(READ_CHUNK, |l| l.min(READ_CHUNK)))
            }
            _ => None,
        }
    }
}

#[derive(Debug, Error)]
pub enum BodyError {
    #[error("the connection closed before the request body ended")]
    Truncated,
    #[error("reading the request body: {0}")]
    Io(std::io::Error),
    #[error("bad chunked request body: {0}")]
    Chunked(ChunkError),
    #[error("the request body is unusable after an earlier error")]
    Broken,
}

/// What a finished or dropped body gives back to its connection.
pub struct Returned {
    pub reader: Reader,
    pub remaining: Remaining,
}

/// The body's state; handing the reader back is its `Drop`.
struct State {
    reader: Option<Reader>,
    remaining: Remaining,
    back: Option<oneshot::Sender<Returned>>,
    /// Fired on the first read, so the connection sends "100 Continue".
    go_ahead: Option<oneshot::Sender<()>>,
}

impl Drop for State {
    fn drop(&mut self) {
        if let (Some(reader), Some(back)) = (self.reader.take(), self.back.take()) {
            let _ = back.send(Returned {
                reader,
                remaining: self.remaining,
            });
        }
    }
}

async fn next_frame(mut state: State) -> (State, Result<Bytes, BodyError>) {
    if let Some(go) = state.go_ahead.take() {
        let _ = go.send(());
    }
    let reader = state
        .reader
        .as_mut()
        .expect("the reader is kept until drop");
    let got = state.remaining.next(reader).await;
    (state, got)
}

/// A request body read from the connection.
pub struct RequestBody {
    state: Option<State>,
    reading: Option<BoxFuture<'static, (State, Result<Bytes, BodyError>)>>,
    size: Option<u64>,
}

impl RequestBody {
    /// A body over `reader`; `back` receives the reader when the body ends
    /// or is dropped, `go_ahead` fires on the first read.
    pub fn new(
        reader: Reader,
        remaining: Remaining,
        back: oneshot::Sender<Returned>,
        go_ahead: Option<oneshot::Sender<()>>,
    ) -> Self {
        let size = match remaining {
            Remaining::Length(n) => Some(n),
            Remaining::Done => Some(0),
            _ => None,
        };
        RequestBody {
            state: Some(State {
                reader: Some(reader),
                remaining,
                back: Some(back),
                go_ahead,
            }),
            reading: None,
            size,
        }
    }
}

impl RequestBody {
    /// The body of a request that has none.
    pub fn empty() -> Self {
        RequestBody {
            state: None,
            reading: None,
            size: Some(0),
        }
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if this.reading.is_none() {
            let Some(state) = this.state.take() else {
                return Poll::Ready(None);
            };
            if state.remaining == Remaining::Done {
                // Dropping the state gives the reader back now.
                return Poll::Ready(None);
            }
            this.reading = Some(Box::pin(next_frame(state)));
        }
        let reading = this.reading.as_mut().expect("set above");
        let (state, got) = futures::ready!(reading.as_mut().poll(cx));
        this.reading = None;
        let ended = state.remaining == Remaining::Done;
        if !ended {
            this.state = Some(state);
        }
        Poll::Ready(match got {
            Ok(data) if data.is_empty() => None,
            Ok(data) => {
                if let Some(left) = &mut this.size {
                    *left = left.saturating_sub(data.len() as u64);
                }
                Some(Ok(Frame::data(data)))
            }
            Err(e) => Some(Err(e)),
        })
    }

    fn is_end_stream(&self) -> bool {
        self.state.is_none() && self.reading.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.size {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
