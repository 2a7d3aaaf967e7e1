//! `aduan-bench`: load generator and memory probe for the aduan daemon.
//!
//! # `aduan-bench intake`
//!
//! Measures how many complaints a second the public JSON intake (`POST /api/v1/complaints`)
//! can commit, how long each takes, and how much memory the daemon uses doing it.
//!
//! * **Load.** `--clients` concurrent Tokio tasks, each with its own keep-alive
//!   `reqwest::Client`, file complaints back to back (closed loop: one request in flight per
//!   client). Bodies are realistic Indonesian complaints, all different (a shared counter
//!   `n` is written into name, e-mail, phone and the end of the body as `#n`), rotating
//!   through the categories `perilaku_pegawai`, `sarana_prasarana`, `pelayanan`, `lain_lain`.
//! * **Phases.** A `--warmup` (default 3 s; connections open, caches fill), the measured
//!   window of `--duration`, then a drain in which the clients send nothing new and the
//!   requests still in flight finish (bounded by `--timeout`).
//! * **Success** is status `201` *and* a JSON body with a non-empty `"ticket"`. Anything else
//!   is counted as an error under its status code, or `connect` / `timeout` / `request` /
//!   `body` when no full response came back.
//! * **Figures.** Totals (requests, successes, `201` responses, errors by code) cover the
//!   whole run, warm-up and drain included, so `created_201` is the number of complaints the
//!   daemon said it stored. Throughput and latency cover the window only: requests whose
//!   response completed in it; throughput = window successes / window length, latency =
//!   send-to-last-byte of each window success, with p50/p90/p99 computed exactly
//!   (nearest rank over all samples, sorted) and the max.
//! * **Memory** (with `--pid`): `VmRSS` from `/proc/PID/status` once before the load (idle
//!   RSS) and then every `--sample-every` (100 ms) until the drain ends (peak RSS is the
//!   largest sample), and `VmRSS`/`VmHWM` once at the end. `VmHWM` is the kernel's
//!   high-water mark over the process's whole life, so it also catches what falls between
//!   samples (and start-up peaks).
//!
//! The report is a table on stdout; `--json` adds one JSON line with every figure as the
//! last line of stdout. Progress goes to stderr. The load generator shares the machine with
//! the daemon: on a small box, keep that in mind (and `--threads` bounds its runtime).
//!
//! # `aduan-bench imap`
//!
//! IMAP intake from a private local Dovecot (started through `scripts/dovecot-test`) into a
//! fresh SQLite database, in process: `--messages` (5,000) seeded mails → messages/s until
//! all are committed with their acknowledgement queued, and peak RSS; then the IDLE
//! latency from APPEND to the acknowledgement at an in-process SMTP sink for
//! `--latency-messages` (50) mails, one every `--interval` (200 ms). See `imap.rs`.
//! Exit code 1 when a correctness check fails (counts of complaints, acknowledgements,
//! archived mail); the targets are reported as met / MISSED. Then (issue 16, see
//! `timers.rs`) the SLA escalation lateness for `--escalations` (20) complaints whose
//! triage step lasts 3 s, and the outbound rate of `--outbound` (5,000) acknowledgements
//! to a local SMTP sink; `--messages 0 --latency-messages 0` runs only these (no Dovecot).
//!
//! # `aduan-bench login-flood`
//!
//! `--logins` (500) admin logins posted at once from `--sources` (100) loopback addresses,
//! with `/healthz` timed every 20 ms and the daemon's RSS sampled throughout; reports the
//! answers by status, `/healthz` p99/max and peak RSS / VmHWM against the issue-14 targets
//! (RSS ≤ 150 MB, `/healthz` ≤ 100 ms). Exit code 1 when a target is missed. See `login.rs`.
//!
//! # `aduan-bench rss --pid PID`
//!
//! Prints `VmRSS` and `VmHWM` of a process in MiB (or kB with `--json`).
//!
//! # Exit codes
//!
//! 0 done; 1 a failure (bad URL, unreadable `/proc/PID/status`, …); 2 bad usage;
//! 3 the load ran but not one request in the measured window succeeded (report printed).

