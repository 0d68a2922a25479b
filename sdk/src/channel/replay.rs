//! The retry buffer (gRFC A6 "retry buffer"): a request body that can be sent again.
//!
//! The application's body is read once, by whichever attempt is current; every frame read is
//! also kept, so a later attempt first replays the kept frames and then goes on reading the
//! original. Streaming requests therefore start at once (nothing is read ahead), and a retry
//! sends exactly what the server of the failed attempt got, then the rest. Once more than the
//! limit (default 64 KiB) has been kept, the buffer is dropped and the call is committed: no
//! further attempt can be made. Only the current attempt may read: an older attempt's body,
//! still polled by its dying HTTP/2 stream, ends at once, so two attempts never interleave.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body as HttpBody, Frame};
use tonic::body::Body;

/// Default of [`ChannelOptions::retry_buffer_limit`](super::ChannelOptions::retry_buffer_limit).
pub const DEFAULT_RETRY_BUFFER: usize = 64 * 1024;

/// The shared source and buffer of one call's request body.
#[derive(Clone)]
pub(crate) struct Replay {
    shared: Arc<Mutex<Shared>>,
}

struct Shared {
    source: Body,
    /// Frames read so far (data and trailers), while within the limit.
    kept: VecDeque<KeptFrame>,
    kept_bytes: usize,
    limit: usize,
    /// The buffer overflowed: only the current attempt can go on.
    overflowed: bool,
    /// The source ended.
    ended: bool,
    /// The attempt allowed to read.
    current: u32,
}

#[derive(Clone)]
enum KeptFrame {
    Data(Bytes),
    Trailers(HeaderMap),
}

/// The body of one attempt.
pub(crate) struct AttemptBody {
    shared: Arc<Mutex<Shared>>,
    attempt: u32,
    /// Next kept frame to replay.
    position: usize,
}

impl Replay {
    pub(crate) fn new(source: Body, limit: usize) -> Self {
        Replay {
            shared: Arc::new(Mutex::new(Shared {
                source,
                kept: VecDeque::new(),
                kept_bytes: 0,
                limit,
                overflowed: false,
                ended: false,
                current: 0,
            })),
        }
    }

    /// The body of the next attempt; earlier attempts' bodies stop reading.
    pub(crate) fn attempt(&self) -> AttemptBody {
        let mut shared = self.lock();
        shared.current += 1;
        AttemptBody {
            shared: self.shared.clone(),
            attempt: shared.current,
            position: 0,
        }
    }

    /// Whether the body outgrew the buffer: the call is committed (gRFC A6).
    pub(crate) fn overflowed(&self) -> bool {
        self.lock().overflowed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl HttpBody for AttemptBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = &mut *self;
        let mut shared = this.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if shared.current != this.attempt {
            return Poll::Ready(None);
        }
        if let Some(kept) = shared.kept.get(this.position) {
            this.position += 1;
            return Poll::Ready(Some(Ok(match kept.clone() {
                KeptFrame::Data(data) => Frame::data(data),
                KeptFrame::Trailers(trailers) => Frame::trailers(trailers),
            })));
        }
        if shared.ended {
            return Poll::Ready(None);
        }
        let frame = match Pin::new(&mut shared.source).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => {
                shared.ended = true;
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Err(status))) => return Poll::Ready(Some(Err(status))),
            Poll::Ready(Some(Ok(frame))) => frame,
        };
        if !shared.overflowed {
            let kept = match frame.data_ref() {
                Some(data) => {
                    shared.kept_bytes += data.len();
                    KeptFrame::Data(data.clone())
                }
                None => match frame.trailers_ref() {
                    Some(trailers) => KeptFrame::Trailers(trailers.clone()),
                    None => return Poll::Ready(Some(Ok(frame))),
                },
            };
            if shared.kept_bytes > shared.limit {
                shared.overflowed = true;
                shared.kept.clear();
            } else {
                shared.kept.push_back(kept);
                this.position += 1;
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        let shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        shared.current != self.attempt
            || (shared.ended && self.position >= shared.kept.len())
            || (self.position >= shared.kept.len() && shared.source.is_end_stream())
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    fn frames(chunks: &[&'static [u8]]) -> Body {
        let frames: Vec<Result<Frame<Bytes>, tonic::Status>> = chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c))))
            .collect();
        Body::new(http_body_util::StreamBody::new(futures::stream::iter(
            frames,
        )))
    }

    async fn collect(body: AttemptBody) -> Vec<u8> {
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn a_retry_replays_what_the_first_attempt_read_then_reads_on() {
        let replay = Replay::new(frames(&[b"ab", b"cd", b"ef"]), 1024);
        let mut first = replay.attempt();
        let data = first.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&data[..], b"ab");
        let second = replay.attempt();
        assert!(
            first.frame().await.is_none(),
            "an old attempt stops reading"
        );
        assert_eq!(collect(second).await, b"abcdef");
        assert_eq!(collect(replay.attempt()).await, b"abcdef");
        assert!(!replay.overflowed());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_overflows_and_cannot_be_replayed() {
        let replay = Replay::new(frames(&[b"0123", b"4567", b"89"]), 6);
        assert_eq!(collect(replay.attempt()).await, b"0123456789");
        assert!(replay.overflowed());
    }
}
