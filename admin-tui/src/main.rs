//! `meshtop` binary: parses arguments, optionally starts the demo mesh (and attaches to every
//! demo service's admin endpoint with the demo's token), spawns one data task per admin endpoint,
//! and runs the terminal shell until quit, then stops the demo. See the crate docs of `meshtop`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use crossterm::event::EventStream;
use meshtop::app::App;
use meshtop::cli::{Cli, Env};
use meshtop::data::{EndpointHandle, TaskConfig};
use meshtop::shell;
use meshwork_examples::demo::{Demo, DemoConfig, DemoHandle};
use tokio::sync::mpsc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = Env {
        endpoints: std::env::var("MESHTOP_ENDPOINTS").ok(),
        token: std::env::var("MESHTOP_TOKEN").ok(),
    };
    let config = match cli.resolve(&env, &|p| std::fs::read_to_string(p)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("meshtop: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("meshtop: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meshtop: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(mut config: meshtop::cli::Config) -> anyhow::Result<()> {
    let demo = if config.demo {
        // A given token guards the demo's endpoints too, so one token works for all of them.
        let demo = Demo::start(DemoConfig {
            admin_token: config.token.clone(),
            ..DemoConfig::default()
        })
        .await?;
        let addrs = demo
            .admin_endpoints()
            .into_iter()
            .map(|(_, a)| a.to_string());
        config.add_demo(addrs, demo.admin_token());
        Some(demo)
    } else {
        None
    };
    let task_config = TaskConfig::new(config.token.as_deref())?;
    let (tx, rx) = mpsc::channel(1024);
    let handles: Vec<EndpointHandle> = config
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, addr)| EndpointHandle::spawn(i, addr.clone(), task_config.clone(), tx.clone()))
        .collect();
    let mut app = App::new(config.endpoints.iter().cloned());
    if let Some(demo) = &demo {
        app.notice = Some(demo_notice(demo));
    }
    drop(tx);
    let result = {
        let (mut terminal, _guard) = shell::terminal::enter()?;
        shell::run(
            &mut terminal,
            app,
            EventStream::new(),
            rx,
            &handles,
            Duration::from_secs(1),
        )
        .await
    };
    drop(handles);
    if let Some(demo) = demo {
        demo.shutdown().await;
    }
    result.map(|_| ())
}

/// The status line while the demo runs: what was started and how to stop it.
fn demo_notice(demo: &DemoHandle) -> String {
    format!(
        "demo mesh running: control plane {}, {} services with admin endpoints; q stops it",
        demo.control_plane_addr(),
        demo.admin_endpoints().len()
    )
}
