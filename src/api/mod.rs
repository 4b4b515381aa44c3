//! HTTP only: routes, extractors, request and response bodies. No SQL here.
//!
//! Every operation is registered through `configure`, which feeds both the server and the
//! OpenAPI document (`nonstop openapi`, `/openapi.json`, `openapi/openapi.json`).

mod audit;
mod children;
mod consents;
mod devices;
mod docs;
mod drafts;
pub mod etag;
mod events;
mod every_problem;
mod examples;
pub mod extract;
mod families;
mod guardians;
pub mod idempotency;
mod inbox;
mod keys;
mod life_events;
mod municipalities;
mod notices;
mod ops;
mod push_credentials;
pub mod rate_limit;
mod readiness;
mod required;
pub mod routes;
mod sessions;
mod signing;
mod staff_keys;
mod submissions;
mod tasks;
mod templates;
mod vaccinations;
mod webhook_events;

use actix_web::web;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::AppExt;

pub use docs::OpenApiJson;

/// The municipality of a `/municipalities/{code}/…` path and the calling member of its staff;
/// anyone else is refused (an unreadable code is "not found").
fn staff(
    principal: &crate::service::principals::Principal,
    code: String,
) -> Result<(crate::domain::MunicipalityCode, String), crate::error::Error> {
    let code =
        crate::domain::MunicipalityCode::parse(&code).map_err(|_| crate::error::Error::NotFound("municipality"))?;
    let staff_id = crate::service::municipalities::staff_of(principal, &code)?.to_owned();
    Ok((code, staff_id))
}

/// A page's `limit` (1–100, `default` when not given), refused by name when outside: a 400
/// `invalid_body`, since the document states the bounds (`minimum`, `maximum`).
fn page_limit(limit: Option<i64>, default: i64) -> Result<i64, crate::error::Error> {
    let limit = limit.unwrap_or(default);
    if (1..=100).contains(&limit) {
        Ok(limit)
    } else {
        let problem = "must be between 1 and 100";
        Err(crate::error::Error::InvalidBody {
            message: format!("limit {problem}"),
            fields: [("limit".to_owned(), problem.to_owned())].into_iter().collect(),
        })
    }
}

/// The query of a list read a page at a time and filtered by nothing else: `limit` and `cursor`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// How many per page (1–100, default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl PageQuery {
    /// The checked limit and the cursor.
    fn read(self) -> Result<(i64, Option<String>), crate::error::Error> {
        Ok((page_limit(self.limit, 50)?, self.cursor))
    }
}

/// The documented API under `/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/v1")
            .service(families::create_family)
            .service(families::list_families)
            .service(families::get_family)
            .service(families::update_family)
            .service(families::delete_family)
            .service(guardians::create_guardian)
            .service(guardians::update_guardian)
            .service(guardians::delete_guardian)
            .service(children::create_child)
            .service(children::update_child)
            .service(children::delete_child)
            .service(vaccinations::record_vaccination)
            .service(vaccinations::list_vaccinations)
            .service(vaccinations::delete_vaccination)
            .service(devices::register_device)
            .service(devices::list_devices)
            .service(devices::delete_device)
            .service(life_events::record_life_event)
            .service(life_events::list_life_events)
            .service(consents::record_consent)
            .service(consents::list_consents)
            .service(consents::revoke_consent)
            .service(readiness::get_readiness)
            .service(sessions::create_session)
            .service(sessions::delete_sessions)
            .service(sessions::delete_family_current_session)
            .service(sessions::delete_current_session)
            .service(tasks::list_tasks)
            .service(tasks::update_task)
            .service(tasks::list_planned_notifications)
            .service(municipalities::list_procedures)
            .service(municipalities::get_municipality_settings)
            .service(municipalities::update_municipality_settings)
            .service(templates::preview_template)
            .service(inbox::list_inbox)
            .service(inbox::update_inbox_entry_read)
            .service(inbox::list_deliveries)
            .service(push_credentials::get_push_credentials)
            .service(push_credentials::update_web_push_credentials)
            .service(push_credentials::update_apns_credentials)
            .service(push_credentials::update_fcm_credentials)
            .service(notices::preview_notice_audience)
            .service(notices::create_notice)
            .service(notices::list_notices)
            .service(notices::get_notice)
            .service(notices::update_notice)
            .service(notices::approve_notice)
            .service(notices::send_notice)
            .service(notices::cancel_notice)
            .service(notices::get_notice_figures)
            .service(notices::update_notice_consent)
            .service(notices::schedule_notice)
            .service(notices::list_notice_replies)
            .service(notices::update_notice_reply)
            .service(drafts::list_drafts)
            .service(drafts::get_draft)
            .service(drafts::update_draft)
            .service(drafts::confirm_draft)
            .service(drafts::reopen_draft)
            .service(signing::sign_draft)
            .service(drafts::get_bundle)
            .service(drafts::update_bundle)
            .service(drafts::confirm_bundle)
            .service(drafts::reopen_bundle)
            .service(signing::sign_bundle)
            .service(signing::register_signing_certificate)
            .service(drafts::list_family_submissions)
            .service(drafts::get_family_submission)
            .service(drafts::get_family_decision_document)
            .service(submissions::list_municipal_submissions)
            .service(submissions::export_municipal_submissions)
            .service(submissions::get_municipal_submission)
            .service(submissions::update_submission_status)
            .service(submissions::update_municipal_webhook)
            .service(submissions::get_municipal_webhook)
            .service(submissions::delete_municipal_webhook)
            .service(events::update_app_webhook)
            .service(events::get_app_webhook)
            .service(events::create_app_webhook_secret)
            .service(events::delete_app_webhook)
            .service(events::list_app_event_deliveries)
            .service(keys::get_whoami)
            .service(keys::list_app_keys)
            .service(keys::create_app_key)
            .service(keys::revoke_app_key)
            .service(staff_keys::list_staff_keys)
            .service(staff_keys::revoke_staff_key)
            .service(audit::list_audit_events),
    );
}

