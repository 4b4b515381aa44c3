//! The notice benchmark: one notice to N resident families through the real pipeline.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nonstop::config::{Secret, Settings};
use nonstop::crypto::KeyRing;
use nonstop::db::{write_transaction, Db};
use nonstop::domain::dates::tokyo_today;
use nonstop::domain::MunicipalityCode;
use nonstop::jobs::{self, JobContext};
use nonstop::service::devices::{DeviceInput, WebPushDevice, WebPushKeys};
use nonstop::service::notices::{self, NoticeInput};
use nonstop::service::push_credentials::{self, WebPushCredentialsInput};
use nonstop::service::{devices, families, now, principals};
use nonstop::telemetry::Metrics;
use nonstop::templates::Templates;

use super::fanout::{start_mock, tempfile_dir};

pub fn run(families_n: usize) -> anyhow::Result<()> {
    let received = Arc::new(AtomicUsize::new(0));
    let port = start_mock(received.clone())?;
    let dir = tempfile_dir()?;
    let mut settings = Settings::default();
    settings.database.url = Secret::new(format!("sqlite://{}/bench.sqlite3", dir.display()));
    settings.encryption.active_key_id = "bench".into();
    settings.encryption.keys = BTreeMap::from([("bench".to_owned(), Secret::new(KeyRing::generate_key_base64()))]);
    settings.push.web_push_allowed_hosts.push("127.0.0.1".into());
    settings.jobs.batch_size = 500;
    settings.jobs.concurrency = 64;
    let db = Db::connect(settings.database_location().map_err(anyhow::Error::msg)?, 8, 5_000)?;
    db.migrate()?;
    let keys = Arc::new(settings.key_ring()?);
    let templates = Arc::new(Templates::built_in().map_err(|e| anyhow::anyhow!("{e}"))?);
    let code = MunicipalityCode::parse("131016").map_err(anyhow::Error::msg)?;

    let setup = Instant::now();
    let mut conn = db.get()?;
    let (app_id, _) = write_transaction(&mut conn, |c| principals::create_app(c, "bench", now()))?;
    write_transaction(&mut conn, |c| {
        push_credentials::set_web_push(
            c,
            &keys,
            &app_id,
            WebPushCredentialsInput { subject: "mailto:bench@nonstop-bench.jp".into(), private_key: None },
            now(),
        )
    })?;
    let subscriber = jwt_simple::prelude::ES256KeyPair::generate();
    let p256dh = URL_SAFE_NO_PAD.encode(
        jwt_simple::prelude::ECDSAP256PublicKeyLike::public_key(&subscriber.public_key()).to_bytes_uncompressed(),
    );
    let auth = URL_SAFE_NO_PAD.encode([7u8; 16]);
    let allowed = settings.push.web_push_allowed_hosts.clone();
    for chunk in (0..families_n).collect::<Vec<_>>().chunks(1_000) {
        write_transaction(&mut conn, |c| {
            for i in chunk {
                let input = serde_json::from_value(serde_json::json!({ "municipality_code": code.as_str() }))
                    .map_err(|e| nonstop::error::Error::internal(e.to_string()))?;
                let family = families::create(c, &keys, &app_id, input, tokyo_today(), now())?;
                let device = DeviceInput::WebPush(WebPushDevice {
                    endpoint: format!("http://127.0.0.1:{port}/push/{i}"),
                    keys: WebPushKeys { p256dh: p256dh.clone(), auth: auth.clone() },
                    expiration_time: None,
                });
                devices::register(c, &keys, &family.id, device, &allowed, now())?;
            }
            Ok(())
        })?;
    }
    let input: NoticeInput = serde_json::from_value(serde_json::json!({
        "category": "checkup",
        "texts": { "ja": { "title": "1歳6か月児健診のご案内", "body": "日程と会場をご確認ください。" } }
    }))?;
    let notice = write_transaction(&mut conn, |c| notices::create(c, &code, "bench-author", input, now()))?;
    write_transaction(&mut conn, |c| notices::approve(c, &code, &notice.id, "bench-approver", now()))?;
    println!(
        "notice: set up {families_n} resident families with a device each in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    // Start the delivery workers first, as in a running service; then send.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let ctx = JobContext {
        db: db.clone(),
        keys: keys.clone(),
        templates: templates.clone(),
        planning: Arc::new(nonstop::domain::planner::PlanningContext::shipped()),
        senders: Arc::new(jobs::senders(&settings.push)?),
        metrics: Arc::new(Metrics::new()?),
        settings: settings.jobs.clone(),
    };
    let started = Instant::now();
    write_transaction(&mut conn, |c| {
        notices::send(c, &templates, &code, "千代田区", &notice.id, tokyo_today(), now())
    })?;
    drop(conn);
    let recorded = started.elapsed().as_secs_f64();
    println!("notice: {families_n} inbox entries recorded in {recorded:.2} s");
    runtime.block_on(async {
        let mut handles = Vec::new();
        for _ in 0..2 {
            let ctx = ctx.clone();
            handles.push(tokio::spawn(async move {
                while let Ok(n) = jobs::deliver_once(&ctx).await {
                    if n == 0 {
                        break;
                    }
                }
            }));
        }
        for handle in handles {
            let _ = handle.await;
        }
    });
    let pushed = started.elapsed().as_secs_f64();
    println!(
        "notice: {} deliveries handed to the push service {pushed:.2} s after sending began",
        received.load(Ordering::Relaxed)
    );
    println!("notice: peak memory {:.1} MiB", super::peak_memory_mib());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