mod detail;
mod imap;
mod intake;
mod login;
mod payload;
mod rss;
mod stats;
mod timers;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(
    name = "aduan-bench",
    version,
    about = "Load generator and memory probe for the aduan complaint desk"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// File complaints through POST {url}/api/v1/complaints from concurrent clients and
    /// report throughput, latency and (with --pid) the daemon's memory.
    Intake(IntakeArgs),
    /// IMAP intake throughput and IDLE acknowledgement latency against a private Dovecot
    /// (in process, SQLite).
    Imap(ImapArgs),
    /// File complaints with a full identity, then time the kasi's detail view of them
    /// (`GET /api/v1/admin/complaints/{ticket}`) from concurrent clients.
    Detail(DetailArgs),
    /// Post many admin logins at once while timing /healthz and sampling the daemon's RSS.
    LoginFlood(LoginFloodArgs),
    /// Print VmRSS and VmHWM of a process.
    Rss {
        /// Process id (Linux /proc/PID/status).
        #[arg(long)]
        pid: u32,
        /// One JSON line, in kB.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
struct IntakeArgs {
    /// Base URL of the daemon; several daemons (replicas) as a comma list or a repeated
    /// `--url`, requests then go to them in turn (round-robin).
    #[arg(long, default_value = "http://127.0.0.1:8080", value_delimiter = ',')]
    url: Vec<String>,
    /// Concurrent clients (each one keep-alive connection, one request in flight).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Length of the measured window (e.g. 20s, 1m, 500ms).
    #[arg(long, default_value = "20s", value_parser = stats::parse_duration)]
    duration: Duration,
    /// Load before the measured window, not counted in throughput or latency.
    #[arg(long, default_value = "3s", value_parser = stats::parse_duration)]
    warmup: Duration,
    /// Per-request timeout (connect, send and the whole response).
    #[arg(long, default_value = "30s", value_parser = stats::parse_duration)]
    timeout: Duration,
    /// Daemon pid: sample its VmRSS and report idle / peak RSS and VmHWM.
    #[arg(long)]
    pid: Option<u32>,
    /// Memory sampling period (with --pid).
    #[arg(long, default_value = "100ms", value_parser = stats::parse_duration)]
    sample_every: Duration,
    /// Worker threads of the load generator's runtime (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Also print every figure as one JSON line (the last line of stdout).
    #[arg(long)]
    json: bool,
    /// Drive `POST /webhooks/meta` with signed WhatsApp deliveries instead (the daemon's
    /// `channels.meta.app_secret`).
    #[arg(long)]
    meta_app_secret: Option<String>,
}

#[derive(clap::Args, Debug)]
struct LoginFloodArgs {
    /// Base URL of the daemon.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Username of an account with an admin password (`aduan user add --password-stdin`).
    #[arg(long)]
    username: String,
    /// Its password (the environment variable keeps it out of `ps`).
    #[arg(long, env = "BENCH_LOGIN_PASSWORD", hide_env_values = true)]
    password: String,
    /// Logins posted at once.
    #[arg(long, default_value_t = 500)]
    logins: usize,
    /// Loopback source addresses they come from (127.0.0.2 onwards, at most 250).
    #[arg(long, default_value_t = 100)]
    sources: usize,
    /// Per-request timeout.
    #[arg(long, default_value = "60s", value_parser = stats::parse_duration)]
    timeout: Duration,
    /// Period of the /healthz probe.
    #[arg(long, default_value = "20ms", value_parser = stats::parse_duration)]
    probe_every: Duration,
    /// How long to keep probing after the last login answered.
    #[arg(long, default_value = "2s", value_parser = stats::parse_duration)]
    settle: Duration,
    /// Daemon pid: sample its VmRSS and report idle / peak RSS and VmHWM.
    #[arg(long)]
    pid: Option<u32>,
    /// Also print every figure as one JSON line (the last line of stdout).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct DetailArgs {
    /// Base URL of the daemon.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API token of a kasi account (`aduan user add --role kasi` prints one).
    #[arg(long)]
    token: String,
    /// Complaints filed first and then viewed.
    #[arg(long, default_value_t = 200)]
    complaints: usize,
    /// Concurrent viewers.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    #[arg(long, default_value = "10s", value_parser = stats::parse_duration)]
    duration: Duration,
    /// Also print the figures as one JSON line.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct ImapArgs {
    /// Messages seeded for the throughput run (0 skips it).
    #[arg(long, default_value_t = 5000)]
    messages: usize,
    /// Messages sent one at a time for the IDLE latency run (0 skips it).
    #[arg(long, default_value_t = 50)]
    latency_messages: usize,
    /// Pause between two latency messages.
    #[arg(long, default_value = "200ms", value_parser = stats::parse_duration)]
    interval: Duration,
    /// Complaints for the escalation-lateness run (triage step 3 s; 0 skips it).
    #[arg(long, default_value_t = 20)]
    escalations: usize,
    /// Acknowledgements for the outbound run to a local SMTP sink (0 skips it).
    #[arg(long, default_value_t = 5000)]
    outbound: usize,
    /// Sends at once in the outbound run (the daemon's default; the SMTP pool holds 10).
    #[arg(long, default_value_t = aduan_core::outbox::DEFAULT_CONCURRENCY)]
    outbound_concurrency: usize,
    /// Also print every figure as one JSON line (the last line of stdout).
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("aduan-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Cmd::Rss { pid, json } => {
            let m = rss::read(pid)?;
            if json {
                println!(
                    "{}",
                    json!({"pid": pid, "rss_kb": m.rss_kb, "hwm_kb": m.hwm_kb})
                );
            } else {
                println!("VmRSS {:.1} MiB", rss::mib(m.rss_kb));
                println!("VmHWM {:.1} MiB", rss::mib(m.hwm_kb));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::LoginFlood(a) => {
            anyhow::ensure!(!a.probe_every.is_zero(), "--probe-every must be above zero");
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let opts = login::Opts {
                url: a.url,
                username: a.username,
                password: a.password,
                logins: a.logins,
                sources: a.sources,
                timeout: a.timeout,
                probe_every: a.probe_every,
                settle: a.settle,
                pid: a.pid,
            };
            let report = rt.block_on(login::run(&opts))?;
            print!("{}", report.table());
            if a.json {
                println!("{}", report.to_json());
            }
            Ok(if report.met() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::Detail(a) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let opts = detail::Opts {
                url: a.url,
                token: a.token,
                complaints: a.complaints,
                clients: a.clients,
                duration: a.duration,
            };
            let report = rt.block_on(detail::run(&opts))?;
            print!("{}", report.table());
            if a.json {
                println!("{}", report.to_json());
            }
            Ok(if report.errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::Imap(a) => {
            anyhow::ensure!(!a.interval.is_zero(), "--interval must be above zero");
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let opts = imap::Opts {
                messages: a.messages,
                latency_messages: a.latency_messages,
                interval: a.interval,
                escalations: a.escalations,
                outbound: a.outbound,
                outbound_concurrency: a.outbound_concurrency,
            };
            let report = rt.block_on(imap::run(&opts))?;
            print!("{}", report.table());
            if a.json {
                println!("{}", report.to_json());
            }
            if !report.correct() {
                eprintln!("aduan-bench: a correctness check failed (see the checks line)");
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Intake(a) => {
            anyhow::ensure!(
                !a.sample_every.is_zero(),
                "--sample-every must be above zero"
            );
            let mut rt = tokio::runtime::Builder::new_multi_thread();
            rt.enable_all();
            if let Some(n) = a.threads {
                anyhow::ensure!(n > 0, "--threads must be at least 1");
                rt.worker_threads(n);
            }
            let rt = rt.build()?;
            let opts = intake::Opts {
                urls: a.url,
                clients: a.clients,
                duration: a.duration,
                warmup: a.warmup,
                timeout: a.timeout,
                pid: a.pid,
                sample_every: a.sample_every,
                meta_app_secret: a.meta_app_secret,
            };
            let report = rt.block_on(intake::run(&opts))?;
            print!("{}", report.table());
            if a.json {
                println!("{}", report.to_json());
            }
            if report.window_successes == 0 {
                eprintln!("aduan-bench: no request succeeded in the measured window");
                return Ok(ExitCode::from(3));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn imap_defaults() {
        let cli = Cli::try_parse_from(["aduan-bench", "imap"]).unwrap();
        let Cmd::Imap(a) = cli.command else {
            panic!("not imap")
        };
        assert_eq!(a.messages, 5000);
        assert_eq!(a.latency_messages, 50);
        assert_eq!(a.interval, Duration::from_millis(200));
        assert!(!a.json);
        let cli =
            Cli::try_parse_from(["aduan-bench", "imap", "--messages", "0", "--interval", "1s"])
                .unwrap();
        let Cmd::Imap(a) = cli.command else {
            panic!("not imap")
        };
        assert_eq!(a.messages, 0);
        assert_eq!(a.interval, Duration::from_secs(1));
    }

    #[test]
    fn intake_defaults_and_durations() {
        let cli = Cli::try_parse_from([
            "aduan-bench",
            "intake",
            "--duration",
            "5s",
            "--pid",
            "42",
            "--json",
        ])
        .unwrap();
        let Cmd::Intake(a) = cli.command else {
            panic!("not intake")
        };
        assert_eq!(a.url, ["http://127.0.0.1:8080"]);
        assert_eq!(a.clients, 64);
        assert_eq!(a.duration, Duration::from_secs(5));
        assert_eq!(a.warmup, Duration::from_secs(3));
        assert_eq!(a.sample_every, Duration::from_millis(100));
        assert_eq!(a.pid, Some(42));
        assert!(a.json);
        assert!(Cli::try_parse_from(["aduan-bench", "intake", "--duration", "x"]).is_err());
        let cli = Cli::try_parse_from([
            "aduan-bench",
            "intake",
            "--url",
            "http://127.0.0.1:1,http://127.0.0.1:2",
            "--url",
            "http://127.0.0.1:3",
        ])
        .unwrap();
        let Cmd::Intake(a) = cli.command else {
            panic!("not intake")
        };
        assert_eq!(
            a.url,
            [
                "http://127.0.0.1:1",
                "http://127.0.0.1:2",
                "http://127.0.0.1:3"
            ]
        );
    }
}
