//! The `parley` binary: parse the command line, set up logging, dispatch.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use parley::cli::{self, CertCommand, Cli, Command};
use parley::core::config::{LogFormat, TlsSource};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(ref args) => {
            cli::load_config(cli.config.as_deref(), args).and_then(|config| {
                init_logging(config.log_format);
                runtime()?.block_on(serve(config))
            })
        }
        Command::Cert(CertCommand::Ca { domain, out }) => cli::cert_ca(&domain, &out),
        Command::Cert(CertCommand::Issue {
            ca_cert,
            ca_key,
            domain,
            out,
        }) => cli::cert_issue(&ca_cert, &ca_key, &domain, &out),
        Command::Admin(args) => {
            let overrides = cli::ServeArgs {
                data_dir: args.data_dir,
                database_url: args.database_url,
                ..cli::ServeArgs::default()
            };
            cli::load_config(cli.config.as_deref(), &overrides)
                .and_then(|config| runtime()?.block_on(cli::admin(config, args.command)))
        }
        Command::CaptchaSamples { out, count, seed } => {
            parley::service::captcha::write_samples(&out, count, seed)
        }
        Command::Healthcheck(args) => {
            cli::load_config(cli.config.as_deref(), &cli::ServeArgs::default()).and_then(|config| {
                runtime()?.block_on(parley::healthcheck::run(
                    &config,
                    args.url.as_deref(),
                    args.ca_file,
                    Duration::from_secs(args.timeout),
                ))
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("parley: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,rustls=warn"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn serve(config: parley::core::Config) -> anyhow::Result<()> {
    let self_issued = config.tls_source() == TlsSource::SelfIssued;
    let config_for_banner = config.clone();
    let server = parley::server::start(config).await?;
    print!(
        "{}",
        cli::banner(
            &config_for_banner,
            server.local_addr.port(),
            server.ca_file.as_deref(),
            self_issued
        )
    );
    use std::io::Write;
    std::io::stdout().flush().ok();
    tracing::info!(addr = %server.local_addr, "listening");
    if let Some(addr) = server.metrics_addr {
        tracing::info!(%addr, "serving Prometheus metrics at http://{addr}/metrics");
    }

    let token = server.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        token.cancel();
    });
    server.wait().await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers we can only run until killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