/// What every answer carries, API, console and operations alike. `Strict-Transport-Security`
/// keeps a browser that reached nonstop over https on https for a year; browsers ignore it over
/// plain http (RFC 6797 §8.1), so it is sent always rather than guessed from a proxy's headers,
/// and without `includeSubDomains`, since the operator's other hosts are not nonstop's to decide.
/// `X-Frame-Options: DENY` (with the console's `frame-ancestors 'none'`) keeps every page out of
/// another site's frame.
pub fn security_headers() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add(("Strict-Transport-Security", "max-age=31536000"))
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
}

/// Operations endpoints and the documentation pages, outside the API document.
pub fn configure_unlisted(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().limit(256 * 1024))
        .app_data(web::QueryConfig::default().error_handler(extract::query_error))
        .app_data(web::PathConfig::default().error_handler(extract::path_error))
        .route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics))
        .route("/openapi.json", web::get().to(docs::openapi_json))
        .route("/docs", web::get().to(docs::api_page))
        .default_service(web::to(ops::not_found));
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "nonstop API",
        description = "子育てノンストップ: register families, their children and devices; nonstop plans the procedures \
                       they face, reminds them at the right time and prepares the applications they only check and sign.\n\n\
                       Authenticate with `Authorization: Bearer <key>`: a vendor app's API key (`nsk_app_…`), a parent \
                       session token (`nsp_…`, one family only) or a municipal staff key (`nsk_staff_…`). Errors are \
                       `{\"error\", \"message\", \"fields\"}`. Dates are civil dates in Asia/Tokyo; instants are UTC."
    ),
    servers((url = "/", description = "The nonstop that serves this document (`/openapi.json`); its operator gives its address")),
    // `CsvEncoding` is named only by a query parameter, which utoipa does not collect.
    components(schemas(
        crate::error::ErrorBody,
        crate::error_codes::ErrorCodeSchema,
        crate::service::submissions::export::CsvEncoding
    )),
    tags(
        (name = "families", description = "世帯: the family profile"),
        (name = "guardians", description = "保護者"),
        (name = "children", description = "子: expected or born"),
        (name = "devices", description = "Push targets: Web Push, APNs, FCM"),
        (name = "life events", description = "ライフイベント: pregnancy, birth, moves…"),
        (name = "consents", description = "同意: standing consents, given once and reused by every form that asks them"),
        (name = "sessions", description = "Parent sessions minted by the vendor's backend"),
        (name = "tasks", description = "タスク: what the family must do, with deadlines by law, and the reminders planned"),
        (name = "procedures", description = "手続カタログ: the procedures nonstop plans from"),
        (name = "municipalities", description = "自治体: a municipality's own settings, for its staff"),
        (name = "templates", description = "通知文: the words nonstop sends, in the families' languages"),
        (name = "inbox", description = "受信箱: every notification a family received, and its deliveries. What each push \
                                        carries is described by the schemas `WebPushPayload`, `ApnsPayload` and `FcmMessage`."),
        (name = "push credentials", description = "The vendor's own VAPID, APNs and FCM credentials"),
        (name = "notices", description = "お知らせ: notices a municipality sends its residents"),
        (name = "drafts", description = "申請書の下書き: pre-filled forms the parent checks, confirms and signs with the マイナンバーカード; the birth bundle (一括申請)"),
        (name = "submissions", description = "申請: signed applications, received by the municipality, with their status"),
        (name = "events", description = "事業者向けイベント: the app's webhook, the kinds it receives, and its delivery log \
                                        (what arrives: the document's `webhooks` section)"),
        (name = "keys", description = "The caller's identity and the vendor's API keys"),
    )
)]
struct ApiDoc;

