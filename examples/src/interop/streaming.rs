//! The streaming methods of the interop `TestService` (grpc/grpc `doc/interop-test-descriptions.md`:
//! `server_streaming`, `client_streaming`, `ping_pong`, `empty_stream`, `status_code_and_message`)
//! and the `response_status` echo shared with `UnaryCall`.
//!
//! - `StreamingOutputCall`: one response per `ResponseParameters` (after `interval_us`, a zero
//!   payload of `size` bytes), then the requested `response_status`.
//! - `StreamingInputCall`: the sum of the request payload sizes.
//! - `FullDuplexCall`: answers each request as it arrives, as `StreamingOutputCall` would; a
//!   request with a non-OK `response_status` ends the call with it.
//! - `HalfDuplexCall`: the same answers, sent only after the client half-closes.
//!
//! Responses are produced by a task feeding a bounded channel, so a client that cancels stops the
//! task at its next send. Compression flags are ignored (responses are never compressed).

use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use meshwork_proto::grpc_testing::{
    EchoStatus, Payload, StreamingInputCallRequest, StreamingOutputCallRequest,
    StreamingOutputCallResponse,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status, Streaming};

/// The response stream of the streaming methods.
pub type ResponseStream =
    Pin<Box<dyn Stream<Item = Result<StreamingOutputCallResponse, Status>> + Send>>;

type Sink = mpsc::Sender<Result<StreamingOutputCallResponse, Status>>;

/// Largest payload one response may ask for (the interop tests use at most 314,159 bytes).
const MAX_PAYLOAD: usize = 4 << 20;

/// The status `response_status` asks the server to end with, if it is not OK.
pub fn requested_status(status: Option<&EchoStatus>) -> Option<Status> {
    let status = status?;
    (status.code != 0).then(|| Status::new(Code::from_i32(status.code), status.message.clone()))
}

/// A zero payload of `size` bytes, `None` for 0; INVALID_ARGUMENT for a negative or huge size.
pub fn payload(size: i32) -> Result<Option<Payload>, Status> {
    let bytes = usize::try_from(size)
        .ok()
        .filter(|n| *n <= MAX_PAYLOAD)
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "payload size must be in 0..={MAX_PAYLOAD}, got {size}"
            ))
        })?;
    Ok((bytes > 0).then(|| Payload {
        r#type: 0,
        body: vec![0; bytes],
    }))
}

/// `StreamingOutputCall`.
pub fn output(request: StreamingOutputCallRequest) -> ResponseStream {
    spawn(|sink| async move {
        if answer(&sink, &request).await {
            finish(&sink, &request).await;
        }
    })
}

/// `StreamingInputCall`: the total payload bytes received.
pub async fn input(mut requests: Streaming<StreamingInputCallRequest>) -> Result<i32, Status> {
    let mut total: usize = 0;
    while let Some(request) = requests.message().await? {
        total = total.saturating_add(request.payload.map_or(0, |p| p.body.len()));
    }
    i32::try_from(total).map_err(|_| {
        Status::invalid_argument(format!(
            "received {total} payload bytes, more than an int32 can report"
        ))
    })
}

/// `FullDuplexCall`.
pub fn full_duplex(mut requests: Streaming<StreamingOutputCallRequest>) -> ResponseStream {
    spawn(|sink| async move {
        loop {
            match requests.message().await {
                Ok(Some(request)) => {
                    if !answer(&sink, &request).await || !finish(&sink, &request).await {
                        return;
                    }
                }
                Ok(None) => return,
                Err(status) => {
                    let _ = sink.send(Err(status)).await;
                    return;
                }
            }
        }
    })
}

/// `HalfDuplexCall`.
pub fn half_duplex(requests: Streaming<StreamingOutputCallRequest>) -> ResponseStream {
    spawn(|sink| async move {
        let received: Vec<_> = requests.collect().await;
        for request in received {
            match request {
                Ok(request) => {
                    if !answer(&sink, &request).await || !finish(&sink, &request).await {
                        return;
                    }
                }
                Err(status) => {
                    let _ = sink.send(Err(status)).await;
                    return;
                }
            }
        }
    })
}

fn spawn<F, Fut>(produce: F) -> ResponseStream
where
    F: FnOnce(Sink) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sink, stream) = mpsc::channel(16);
    tokio::spawn(produce(sink));
    Box::pin(ReceiverStream::new(stream))
}

/// Sends the responses `request` asks for; false once the call is over (client gone or error).
async fn answer(sink: &Sink, request: &StreamingOutputCallRequest) -> bool {
    for params in &request.response_parameters {
        if let Ok(us) = u64::try_from(params.interval_us)
            && us > 0
        {
            tokio::time::sleep(Duration::from_micros(us)).await;
        }
        let response = payload(params.size).map(|payload| StreamingOutputCallResponse {
            payload,
            ..StreamingOutputCallResponse::default()
        });
        let failed = response.is_err();
        if sink.send(response).await.is_err() || failed {
            return false;
        }
    }
    true
}

/// Ends the call with the requested non-OK status, if any; false when it did.
async fn finish(sink: &Sink, request: &StreamingOutputCallRequest) -> bool {
    match requested_status(request.response_status.as_ref()) {
        Some(status) => {
            let _ = sink.send(Err(status)).await;
            false
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshwork_proto::grpc_testing::ResponseParameters;

    fn params(sizes: &[i32]) -> Vec<ResponseParameters> {
        sizes
            .iter()
            .map(|&size| ResponseParameters {
                size,
                ..ResponseParameters::default()
            })
            .collect()
    }

    #[tokio::test]
    async fn output_sends_one_response_per_parameter_then_the_requested_status() {
        let stream = output(StreamingOutputCallRequest {
            response_parameters: params(&[31415, 9, 2653, 58979]),
            response_status: Some(EchoStatus {
                code: 2,
                message: "test status message".into(),
            }),
            ..StreamingOutputCallRequest::default()
        });
        let got: Vec<_> = stream.collect().await;
        let sizes: Vec<usize> = got
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|r| r.payload.as_ref().map_or(0, |p| p.body.len()))
            .collect();
        assert_eq!(sizes, [31415, 9, 2653, 58979]);
        let last = got.last().and_then(|r| r.as_ref().err());
        assert_eq!(last.map(Status::code), Some(Code::Unknown));
        assert_eq!(last.map(Status::message), Some("test status message"));
    }

    #[tokio::test]
    async fn a_negative_size_is_invalid_argument() {
        let got: Vec<_> = output(StreamingOutputCallRequest {
            response_parameters: params(&[-1]),
            ..StreamingOutputCallRequest::default()
        })
        .collect()
        .await;
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].as_ref().err().map(Status::code),
            Some(Code::InvalidArgument)
        );
    }

    #[test]
    fn ok_response_status_is_not_an_error() {
        assert!(requested_status(Some(&EchoStatus::default())).is_none());
        assert!(requested_status(None).is_none());
    }
}
