//! Applies [`DataEvent`]s from the data tasks to the state: connection changes, snapshots, events,
//! fault lists, config dumps and command results.
//!
//! Pure; the tasks themselves live in [`crate::data`].

use meshwork_proto::admin::v1::FaultRuleChange;
use meshwork_proto::admin::v1::event::Kind;

use super::log::{LogKind, LogLine, describe_event};
use super::{App, DataEvent};
use crate::app::form::human_ms;
use crate::model::Conn;

/// Applies one report of endpoint `index`; reports for unknown endpoints are ignored.
pub(super) fn on_data(app: &mut App, index: usize, event: DataEvent) {
    let Some(ep) = app.endpoints.get_mut(index) else {
        return;
    };
    match event {
        DataEvent::Connecting { attempt } => ep.conn = Conn::Connecting { attempt },
        DataEvent::Connected(info) => {
            ep.conn = Conn::Connected;
            ep.last_error = None;
            ep.info = Some(*info);
            let line = conn_line(ep.name(), format!("connected to {}", ep.addr));
            app.log.push(line);
        }
        DataEvent::Snapshot(snapshot) => ep.apply_snapshot(*snapshot),
        DataEvent::Event(event) => {
            if let Some(Kind::FaultRuleChanged(change)) = &event.kind
                && change.change() == FaultRuleChange::Set
            {
                // Set again (by meshtop's toggle or by someone else): the paused copy is stale.
                if let Some(rule) = &change.rule {
                    let spec = rule.spec.clone();
                    app.paused
                        .retain(|p| !(p.endpoint == index && Some(&p.spec) == spec.as_ref()));
                }
            }
            if let Some(line) = describe_event(ep.name(), &event) {
                app.log.push(line);
            }
        }
        DataEvent::Failed { error, retry_in } => {
            let was_connected = ep.conn == Conn::Connected;
            let text = format!(
                "{error} (retrying in {})",
                human_ms(retry_in.as_millis() as u64)
            );
            let first_failure = ep.last_error.as_ref() != Some(&error);
            ep.last_error = Some(error.clone());
            ep.conn = Conn::Failed { error, retry_in };
            if was_connected || first_failure {
                let line = conn_line(ep.name(), text);
                app.log.push(line);
            }
        }
        DataEvent::Faults(faults) => ep.faults = Some(faults),
        DataEvent::ConfigDump(dump) => ep.config_dump = Some(dump),
        DataEvent::CommandResult(result) => {
            let text = match result {
                Ok(ok) => ok,
                Err(err) => format!("failed: {err}"),
            };
            app.notice = Some(format!("{}: {text}", ep.name()));
        }
    }
}

fn conn_line(source: &str, text: String) -> LogLine {
    LogLine {
        at: String::new(),
        source: source.to_owned(),
        kind: LogKind::Conn,
        text,
    }
}
