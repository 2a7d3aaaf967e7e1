//! `aduan` binary entry point: logging, argument parsing, exit codes.

use clap::Parser;

fn main() {
    let cli = match aduan::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // clap prints help/version with exit 0 and usage errors with exit 2.
            e.exit();
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(aduan::cli::run(cli));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    if let Err(f) = result {
        eprintln!("error: {:#}", f.error);
        std::process::exit(f.code);
    }
}
