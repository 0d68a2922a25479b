//! Channelz on `xds-interop-client`'s stats port, read the way gRPC's xDS interop framework
//! reads it (psm-interop `framework/test_app/client_app.py`): the channel to `--server` is READY
//! with a READY subchannel whose socket reaches a backend, one channel per `--num_channels`, and
//! the channel to the control plane has exactly one call (the ADS stream) in flight.

#[path = "interop_conformance/harness.rs"]
mod harness;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use harness::{control_plane, endpoints_yaml, names, start_backends, start_client};
use meshwork_proto::channelz::v1::channel_connectivity_state::State;
use meshwork_proto::channelz::v1::channelz_client::ChannelzClient;
use meshwork_proto::channelz::v1::{
    Channel, GetChannelRequest, GetSocketRequest, GetSubchannelRequest, GetTopChannelsRequest,
    address,
};

const TARGET: &str = "xds:///interop-test:8080";

fn state(channel: &Channel) -> Option<State> {
    channel
        .data
        .as_ref()
        .and_then(|d| d.state)
        .and_then(|s| State::try_from(s.state).ok())
}

fn target(channel: &Channel) -> &str {
    channel.data.as_ref().map_or("", |d| d.target.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channelz_shows_ready_channels_subchannels_sockets_and_the_active_ads_call() -> Result<()> {
    let backends = start_backends(2).await?;
    let yaml = format!(
        "services:\n- host: interop-test\n  port: 8080\n  cluster: c1\nclusters:\n- name: c1\n{}",
        endpoints_yaml(&backends)
    );
    let cp = control_plane(&yaml).await?;
    let client = start_client(&cp, TARGET, &["--num_channels", "2"]).await?;
    client
        .wait_for_peers(&names(&backends), Duration::from_secs(20))
        .await?;
    let mut channelz = ChannelzClient::new(client.stats.clone());
    let top = channelz
        .get_top_channels(GetTopChannelsRequest::default())
        .await?
        .into_inner();
    ensure!(top.end, "one page holds every channel: {top:?}");

    let to_server: Vec<&Channel> = top.channel.iter().filter(|c| target(c) == TARGET).collect();
    ensure!(
        to_server.len() == 2,
        "--num_channels 2 gives two channels to {TARGET}: {top:?}"
    );
    let backend_ports: Vec<i32> = backends.iter().map(|b| i32::from(b.port)).collect();
    for channel in &to_server {
        ensure!(state(channel) == Some(State::Ready), "{channel:?}");
        ensure!(
            channel.subchannel_ref.len() == 2,
            "one subchannel per backend: {channel:?}"
        );
        let mut ready = 0;
        for sub_ref in &channel.subchannel_ref {
            let sub = channelz
                .get_subchannel(GetSubchannelRequest {
                    subchannel_id: sub_ref.subchannel_id,
                })
                .await?
                .into_inner()
                .subchannel
                .context("GetSubchannel without a subchannel")?;
            let sub_state = sub.data.as_ref().and_then(|d| d.state).map(|s| s.state);
            if sub_state != Some(State::Ready as i32) {
                continue;
            }
            ready += 1;
            let socket_ref = sub.socket_ref.first().context("READY without a socket")?;
            let socket = channelz
                .get_socket(GetSocketRequest {
                    socket_id: socket_ref.socket_id,
                })
                .await?
                .into_inner()
                .socket
                .context("GetSocket without a socket")?;
            let Some(address::Address::TcpipAddress(remote)) =
                socket.remote.and_then(|a| a.address)
            else {
                anyhow::bail!("socket without a TCP remote address: {socket_ref:?}");
            };
            ensure!(remote.ip_address == [127, 0, 0, 1]);
            ensure!(
                backend_ports.contains(&remote.port),
                "socket to {} is not a backend port {backend_ports:?}",
                remote.port
            );
        }
        ensure!(ready == 2, "both backends served, both READY: {channel:?}");
    }

    let xds: Vec<&Channel> = top.channel.iter().filter(|c| target(c) != TARGET).collect();
    ensure!(xds.len() == 1, "one channel to the control plane: {top:?}");
    let data = xds[0].data.clone().context("xDS channel without data")?;
    ensure!(state(xds[0]) == Some(State::Ready), "{:?}", xds[0]);
    let in_flight = data.calls_started - data.calls_succeeded - data.calls_failed;
    ensure!(in_flight == 1, "one ADS stream in flight: {data:?}");
    let again = channelz
        .get_channel(GetChannelRequest {
            channel_id: xds[0].r#ref.as_ref().map_or(0, |r| r.channel_id),
        })
        .await?
        .into_inner()
        .channel
        .and_then(|c| c.data)
        .context("GetChannel of the xDS channel")?;
    ensure!(
        again.calls_started == data.calls_started,
        "the stream stays up: {data:?} then {again:?}"
    );
    let missing = channelz
        .get_subchannel(GetSubchannelRequest { subchannel_id: 1 })
        .await
        .err()
        .context("an unknown subchannel id was found")?;
    ensure!(missing.code() == tonic::Code::NotFound, "{missing:?}");
    Ok(())
}
