//! `meshtop` binary: parses arguments, optionally starts the demo mesh, spawns one data task per
//! admin endpoint, and runs the terminal shell until quit. See the crate docs of `meshtop`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use crossterm::event::EventStream;
use meshtop::app::App;
use meshtop::cli::{Cli, Env};
use meshtop::data::{EndpointHandle, TaskConfig};
use meshtop::shell;
use meshwork_examples::demo::{Demo, DemoConfig};
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

async fn run(config: meshtop::cli::Config) -> anyhow::Result<()> {
    let task_config = TaskConfig::new(config.token.as_deref())?;
    let demo = if config.demo {
        Some(Demo::start(DemoConfig::default()).await?)
    } else {
        None
    };
    let (tx, rx) = mpsc::channel(1024);
    let handles: Vec<EndpointHandle> = config
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, addr)| EndpointHandle::spawn(i, addr.clone(), task_config.clone(), tx.clone()))
        .collect();
    let mut app = App::new(config.endpoints.iter().cloned());
    if let Some(demo) = &demo {
        // DemoHandle has no admin address accessor yet: the demo's services do not serve admin.
        app.notice = Some(format!(
            "demo mesh running (control plane {}, {} backends); its services expose no admin endpoint yet, so there is nothing to watch",
            demo.control_plane_addr(),
            demo.backends().len()
        ));
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
