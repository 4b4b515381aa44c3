//! 自治体: a municipality's settings, read and replaced by its own staff.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::planning::PlanDiff;
use super::principals::Principal;
use super::utc;
use super::UseCase;
use crate::db::rows::MunicipalitySettingsRow;
use crate::db::schema::municipality_settings;
use crate::db::DbConnection;
use crate::domain::overrides::MunicipalityOverride;
use crate::domain::planner::PlanningContext;
use crate::domain::MunicipalityCode;
use crate::error::Error;

/// A municipality's settings and where they come from.
#[derive(Debug, Serialize, ToSchema)]
pub struct MunicipalitySettings {
    pub municipality_code: String,
    /// `staff` (set through the API), `shipped` (nonstop's data) or `default` (none: the
    /// catalog's defaults apply).
    pub source: String,
    pub settings: MunicipalityOverride,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The result of replacing the settings: what re-planning the residents changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsReplaced {
    pub settings: MunicipalitySettings,
    /// Resident families re-planned under the new settings.
    pub families_replanned: usize,
    pub changes: PlanDiff,
}

/// The staff member, if the caller is staff of this municipality.
pub fn staff_of<'p>(principal: &'p Principal, code: &MunicipalityCode) -> Result<&'p str, Error> {
    match principal {
        Principal::Staff { staff_id, municipality, .. } if municipality == code => Ok(staff_id),
        Principal::Staff { .. } => Err(Error::Forbidden("a staff key manages its own municipality only")),
        _ => Err(Error::Forbidden("only the municipality's staff manage its settings")),
    }
}

pub fn get(
    conn: &mut DbConnection,
    ctx: &PlanningContext,
    code: &MunicipalityCode,
) -> Result<MunicipalitySettings, Error> {
    let row: Option<MunicipalitySettingsRow> = municipality_settings::table
        .find(code.as_str())
        .select(MunicipalitySettingsRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(row) = row {
        return Ok(MunicipalitySettings {
            municipality_code: row.municipality_code,
            source: "staff".into(),
            settings: serde_json::from_str(&row.document)
                .map_err(|e| Error::unreadable("municipality_settings.document", &e))?,
            updated_at: Some(utc(row.updated_at)),
        });
    }
    let (source, settings) = match ctx.shipped.0.get(code.as_str()) {
        Some(shipped) => ("shipped", shipped.clone()),
        None => ("default", MunicipalityOverride::default()),
    };
    Ok(MunicipalitySettings { municipality_code: code.to_string(), source: source.into(), settings, updated_at: None })
}

/// Replaces the settings and starts re-planning every resident family under them (its tasks,
/// drafts and standing notices: `replan::Replanner`, a batch per transaction, after this one
/// commits). A refused document leaves the old settings in force. The result counts no family
/// yet: the caller adds what the re-planning did.
pub fn replace(
    conn: &mut DbConnection,
    uc: &UseCase,
    code: &MunicipalityCode,
    settings: MunicipalityOverride,
    staff_id: &str,
) -> Result<SettingsReplaced, Error> {
    let (ctx, now) = (&*uc.planning, uc.now);
    settings.validate(&ctx.catalog).map_err(Error::Validation)?;
    let row = MunicipalitySettingsRow {
        municipality_code: code.to_string(),
        document: serde_json::to_string(&settings).map_err(|e| Error::internal(e.to_string()))?,
        updated_at: now,
        updated_by: staff_id.to_owned(),
    };
    let exists: i64 = municipality_settings::table
        .filter(municipality_settings::municipality_code.eq(code.as_str()))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        diesel::update(municipality_settings::table.find(code.as_str())).set(&row).execute(conn)?;
    } else {
        diesel::insert_into(municipality_settings::table).values(&row).execute(conn)?;
    }
    super::replan::start(conn, code.as_str(), now)?;
    Ok(SettingsReplaced { settings: get(conn, ctx, code)?, families_replanned: 0, changes: PlanDiff::default() })
}

/// Replaces the settings as `staff_id`, with the audit event that records it (API and console).
pub fn replace_audited(
    conn: &mut DbConnection,
    uc: &crate::service::UseCase,
    code: &MunicipalityCode,
    settings: MunicipalityOverride,
    staff_id: &str,
) -> Result<(SettingsReplaced, crate::service::audit::Event), Error> {
    use crate::service::audit::{AuditAction, Event};
    let replaced = replace(conn, uc, code, settings, staff_id)?;
    let event = Event::new(AuditAction::MunicipalitySettingsReplaced, "municipality", code.as_str())
        .in_municipality(code.as_str());
    Ok((replaced, event))
}

/// The name families see for a municipality: its settings' name, or its code.
pub fn display_name(conn: &mut DbConnection, ctx: &PlanningContext, code: &str) -> Result<String, Error> {
    let Ok(parsed) = MunicipalityCode::parse(code) else { return Ok(code.to_owned()) };
    Ok(get(conn, ctx, &parsed)?.settings.name.unwrap_or_else(|| code.to_owned()))
}
