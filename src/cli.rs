//! The command line: `serve` (default), `migrate`, `openapi`, and the operator's `apps` and
//! `staff` commands, which print JSON so scripts can read them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use diesel::Connection;
use serde_json::json;

use crate::app::Application;
use crate::config::Settings;
use crate::db::Db;
use crate::domain::MunicipalityCode;
use crate::service::principals;

#[derive(Debug, Parser)]
#[command(name = "nonstop", version, about = "子育てノンストップ: reminders and pre-filled applications for families")]
pub struct Cli {
    /// Settings file (TOML). Without it, `nonstop.toml` in the working directory is read when present.
    #[arg(long, global = true, env = "NONSTOP_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API and run the background workers (the default).
    Serve,
    /// Run the database migrations and exit.
    Migrate,
    /// Print the OpenAPI document as JSON (needs no database).
    Openapi,
    /// Vendor apps: create one (prints its first API key, once) or revoke one.
    #[command(subcommand)]
    Apps(AppsCommand),
    /// Municipal staff keys, scoped to one 全国地方公共団体コード.
    #[command(subcommand)]
    Staff(StaffCommand),
}

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Create a vendor app; prints {"app_id", "key_id", "api_key"}.
    Create {
        #[arg(long)]
        name: String,
    },
    /// Revoke an app and all its keys.
    Revoke {
        #[arg(long)]
        app_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Create a staff key; prints {"staff_id", "municipality_code", "api_key"}.
    Create {
        /// The 6-digit 全国地方公共団体コード, e.g. 131016.
        #[arg(long)]
        municipality: String,
        #[arg(long)]
        name: String,
    },
    /// Revoke a staff key.
    Revoke {
        #[arg(long)]
        staff_id: String,
    },
}

/// Runs the command; the error is what the operator reads.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        println!("{}", crate::api::openapi().to_pretty_json()?);
        return Ok(());
    }
    let settings = Settings::load(cli.config.as_deref()).map_err(anyhow::Error::msg)?;
    crate::telemetry::init_logging(&settings.log);
    let clock = settings.clock.clock().map_err(anyhow::Error::msg)?;
    let now = || clock.now();
    match command {
        Command::Serve => serve(settings),
        Command::Migrate => {
            open_database(&settings)?;
            tracing::info!("migrations are up to date");
            Ok(())
        }
        Command::Apps(apps) => {
            let db = open_database(&settings)?;
            let mut conn = db.get()?;
            let output = conn.transaction(|conn| match apps {
                AppsCommand::Create { name } => principals::create_app(conn, &name, now())
                    .map(|(app_id, key)| json!({ "app_id": app_id, "key_id": key.key_id, "api_key": key.api_key })),
                AppsCommand::Revoke { app_id } => {
                    principals::revoke_app(conn, &app_id, now()).map(|()| json!({ "revoked": app_id }))
                }
            })?;
            println!("{output}");
            Ok(())
        }
        Command::Staff(staff) => {
            let db = open_database(&settings)?;
            let mut conn = db.get()?;
            let output = match staff {
                StaffCommand::Create { municipality, name } => {
                    let code =
                        MunicipalityCode::parse(&municipality).map_err(|e| anyhow::anyhow!("--municipality: {e}"))?;
                    let (staff_id, api_key) =
                        conn.transaction(|conn| principals::create_staff(conn, &code, &name, now()))?;
                    json!({ "staff_id": staff_id, "municipality_code": code, "api_key": api_key })
                }
                StaffCommand::Revoke { staff_id } => {
                    conn.transaction(|conn| principals::revoke_staff(conn, &staff_id, now()))?;
                    json!({ "revoked": staff_id })
                }
            };
            println!("{output}");
            Ok(())
        }
        Command::Openapi => unreachable!("handled above"),
    }
}

fn open_database(settings: &Settings) -> anyhow::Result<Db> {
    let location = settings.database_location().map_err(anyhow::Error::msg)?;
    let db = Db::connect(location, 2, settings.database.sqlite_busy_timeout_ms)?;
    db.migrate()?;
    Ok(db)
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let (host, backend) = (settings.server.host.clone(), settings.database_location().map(|l| l.backend_name()));
        let app = Application::build(settings)?;
        tracing::info!(host = %host, port = app.port(), database = backend.unwrap_or("?"), "nonstop is serving");
        app.run_until_stopped().await?;
        tracing::info!("nonstop stopped");
        Ok(())
    })
}
