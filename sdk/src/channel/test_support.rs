//! Test-only backends: real tonic `helloworld.Greeter` servers on loopback that answer with their
//! own name, so a test sees where each RPC went; plus bounded waiting helpers.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use meshwork_proto::helloworld::greeter_server::{Greeter, GreeterServer};
use meshwork_proto::helloworld::{HelloReply, HelloRequest};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

use super::MeshChannel;

/// Upper bound of every wait in channel tests.
pub(crate) const BOUND: Duration = Duration::from_secs(10);

/// Messages a streaming reply carries.
pub(crate) const STREAM_LEN: usize = 3;

/// A running greeter backend. Dropping it shuts the server down.
pub(crate) struct Backend {
    pub(crate) addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

struct Named(String);

impl Backend {
    /// Serves a greeter named `name` on an ephemeral loopback port.
    pub(crate) async fn start(name: &str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (shutdown, stop) = oneshot::channel::<()>();
        let service = GreeterServer::new(Named(name.to_string()));
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stop.await;
                })
                .await;
        });
        Backend {
            addr,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// Shuts the server down (GOAWAY to its clients, listener closed) and waits for it to end.
    pub(crate) async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            bounded(task).await.expect("server task");
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

#[tonic::async_trait]
impl Greeter for Named {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        Ok(Response::new(HelloReply {
            message: format!("hello {}", request.into_inner().name),
            backend: self.0.clone(),
        }))
    }

    type SayHelloStreamStream = Pin<Box<dyn Stream<Item = Result<HelloReply, Status>> + Send>>;

    async fn say_hello_stream(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<Self::SayHelloStreamStream>, Status> {
        let name = request.into_inner().name;
        let backend = self.0.clone();
        let replies = (0..STREAM_LEN).map(move |i| {
            Ok(HelloReply {
                message: format!("hello {name} #{i}"),
                backend: backend.clone(),
            })
        });
        Ok(Response::new(Box::pin(futures::stream::iter(replies))))
    }
}

/// Runs `f` for at most [`BOUND`]; panics (failing the test) if it takes longer.
pub(crate) async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(BOUND, f)
        .await
        .expect("condition not reached within the bound")
}

/// One unary call: the answering backend's name, or the status.
pub(crate) async fn hello(channel: &MeshChannel) -> Result<String, Status> {
    let mut client = GreeterClient::new(channel.clone());
    let reply = client
        .say_hello(HelloRequest {
            name: "test".to_string(),
        })
        .await?;
    Ok(reply.into_inner().backend)
}

/// Calls until every one of `names` has answered (bounded).
pub(crate) async fn warm_up(channel: &MeshChannel, names: &[&str]) {
    bounded(async {
        let mut seen = std::collections::HashSet::new();
        while names.iter().any(|n| !seen.contains(*n)) {
            if let Ok(name) = hello(channel).await {
                seen.insert(name);
            } else {
                tokio::task::yield_now().await;
            }
        }
    })
    .await;
}
