//! Operations endpoints, the API document, and the migration folders.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::TestApp;

#[actix_web::test]
async fn health_readiness_and_metrics_answer() {
    let app = TestApp::spawn().await;
    let (status, health) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((status, health["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, ready) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((status, ready["status"].as_str()), (StatusCode::OK, Some("ready")));
    let expected_backend = if app.sqlite_path.is_some() { "sqlite" } else { "postgres" };
    assert_eq!(ready["database"], expected_backend);

    let (status, _) = app.call(Method::GET, "/v1/whoami", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let metrics =
        app.client.get(format!("{}/metrics", app.base)).send().await.expect("sent").text().await.expect("text");
    assert!(
        metrics.contains(r#"nonstop_http_requests_total{method="GET",route="/v1/whoami",status="401"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("nonstop_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("nonstop_db_pool_connections"));
}

#[actix_web::test]
async fn unknown_routes_answer_with_the_error_envelope() {
    let app = TestApp::spawn().await;
    let (status, body) = app.call(Method::GET, "/v1/nothing-here", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
    assert!(body["fields"].is_object());
}

#[actix_web::test]
async fn the_served_document_is_the_committed_one_and_the_page_works_offline() {
    let app = TestApp::spawn().await;
    let served: Value =
        app.client.get(format!("{}/openapi.json", app.base)).send().await.expect("sent").json().await.expect("json");
    let committed: Value =
        serde_json::from_str(include_str!("../../openapi/openapi.json")).expect("committed document parses");
    assert_eq!(served, committed);
    let page = app.client.get(format!("{}/docs", app.base)).send().await.expect("sent").text().await.expect("text");
    assert!(page.contains("/openapi.json"));
    assert!(
        !page.contains("http://") && !page.contains("https://") && !page.contains("//cdn"),
        "the page loads nothing from elsewhere"
    );
}

#[actix_web::test]
async fn every_answer_keeps_browsers_on_https_and_out_of_frames() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/v1/families", "/v1/nothing-here", "/console/sign-in", "/openapi.json", "/docs"] {
        let response = app.client.get(format!("{}{path}", app.base)).send().await.expect("sent");
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(header("strict-transport-security").as_deref(), Some("max-age=31536000"), "{path}");
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{path}");
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
    }
    // The API page runs its own inline script and style only, and fetches from its origin only.
    let response = app.client.get(format!("{}/docs", app.base)).send().await.expect("sent");
    let policy = response.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).expect("CSP");
    for part in [
        "default-src 'none'",
        "script-src 'sha256-",
        "style-src 'sha256-",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(part), "{part}: {policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
}

#[test]
fn the_committed_openapi_document_is_current() {
    let generated = nonstop::api::openapi().to_pretty_json().expect("document");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(path, format!("{generated}\n")).expect("write");
    }
    let committed = std::fs::read_to_string(path).expect("openapi/openapi.json is committed");
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json` (or UPDATE_OPENAPI=1 cargo test)"
    );
}

#[test]
fn every_operation_is_named_verb_resource_and_documents_its_answers() {
    let document: Value = serde_json::from_str(&nonstop::api::openapi().to_json().expect("json")).expect("parse");
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 10);
    let verbs = [
        "create_",
        "get_",
        "list_",
        "update_",
        "delete_",
        "register_",
        "confirm_",
        "reopen_",
        "sign_",
        "record_",
        "revoke_",
        "preview_",
        "approve_",
        "send_",
        "cancel_",
        "schedule_",
    ];
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("item") {
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(verbs.iter().any(|v| id.starts_with(v)), "{method} {path}: operation id '{id}'");
            // The success answer comes from the operation's own annotation (the shared error
            // answers are added to every operation by one transform, and tested by calling).
            let responses = operation["responses"].as_object().expect("responses");
            assert!(responses.keys().any(|status| status.starts_with('2')), "{id} documents no success");
        }
    }
}

#[test]
fn every_operation_shows_an_example_call_the_tests_made() {
    // Recorded from the suite by `openapi/record-examples`; an operation no test calls
    // successfully has none, and this fails until one does.
    let document: Value = serde_json::from_str(&nonstop::api::openapi().to_json().expect("json")).expect("parse");
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            let id = operation["operationId"].as_str().unwrap_or_default();
            let body = &operation["requestBody"]["content"]["application/json"];
            assert!(body.is_null() || !body["example"].is_null(), "{method} {path} ({id}): no example request");
            let answered = operation["responses"].as_object().expect("responses").iter().any(|(status, response)| {
                let content = &response["content"]["application/json"];
                status.starts_with('2') && (content.is_null() || !content["example"].is_null())
            });
            assert!(answered, "{method} {path} ({id}): no example response");
        }
    }
}

#[test]
fn both_backends_have_the_same_migrations() {
    let names = |backend: &str| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, names("postgres"));
    // The same statements, except where a backend needs its own (docs/ARCHITECTURE.md says which).
    let read = |backend: &str, name: &str, file: &str| {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend).join(name).join(file);
        std::fs::read_to_string(path).unwrap_or_default()
    };
    for name in &sqlite {
        let same = ["up.sql", "down.sql"].iter().all(|file| read("sqlite", name, file) == read("postgres", name, file));
        let divergent = MIGRATIONS_OF_THEIR_OWN.iter().any(|suffix| name.ends_with(suffix));
        assert_eq!(!same, divergent, "{name}: the two folders differ only where MIGRATIONS_OF_THEIR_OWN says so");
    }
}

/// Migrations written once per backend: SQLite cannot drop a foreign key (000011 rebuilds two
/// tables), and numbering the existing submissions by year in Japan (000028) needs each backend's
/// own date formatting.
const MIGRATIONS_OF_THEIR_OWN: [&str; 2] = ["-000011_accountability", "-000028_submissions_desk"];

/// A documented path with its parameters filled in: any id will do where the key or the body is
/// checked before anything is looked up; a municipality code must be one.
fn concrete_path(template: &str) -> String {
    template
        .split('/')
        .map(|part| if part.starts_with('{') { "00000000-0000-0000-0000-000000000000" } else { part })
        .collect::<Vec<_>>()
        .join("/")
        .replace("municipalities/00000000-0000-0000-0000-000000000000", "municipalities/131016")
}

#[actix_web::test]
async fn every_documented_operation_answers_401_without_a_key_as_documented() {
    let app = TestApp::spawn().await;
    let document: Value = serde_json::from_str(&nonstop::api::openapi().to_json().expect("json")).expect("parse");
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        let concrete = concrete_path(path);
        for method in item.as_object().expect("item").keys() {
            assert!(item[method]["responses"]["401"].is_object(), "{method} {path} documents 401");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let (status, body) = app.call(method.clone(), &concrete, None, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {concrete}: {body}");
            assert_eq!(body["error"], "unauthorized", "{method} {concrete}: the documented envelope");
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} operations checked");
}

#[test]
fn every_enum_is_documented_with_the_names_the_api_speaks() {
    // Each text enum: its stored text, its serde name and its OpenAPI name are one.
    let enums = [
        ("AnswerKind", nonstop::service::notices::AnswerKind::wire_names_agree()),
        ("ApnsEnvironment", nonstop::domain::enums::ApnsEnvironment::wire_names_agree()),
        ("BundleStatus", nonstop::service::bundles::BundleStatus::wire_names_agree()),
        ("ChildStatus", nonstop::domain::enums::ChildStatus::wire_names_agree()),
        ("Circumstance", nonstop::domain::catalog::Circumstance::wire_names_agree()),
        ("ClosedDay", nonstop::domain::catalog::ClosedDay::wire_names_agree()),
        ("Collapse", nonstop::templates::Collapse::wire_names_agree()),
        ("DeadlineKind", nonstop::domain::catalog::DeadlineKind::wire_names_agree()),
        ("DeliveryStatus", nonstop::service::inbox::DeliveryStatus::wire_names_agree()),
        ("DeviceKind", nonstop::domain::enums::DeviceKind::wire_names_agree()),
        ("DraftStatus", nonstop::service::drafts::DraftStatus::wire_names_agree()),
        ("EntryKind", nonstop::service::inbox::EntryKind::wire_names_agree()),
        ("FieldNeed", nonstop::service::drafts::FieldNeed::wire_names_agree()),
        ("FieldType", nonstop::domain::forms::FieldType::wire_names_agree()),
        ("FilesWith", nonstop::domain::catalog::FilesWith::wire_names_agree()),
        ("HealthInsurance", nonstop::domain::enums::HealthInsurance::wire_names_agree()),
        ("HouseholdMainWork", nonstop::domain::enums::HouseholdMainWork::wire_names_agree()),
        ("Legitimacy", nonstop::domain::enums::Legitimacy::wire_names_agree()),
        ("ConsentPurpose", nonstop::domain::enums::ConsentPurpose::wire_names_agree()),
        ("ActorKind", nonstop::service::audit::ActorKind::wire_names_agree()),
        ("AuditAction", nonstop::service::audit::AuditAction::wire_names_agree()),
        ("SignerMatch", nonstop::service::signing::SignerMatch::wire_names_agree()),
        ("LifeEventKind", nonstop::domain::enums::LifeEventKind::wire_names_agree()),
        ("NoticeCategory", nonstop::service::notices::NoticeCategory::wire_names_agree()),
        ("NoticeStatus", nonstop::service::notices::NoticeStatus::wire_names_agree()),
        ("NotificationStatus", nonstop::service::planning::NotificationStatus::wire_names_agree()),
        ("Origin", nonstop::service::drafts::Origin::wire_names_agree()),
        ("ProcedureKind", nonstop::domain::catalog::ProcedureKind::wire_names_agree()),
        ("Relationship", nonstop::domain::enums::Relationship::wire_names_agree()),
        ("ReminderBase", nonstop::domain::catalog::ReminderBase::wire_names_agree()),
        ("Rule", nonstop::domain::catalog::Rule::wire_names_agree()),
        ("Sex", nonstop::domain::enums::Sex::wire_names_agree()),
        ("Subject", nonstop::domain::catalog::Subject::wire_names_agree()),
        ("SubmissionStatus", nonstop::service::submissions::SubmissionStatus::wire_names_agree()),
        ("TaskAction", nonstop::service::tasks::TaskAction::wire_names_agree()),
        ("TaskState", nonstop::service::tasks::TaskState::wire_names_agree()),
        ("TaskStatus", nonstop::service::planning::TaskStatus::wire_names_agree()),
        ("TemplateCategory", nonstop::templates::TemplateCategory::wire_names_agree()),
        ("Trigger", nonstop::domain::catalog::Trigger::wire_names_agree()),
        ("Urgency", nonstop::templates::Urgency::wire_names_agree()),
        ("VariableType", nonstop::templates::VariableType::wire_names_agree()),
    ];
    let wrong: Vec<&str> = enums.iter().filter(|(_, agree)| !agree).map(|(name, _)| *name).collect();
    assert!(wrong.is_empty(), "documented names differ from the wire names: {wrong:?}");
    // And nothing in the document is left capitalised.
    let document: Value = serde_json::from_str(&nonstop::api::openapi().to_json().expect("json")).expect("parse");
    for (name, schema) in document["components"]["schemas"].as_object().expect("schemas") {
        for value in schema["enum"].as_array().into_iter().flatten() {
            let value = value.as_str().unwrap_or_default();
            assert!(
                !value.is_empty()
                    && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c)),
                "{name}: '{value}' is not a wire name"
            );
        }
    }
}

#[actix_web::test]
async fn a_wrong_method_on_a_known_path_answers_405_with_allow() {
    let app = TestApp::spawn().await;
    let response = app.client.delete(format!("{}/v1/app/keys", app.base)).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers().get("allow").and_then(|v| v.to_str().ok()), Some("GET, POST"));
    let body: Value = response.json().await.expect("envelope");
    assert_eq!(body["error"], "method_not_allowed", "{body}");
    let (status, body) =
        app.call(Method::PUT, "/v1/families/0190a7e0-0000-7000-8000-000000000000/tasks", None, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")));
    let (status, _) = app.call(Method::DELETE, "/v1/no-such-thing", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an unknown path is still 404");
}

#[test]
fn tagged_bodies_are_unions_whose_branches_each_require_their_tag() {
    let document: Value = serde_json::from_str(&nonstop::api::openapi().to_json().expect("json")).expect("parse");
    let schemas = &document["components"]["schemas"];
    for (union, tag, values) in [
        ("DeviceInput", "kind", vec!["web_push", "apns", "fcm"]),
        (
            "LifeEventInput",
            "type",
            vec![
                "pregnancy",
                "birth",
                "moved",
                "health_insurance_changed",
                "single_parent_changed",
                "pregnancy_ended",
                "child_died",
            ],
        ),
    ] {
        let schema = &schemas[union];
        assert_eq!(schema["discriminator"]["propertyName"], tag, "{union}: {schema}");
        let mapping = schema["discriminator"]["mapping"].as_object().expect("mapping");
        let mut mapped: Vec<&str> = mapping.keys().map(String::as_str).collect();
        mapped.sort_unstable();
        let mut expected = values.clone();
        expected.sort_unstable();
        assert_eq!(mapped, expected, "{union}");
        assert_eq!(schema["oneOf"].as_array().map(Vec::len), Some(values.len()), "{union}");
        for (value, reference) in mapping {
            let name = reference.as_str().and_then(|r| r.strip_prefix("#/components/schemas/")).expect("a component");
            let branch = &schemas[name];
            assert!(
                branch["required"].as_array().is_some_and(|r| r.contains(&Value::from(tag))),
                "{name} requires {tag}"
            );
            assert_eq!(branch["properties"][tag]["enum"], serde_json::json!([value]), "{name}: {tag} is {value} only");
            assert_eq!(branch["type"], "object", "{name}");
        }
    }
}

#[actix_web::test]
async fn every_operation_with_a_body_answers_415_to_a_body_that_is_not_json_as_documented() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let document: Value = serde_json::from_str(&nonstop::api::openapi().to_json().expect("json")).expect("parse");
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        let concrete = concrete_path(path);
        for (method, operation) in item.as_object().expect("item") {
            if operation["requestBody"].is_null() {
                assert!(operation["responses"]["415"].is_null(), "{method} {path} takes no body");
                continue;
            }
            assert!(operation["responses"]["415"].is_object(), "{method} {path} documents 415");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let response = app
                .client
                .request(method.clone(), format!("{}{concrete}", app.base))
                .bearer_auth(&key)
                .header("content-type", "text/plain")
                .body("municipality_code=131016")
                .send()
                .await
                .expect("sent");
            assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{method} {concrete}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} operations take a body");
}

#[actix_web::test]
async fn page_limits_are_documented_as_enforced() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app.create_family(&key, serde_json::json!({ "municipality_code": "131016" })).await;
    let document: Value = serde_json::from_str(&nonstop::api::openapi().to_json().expect("json")).expect("parse");
    for (path, concrete) in [
        ("/v1/families", "/v1/families".to_owned()),
        ("/v1/families/{family_id}/inbox", format!("/v1/families/{family}/inbox")),
    ] {
        let limit = document["paths"][path]["get"]["parameters"]
            .as_array()
            .and_then(|params| params.iter().find(|p| p["name"] == "limit"))
            .unwrap_or_else(|| panic!("{path} documents limit"));
        assert_eq!((limit["schema"]["minimum"].as_i64(), limit["schema"]["maximum"].as_i64()), (Some(1), Some(100)));
        for (value, accepted) in [(0, false), (1, true), (100, true), (101, false)] {
            let (status, body) = app.get(&format!("{concrete}?limit={value}"), &key).await;
            assert_eq!(status.is_success(), accepted, "{concrete}?limit={value}: {body}");
            if !accepted {
                assert!(body["fields"]["limit"].is_string(), "{concrete}?limit={value} names the field: {body}");
            }
        }
    }
}

#[test]
fn every_schema_name_is_used_by_one_type_only() {
    // utoipa names a schema after its Rust type and keeps one of two types with the same name
    // silently, so the document would describe the other type's body. Every type the document
    // may carry (a `ToSchema` derive or a `text_enum!`) must have a name of its own.
    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    rust_files(std::path::Path::new("src"), &mut files);
    let mut seen: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let mut clashes = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let mut documented = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with("#[derive(") && line.contains("ToSchema") || line.starts_with("text_enum!") {
                documented = true;
                continue;
            }
            let name = ["pub struct ", "pub enum "].iter().find_map(|p| line.strip_prefix(p));
            if let (true, Some(rest)) = (documented, name) {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                let at = file.display().to_string();
                if let Some(first) = seen.insert(name.clone(), at.clone()) {
                    clashes.push(format!("{name}: {first} and {at}"));
                }
                documented = false;
            }
        }
    }
    assert!(seen.len() > 50, "only {} schema types found", seen.len());
    assert!(clashes.is_empty(), "schema names used twice: {clashes:?}");
}

/// The glossary names modules and tables that exist: a rename that leaves it behind fails here.
#[test]
fn the_glossary_names_modules_and_tables_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let glossary = std::fs::read_to_string(root.join("docs/GLOSSARY.md")).expect("glossary");
    let schema = std::fs::read_to_string(root.join("src/db/schema.rs")).expect("schema");
    let rows: Vec<Vec<&str>> = glossary
        .lines()
        .filter(|line| line.starts_with("| ") && !line.starts_with("| 日本語"))
        .map(|line| line.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    assert!(rows.len() >= 30, "{} terms", rows.len());
    let quoted = |cell: &str| cell.split('`').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>();
    for row in &rows {
        assert_eq!(row.len(), 5, "{row:?}");
        for module in quoted(row[3]) {
            assert!(root.join(&module).is_file(), "{}: no {module}", row[0]);
        }
        for table in quoted(row[4]).into_iter().filter(|t| !t.contains('/')) {
            assert!(schema.contains(&format!("    {table} (")), "{}: no table {table}", row[0]);
        }
    }
}

/// Every `$ref` of the document points at a schema it holds: a type named only by a query
/// parameter is not collected by utoipa, and generators (openapi-typescript, the Python client)
/// refuse or drop the operation.
#[test]
fn every_reference_in_the_document_resolves() {
    fn refs<'a>(value: &'a serde_json::Value, found: &mut Vec<&'a str>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(target) = map.get("$ref").and_then(|r| r.as_str()) {
                    found.push(target);
                }
                map.values().for_each(|v| refs(v, found));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let document: serde_json::Value =
        serde_json::from_str(&nonstop::api::openapi().to_json().expect("json")).expect("document");
    let mut found = Vec::new();
    refs(&document, &mut found);
    assert!(found.len() > 100, "{} references", found.len());
    let schemas = &document["components"]["schemas"];
    let missing: Vec<&&str> = found
        .iter()
        .filter(|r| r.strip_prefix("#/components/schemas/").is_none_or(|name| schemas.get(name).is_none()))
        .collect();
    assert!(missing.is_empty(), "references to nothing: {missing:?}");
}
