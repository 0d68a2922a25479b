//! gRPC channelz v1 (gRFC A14) for a [`Mesh`]: `grpc.channelz.v1.Channelz`, so that channelz
//! clients (grpcdebug, gRPC's xDS interop framework, which waits for a READY channel with a
//! READY subchannel and for an active ADS call this way) can read a Meshwork process.
//!
//! What it shows, built from the live channel views on each request (nothing is recorded on the
//! request path for it):
//! - **Top channels**: every channel the mesh made (shared and [unshared](Mesh::unshared_channel)),
//!   target and connectivity state, plus one channel per xDS control-plane stream, whose target
//!   is the server URI and whose calls are the ADS streams (one in flight while connected).
//! - **Subchannels**: one per endpoint of each cluster of a channel, with its connectivity.
//! - **Sockets**: the connection to a READY endpoint's address (remote address only).
//!
//! Call counters of application channels and subchannels count the RPC *attempts* sent to each
//! endpoint (completed, failed, plus those in flight as started); RPCs that failed before an
//! endpoint was picked are not counted. Ids are positive, stable for the life of the object and
//! derived from it (channel id, cluster, address), so they need no registry. Not shown: channel
//! traces, servers (`GetServers` answers an empty list), socket data and security details.

mod model;

use meshwork_proto::channelz::v1 as pb;
use meshwork_proto::channelz::v1::channelz_server::{Channelz, ChannelzServer};
use tonic::{Request, Response, Status};

use crate::Mesh;

use model::Model;

/// Page size when a request asks for "a reasonable number" (`max_results` 0).
const DEFAULT_PAGE: usize = 100;

/// The channelz service of a mesh; see the module docs. Serve it with
/// `Server::builder().add_service(mesh.channelz())`; the admin endpoint serves it too.
#[derive(Debug, Clone)]
pub struct ChannelzService {
    mesh: Mesh,
}

impl ChannelzService {
    /// The service for `mesh`, as a tonic server.
    pub fn server(mesh: Mesh) -> ChannelzServer<ChannelzService> {
        ChannelzServer::new(ChannelzService { mesh })
    }
}

/// Entries with id ≥ `start`, at most `max` of them (0: [`DEFAULT_PAGE`]), and whether that was
/// the last page.
fn page<T>(mut items: Vec<(i64, T)>, start: i64, max: i64) -> (Vec<T>, bool) {
    items.sort_by_key(|(id, _)| *id);
    let max = usize::try_from(max)
        .ok()
        .filter(|m| *m > 0)
        .unwrap_or(DEFAULT_PAGE);
    let mut rest = items.into_iter().filter(|(id, _)| *id >= start);
    let taken: Vec<T> = rest.by_ref().take(max).map(|(_, item)| item).collect();
    let end = rest.next().is_none();
    (taken, end)
}

fn not_found(kind: &str, id: i64) -> Status {
    Status::not_found(format!(
        "no {kind} with id {id}; list channels with GetTopChannels to find current ids"
    ))
}

#[tonic::async_trait]
impl Channelz for ChannelzService {
    async fn get_top_channels(
        &self,
        request: Request<pb::GetTopChannelsRequest>,
    ) -> Result<Response<pb::GetTopChannelsResponse>, Status> {
        let r = request.into_inner();
        let channels = Model::of(&self.mesh)
            .channels
            .into_iter()
            .map(|c| (c.r#ref.as_ref().map_or(0, |r| r.channel_id), c))
            .collect();
        let (channel, end) = page(channels, r.start_channel_id, r.max_results);
        Ok(Response::new(pb::GetTopChannelsResponse { channel, end }))
    }

    async fn get_servers(
        &self,
        _: Request<pb::GetServersRequest>,
    ) -> Result<Response<pb::GetServersResponse>, Status> {
        Ok(Response::new(pb::GetServersResponse {
            server: Vec::new(),
            end: true,
        }))
    }

    async fn get_server_sockets(
        &self,
        request: Request<pb::GetServerSocketsRequest>,
    ) -> Result<Response<pb::GetServerSocketsResponse>, Status> {
        Err(not_found("server", request.get_ref().server_id))
    }

    async fn get_channel(
        &self,
        request: Request<pb::GetChannelRequest>,
    ) -> Result<Response<pb::GetChannelResponse>, Status> {
        let id = request.get_ref().channel_id;
        let channel = Model::of(&self.mesh)
            .channels
            .into_iter()
            .find(|c| c.r#ref.as_ref().is_some_and(|r| r.channel_id == id))
            .ok_or_else(|| not_found("channel", id))?;
        Ok(Response::new(pb::GetChannelResponse {
            channel: Some(channel),
        }))
    }

    async fn get_subchannel(
        &self,
        request: Request<pb::GetSubchannelRequest>,
    ) -> Result<Response<pb::GetSubchannelResponse>, Status> {
        let id = request.get_ref().subchannel_id;
        let subchannel = Model::of(&self.mesh)
            .subchannels
            .into_iter()
            .find(|c| c.r#ref.as_ref().is_some_and(|r| r.subchannel_id == id))
            .ok_or_else(|| not_found("subchannel", id))?;
        Ok(Response::new(pb::GetSubchannelResponse {
            subchannel: Some(subchannel),
        }))
    }

    async fn get_socket(
        &self,
        request: Request<pb::GetSocketRequest>,
    ) -> Result<Response<pb::GetSocketResponse>, Status> {
        let id = request.get_ref().socket_id;
        let socket = Model::of(&self.mesh)
            .sockets
            .into_iter()
            .find(|s| s.r#ref.as_ref().is_some_and(|r| r.socket_id == id))
            .ok_or_else(|| not_found("socket", id))?;
        Ok(Response::new(pb::GetSocketResponse {
            socket: Some(socket),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::page;

    #[test]
    fn pages_start_at_the_id_and_say_when_they_end() {
        let items: Vec<(i64, i64)> = [5, 1, 9, 3].map(|id| (id, id)).into();
        assert_eq!(page(items.clone(), 0, 0), (vec![1, 3, 5, 9], true));
        assert_eq!(page(items.clone(), 0, 2), (vec![1, 3], false));
        assert_eq!(page(items.clone(), 4, 2), (vec![5, 9], true));
        assert_eq!(page(items, 10, 0), (vec![], true));
    }
}
