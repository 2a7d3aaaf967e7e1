//! The `aduan` daemon: configuration → migrate → spawn channels, HTTP server and workers →
//! wait for a signal → drain.
//!
//! - [`config`]: layered settings and their validation.
//! - [`app`]: [`app::Application`], which binds, serves and shuts down; tests start it
//!   in-process on port 0.
//! - [`cli`]: the command line (`serve`, `migrate`, `check-config`, `user …`, `export`).

pub mod app;
pub mod channels;
pub mod cli;
pub mod config;
pub mod mailer;
pub mod outbox_task;
pub mod privacy;
pub mod schedulers;
