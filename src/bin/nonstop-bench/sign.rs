//! The signing benchmark: N families with a newborn each, their 児童手当 drafts corrected and
//! confirmed, then signed with a (generated, JPKI-shaped) card and submitted, through the same
//! service functions the API runs, each step in a transaction of its own as a request would be.

use std::time::Instant;

use nonstop::db::write_transaction;
use nonstop::domain::planner::PlanningContext;
use nonstop::jpki::{TrustAnchor, Verifier, JPKI_SIGNING_POLICY};
use nonstop::service::drafts::{self, DraftPatch};
use nonstop::service::signing::{self, SignatureInput};
use nonstop::service::{families, planning};

use super::jpki_ca::{Holder, TestCa};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn run(place: super::env::Place, families_n: usize) -> anyhow::Result<()> {
    let bench = place.env()?;
    let keys = &bench.keys;
    let ctx = PlanningContext::shipped();
    let planning = std::sync::Arc::new(PlanningContext::shipped());
    let ca = TestCa::new("JPKI", bench.clock.now_utc());
    let verifier = Verifier::new(
        TrustAnchor::from_pem(&ca.root_pem()).map_err(anyhow::Error::msg)?,
        vec![JPKI_SIGNING_POLICY.to_owned()],
    );
    let card = ca.issue(&Holder::new("山田 花子", "1990-04-01"));
    let born = (bench.clock.today() - chrono::Duration::days(2)).to_string();
    let mut conn = bench.db.get()?;

    // Families with a newborn: their drafts open as the API would open them.
    let setup = Instant::now();
    let mut draft_ids = Vec::with_capacity(families_n);
    for chunk in (0..families_n).collect::<Vec<_>>().chunks(500) {
        write_transaction(&mut conn, |c| {
            for _ in chunk {
                let input = serde_json::from_value(serde_json::json!({
                    "municipality_code": "131016", "address": "千代田1-1-1", "health_insurance": "national",
                    "guardians": [{ "relationship": "mother", "full_name": "山田 花子", "full_name_kana": "ヤマダ ハナコ", "birth_date": "1990-04-01", "phone": "09012345678" }],
                    "children": [{ "status": "born", "birth_date": born, "birth_weight_grams": 3000, "full_name": "山田 さくら", "full_name_kana": "ヤマダ サクラ", "sex": "female" }]
                }))
                .map_err(|e| nonstop::error::Error::internal(e.to_string()))?;
                let family = families::create(c, keys, &bench.app_id, input, bench.clock.today(), bench.clock.now())?;
                planning::replan(c, keys, &ctx, &family.id, bench.clock.today(), bench.clock.now())?;
                let row = nonstop::service::access::family_row(c, &family.id)?;
                drafts::sync(c, keys, &ctx, &row, bench.clock.today(), bench.clock.now())?;
                let draft = drafts::list(c, keys, &ctx, &family.id)?
                    .into_iter()
                    .find(|d| d.form_id == "child_allowance_claim")
                    .ok_or_else(|| nonstop::error::Error::internal("no draft"))?;
                draft_ids.push((family.id, draft.id));
            }
            Ok(())
        })?;
    }
    println!(
        "sign: set up {families_n} families with a newborn and their drafts in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    // The parent corrects and confirms: canonical document and digest.
    let started = Instant::now();
    let mut documents = Vec::with_capacity(families_n);
    for (family_id, draft_id) in &draft_ids {
        let draft = write_transaction(&mut conn, |c| {
            let row = nonstop::service::access::family_row(c, family_id)?;
            let patch: DraftPatch = serde_json::from_value(serde_json::json!({ "values": {
                "consent.public_records": true, "payment.use_public_account": false, "payment.bank_name": "ノンストップ銀行",
                "payment.bank_code": "0001", "payment.branch_name": "本店", "payment.branch_code": "001", "payment.account_number": "7654321"
            } }))
            .map_err(|e| nonstop::error::Error::internal(e.to_string()))?;
            let uc = bench.use_case(&planning);
            drafts::patch(c, &uc, &row, draft_id, patch)?;
            drafts::confirm(c, &uc, &row, draft_id)
        })?;
        let confirmed = draft.confirmed.ok_or_else(|| anyhow::anyhow!("not confirmed"))?;
        documents.push(confirmed.document);
    }
    let confirm_seconds = started.elapsed().as_secs_f64();
    println!(
        "sign: {families_n} drafts corrected and confirmed in {confirm_seconds:.2} s ({:.0}/s)",
        families_n as f64 / confirm_seconds
    );

    // The card signs (on the phone: not timed), then nonstop verifies and submits.
    let bodies: Vec<SignatureInput> = documents
        .iter()
        .map(|doc| SignatureInput {
            signature: card.sign(doc.as_bytes()),
            certificate: card.certificate_base64(),
            ca_certificates: Vec::new(),
            digest_sha256: None,
        })
        .collect();
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(families_n);
    for ((family_id, draft_id), body) in draft_ids.iter().zip(&bodies) {
        let one = Instant::now();
        write_transaction(&mut conn, |c| {
            let row = nonstop::service::access::family_row(c, family_id)?;
            let signed = signing::sign_draft(c, &bench.use_case(&planning), &verifier, &row, draft_id, body)?;
            planning::replan(c, keys, &ctx, family_id, bench.clock.today(), bench.clock.now())?;
            Ok(signed)
        })?;
        latencies.push(one.elapsed().as_secs_f64() * 1000.0);
    }
    let sign_seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    println!(
        "sign: {families_n} signatures verified and submitted in {sign_seconds:.2} s ({:.0}/s), p50 {:.2} ms, p99 {:.2} ms",
        families_n as f64 / sign_seconds,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    println!("sign: peak memory {:.1} MiB", super::peak_memory_mib());
    Ok(())
}
