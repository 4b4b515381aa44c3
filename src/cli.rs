//! The command line: `serve` (default), `migrate`, `openapi`, and the operator's `apps`,
//! `staff`, `db copy` and `audit` commands, which print JSON so scripts can read them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use diesel::Connection;
use serde_json::json;

use crate::app::Application;
use crate::config::Settings;
use crate::db::Db;
use crate::domain::MunicipalityCode;
use crate::service::audit::{self, Actor, AuditAction, AuditFilter, Event};
use crate::service::{principals, staff_accounts};

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
    /// Database work: `copy` every table to another database (SQLite to PostgreSQL, or back).
    #[command(subcommand)]
    Db(DbCommand),
    /// Read the audit trail (監査記録), newest first, one JSON object per line.
    Audit {
        /// Only this municipality's events.
        #[arg(long)]
        municipality: Option<String>,
        /// Only this action, e.g. `notice.approved`.
        #[arg(long)]
        action: Option<String>,
        /// Events at or after this instant (RFC 3339).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// Events before this instant (RFC 3339).
        #[arg(long)]
        until: Option<chrono::DateTime<chrono::FixedOffset>>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
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
    /// Create a staff key; prints {"staff_id", "municipality_code", "api_key"}. With `--login`,
    /// create a person's account for the console instead; prints its one-time password, to be
    /// changed at the first sign-in.
    Create {
        /// The 6-digit 全国地方公共団体コード, e.g. 131016.
        #[arg(long)]
        municipality: String,
        #[arg(long)]
        name: String,
        /// The key (or account) may list and revoke its municipality's staff keys.
        #[arg(long)]
        admin: bool,
        /// Sign-in name for the console (lower-case letters, digits, `._-@`).
        #[arg(long)]
        login: Option<String>,
    },
    /// Revoke a staff key.
    Revoke {
        #[arg(long)]
        staff_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy every table into a database holding no table (migrated first), sealed values as
    /// they are: run with the settings whose encryption keys sealed them, which must open the
    /// source's sealed data before anything is written. Checks each table's row count and opens
    /// the key canaries and a sample of every sealed column; prints a JSON report. A failed copy
    /// leaves the target as it was.
    Copy {
        /// The nonstop database copied, e.g. sqlite://data/nonstop.sqlite3 (must exist).
        #[arg(long)]
        from: String,
        /// The database written, holding no table yet, e.g. postgres://nonstop@db/nonstop.
        #[arg(long)]
        to: String,
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
            let db = open_database(&settings)?;
            // Nothing is generated or sealed here; a database whose sealed data the keys do not
            // open is refused now rather than at `serve`.
            crate::db::canary::keys_for_reading(&settings, &db)?;
            tracing::info!("migrations are up to date");
            Ok(())
        }
        Command::Apps(apps) => {
            let db = open_database(&settings)?;
            let mut conn = db.get()?;
            let output = conn.transaction(|conn| match apps {
                AppsCommand::Create { name } => {
                    let (app_id, key) = principals::create_app(conn, &name, now())?;
                    let actor = Actor::operator("apps create");
                    audit::record(conn, &actor, Event::new(AuditAction::AppCreated, "app", &app_id), now())?;
                    audit::record(conn, &actor, Event::new(AuditAction::AppKeyCreated, "app_key", &key.key_id), now())?;
                    Ok::<_, crate::error::Error>(
                        json!({ "app_id": app_id, "key_id": key.key_id, "api_key": key.api_key }),
                    )
                }
                AppsCommand::Revoke { app_id } => {
                    principals::revoke_app(conn, &app_id, now())?;
                    let actor = Actor::operator("apps revoke");
                    audit::record(conn, &actor, Event::new(AuditAction::AppRevoked, "app", &app_id), now())?;
                    Ok(json!({ "revoked": app_id }))
                }
            })?;
            println!("{output}");
            Ok(())
        }
        Command::Staff(staff) => {
            let db = open_database(&settings)?;
            let mut conn = db.get()?;
            let output = match staff {
                StaffCommand::Create { municipality, name, admin, login: Some(login) } => {
                    let code =
                        MunicipalityCode::parse(&municipality).map_err(|e| anyhow::anyhow!("--municipality: {e}"))?;
                    let account = conn.transaction(|conn| {
                        let account = staff_accounts::create(conn, &code, &name, &login, admin, now())?;
                        let event = Event::new(AuditAction::StaffAccountCreated, "staff_account", &account.staff_id)
                            .in_municipality(code.as_str())
                            .detail(if admin { "admin" } else { "staff" });
                        audit::record(conn, &Actor::operator("staff create"), event, now())?;
                        Ok::<_, crate::error::Error>(account)
                    })?;
                    json!({ "staff_id": account.staff_id, "municipality_code": code, "admin": admin, "login": login,
                            "one_time_password": account.one_time_password, "sign_in": "/console/sign-in" })
                }
                StaffCommand::Create { municipality, name, admin, login: None } => {
                    let code =
                        MunicipalityCode::parse(&municipality).map_err(|e| anyhow::anyhow!("--municipality: {e}"))?;
                    let grant = settings.sessions.staff_grant(admin);
                    let (staff_id, api_key) = conn.transaction(|conn| {
                        let (staff_id, api_key) = principals::create_staff(conn, &code, &name, grant, now())?;
                        let event = Event::new(AuditAction::StaffKeyCreated, "staff_key", &staff_id)
                            .in_municipality(code.as_str())
                            .detail(if admin { "admin" } else { "staff" });
                        audit::record(conn, &Actor::operator("staff create"), event, now())?;
                        Ok::<_, crate::error::Error>((staff_id, api_key))
                    })?;
                    let expires_at = (now() + grant.valid_for).and_utc();
                    json!({ "staff_id": staff_id, "municipality_code": code, "admin": admin,
                            "expires_at": expires_at, "api_key": api_key })
                }
                StaffCommand::Revoke { staff_id } => {
                    conn.transaction(|conn| {
                        let code = principals::revoke_staff(conn, &staff_id, None, now())?;
                        let event =
                            Event::new(AuditAction::StaffKeyRevoked, "staff_key", &staff_id).in_municipality(&code);
                        audit::record(conn, &Actor::operator("staff revoke"), event, now())
                    })?;
                    json!({ "revoked": staff_id })
                }
            };
            println!("{output}");
            Ok(())
        }
        Command::Audit { municipality, action, since, until, limit } => {
            let action = action
                .map(|a| {
                    serde_json::from_value::<AuditAction>(json!(a))
                        .map_err(|_| anyhow::anyhow!("--action: '{a}' is not an audit action"))
                })
                .transpose()?;
            let filter = AuditFilter {
                municipality,
                action,
                target_kind: None,
                since: since.map(|t| t.naive_utc()),
                until: until.map(|t| t.naive_utc()),
                before: None,
                limit: limit.clamp(1, 10_000),
            };
            let db = open_database(&settings)?;
            let mut conn = db.get()?;
            for event in audit::list(&mut conn, &filter)?.items {
                println!("{}", serde_json::to_string(&event)?);
            }
            Ok(())
        }
        Command::Db(DbCommand::Copy { from, to }) => {
            let report = crate::db::copy::run(&settings, &from, &to)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
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