/// Adds what every operation shares: bearer authentication and the error responses.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        let errors = [
            ("400", "The body is not what this document describes (a type, a required field, a pattern, a limit); `fields` names the culprit"),
            ("401", "No credential, or one that is unknown, revoked or expired"),
            ("403", "The caller's role may not do this"),
            ("404", "Not found, or not the caller's to see"),
            ("422", "The body is what this document describes, but a value breaks a rule it cannot state (a check digit, a date in the future…); `fields` names each one and the problem"),
            ("429", "Too many requests with this credential; `Retry-After` says when to try again"),
            ("500", "A fault of nonstop's, logged under this answer's `X-Request-Id`"),
            ("503", "nonstop could not take the request in time; nothing was done, and `Retry-After` says when to try again"),
        ];
        let posts: Vec<String> =
            doc.paths.paths.values().filter_map(|item| item.post.as_ref()?.operation_id.clone()).collect();
        let tagged: Vec<String> = doc
            .paths
            .paths
            .values()
            .flat_map(|item| [&item.get, &item.patch])
            .filter_map(|operation| operation.as_ref()?.operation_id.clone())
            .collect();
        for operation in operations_mut(doc) {
            let post = operation.operation_id.as_ref().is_some_and(|id| posts.contains(id));
            let takes_body = operation.request_body.is_some();
            let body_errors = takes_body
                .then_some(("415", "The body is not JSON (`Content-Type: application/json`), or is compressed"));
            for (status, description) in errors.into_iter().chain(body_errors) {
                let response = Response::builder()
                    .description(description)
                    .content(
                        "application/json",
                        utoipa::openapi::Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                    )
                    .build();
                operation.responses.responses.entry(status.to_owned()).or_insert(RefOr::T(response));
            }
            operation.security =
                Some(vec![utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new())]);
            if post {
                idempotency::document(operation);
            }
            let id = operation.operation_id.clone().unwrap_or_default();
            if tagged.contains(&id) {
                etag::document_etag(operation);
            }
            if crate::error_codes::IF_MATCH.contains(&id.as_str()) {
                etag::document_if_match(operation);
            }
            name_error_codes(operation, post);
            declare_headers(operation);
        }
    }
}

/// Writes into each error response of `operation` the codes it can carry (`x-error-codes`,
/// and the description), from `error_codes::ALL`; adds a 409 where the operation has codes
/// for it and declared none.
fn name_error_codes(operation: &mut utoipa::openapi::path::Operation, post: bool) {
    let id = operation.operation_id.clone().unwrap_or_default();
    if !crate::error_codes::of_operation(&id, post, 409).is_empty() {
        operation.responses.responses.entry("409".to_owned()).or_insert_with(|| {
            RefOr::T(
                Response::builder()
                    .description("The request conflicts with what is stored")
                    .content(
                        "application/json",
                        utoipa::openapi::Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                    )
                    .build(),
            )
        });
    }
    for (status, response) in operation.responses.responses.iter_mut() {
        let (Ok(status), RefOr::T(response)) = (status.parse::<u16>(), response) else { continue };
        if status < 400 {
            continue;
        }
        let codes = crate::error_codes::of_operation(&id, post, status);
        let listed: Vec<String> = codes.iter().map(|c| format!("`{c}`")).collect();
        response.description = format!("{}\n\nCodes: {}.", response.description, listed.join(", "));
        response.extensions.get_or_insert_with(Default::default).insert("x-error-codes".to_owned(), codes.into());
    }
}

/// Declares the headers answers carry: `X-Request-Id` on every answer, `Retry-After` on a 429
/// and a 503.
fn declare_headers(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let text = |description: &str| {
        HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::String))
            .description(Some(description))
            .build()
    };
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else { continue };
        response.headers.insert(
            "X-Request-Id".to_owned(),
            text("nonstop's id for the request: the `request_id` of its log line and audit events"),
        );
        if status == "429" || status == "503" {
            response.headers.insert(
                "Retry-After".to_owned(),
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)))
                    .description(Some("Seconds to wait before trying again"))
                    .build(),
            );
        }
    }
}

/// Every operation of the document.
fn operations_mut(doc: &mut Document) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [&mut item.get, &mut item.post, &mut item.patch, &mut item.put, &mut item.delete].into_iter().flatten()
    })
}

/// The OpenAPI document, built from the same `configure` the server uses; no database needed.
pub fn openapi() -> Document {
    let (_, mut document) =
        actix_web::App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(configure).split_for_parts();
    Conventions.modify(&mut document);
    required::RequiredInAnswers.modify(&mut document);
    crate::push::documented::PushPayloads.modify(&mut document);
    webhook_events::WebhookEvents.modify(&mut document);
    examples::Examples.modify(&mut document);
    document
}
