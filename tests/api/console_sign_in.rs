//! The console's front door under attack (issue 29): guesses counted before they are checked, a
//! lock that slows the guessing client and not the owner, unknown logins answered like real
//! ones, a bounded number of password checks at once, the forms a session could abuse asking for
//! the password, and every sign-in in the municipality's trail. Plain HTTP, as an attacker's
//! script would send it; requests said to be parallel really are.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::header::{COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};
use reqwest::StatusCode;

use crate::console::{account_with_role, staff_account, PASSWORD};
use crate::helpers::TestApp;
use nonstop::service::audit::{self, AuditEvent, AuditFilter};

/// A client without redirects or a cookie jar: what each answer says is what the test reads.
fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// The app, with loopback as the operator's proxy: each test names its clients' addresses in
/// `X-Forwarded-For`, as the proxy in front of a real deployment would.
async fn spawn(adjust: impl FnOnce(&mut nonstop::config::Settings)) -> TestApp {
    TestApp::spawn_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
        adjust(s);
    })
    .await
}

fn cookie_of(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let (pair, _) = v.split_once(';').unwrap_or((v, ""));
        let (n, value) = pair.split_once('=')?;
        (n == name && !value.is_empty()).then(|| value.to_owned())
    })
}

/// One sign-in from `client_address`: the page (for its form token), then the form.
async fn sign_in(app: &TestApp, client_address: &str, login: &str, password: &str) -> reqwest::Response {
    let http = client();
    let page = http
        .get(format!("{}/console/sign-in", app.base))
        .header("x-forwarded-for", client_address)
        .send()
        .await
        .expect("page");
    let token = cookie_of(&page, "nonstop_sign_in").expect("the page sets its form token");
    http.post(format!("{}/console/sign-in", app.base))
        .header("x-forwarded-for", client_address)
        .header(COOKIE, format!("nonstop_sign_in={token}"))
        .form(&[("login", login), ("password", password), ("code", ""), ("token", &token)])
        .send()
        .await
        .expect("sign-in")
}

/// A signed-in session of `login` from `client_address`: its cookie and its form token.
async fn session(app: &TestApp, client_address: &str, login: &str) -> (String, String) {
    let response = sign_in(app, client_address, login, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{login} signs in");
    let cookie = cookie_of(&response, "nonstop_console").expect("session cookie");
    let page = client()
        .get(format!("{}/console/password", app.base))
        .header(COOKIE, format!("nonstop_console={cookie}"))
        .send()
        .await
        .expect("page");
    let html = page.text().await.expect("html");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("form token")
        .to_owned();
    (cookie, csrf)
}

async fn post_form(
    app: &TestApp,
    client_address: &str,
    (cookie, _): &(String, String),
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client()
        .post(format!("{}{path}", app.base))
        .header("x-forwarded-for", client_address)
        .header(COOKIE, format!("nonstop_console={cookie}"))
        .form(form)
        .send()
        .await
        .expect("form")
}

fn events(app: &TestApp) -> Vec<AuditEvent> {
    let mut conn = app.db.get().expect("conn");
    audit::list(&mut conn, &AuditFilter { target_kind: Some("staff_account"), limit: 1_000, ..Default::default() })
        .expect("audit")
        .items
}

fn count(events: &[AuditEvent], action: &str) -> usize {
    events.iter().filter(|e| e.action.as_str() == action).count()
}

#[actix_web::test]
async fn forty_parallel_guesses_get_five_checked_and_lock_the_guessing_client_only() {
    // Checks may wait as long as they need: what is measured is the count, not the queue.
    let app = spawn(|s| {
        s.limits.sign_in_per_minute = 1_000;
        s.limits.password_checks_at_once = Some(2);
        s.limits.password_check_wait_ms = 120_000;
    })
    .await;
    staff_account(&app, "131016", "佐藤 花子", "sato");
    let attacker = "203.0.113.7";

    let guesses = (0..40).map(|i| {
        let app = &app;
        async move { sign_in(app, attacker, "sato", &format!("wrong guess {i}")).await.status() }
    });
    let statuses = join_all(guesses).await;
    let trail = events(&app);
    assert_eq!(count(&trail, "staff_account.sign_in_failed"), 5, "five guesses checked, however many at once");
    assert_eq!(count(&trail, "staff_account.sign_in_locked"), 1);
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count(), 4, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 36, "{statuses:?}");
    let failed = trail.iter().find(|e| e.action.as_str() == "staff_account.sign_in_failed").expect("failure");
    assert_eq!((failed.actor_id.as_str(), failed.municipality_code.as_deref()), (attacker, Some("131016")));
    assert_eq!(failed.detail.as_deref(), Some("password"), "never the password itself");

    // The right password from the locked client waits too; the owner at their desk signs in.
    let locked = sign_in(&app, attacker, "sato", PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.text().await.expect("page").contains("この端末からのサインインは"));
    let owner = sign_in(&app, "198.51.100.20", "sato", PASSWORD).await;
    assert_eq!(owner.status(), StatusCode::SEE_OTHER, "the owner is not locked out");
    let signed_in = events(&app).into_iter().find(|e| e.action.as_str() == "staff_account.signed_in").expect("event");
    assert_eq!(signed_in.detail.as_deref(), Some("198.51.100.20"));

    // The administrator sees the lock and lifts it; the client may guess again.
    account_with_role(&app, "131016", "課長", "kacho", true);
    let admin = session(&app, "198.51.100.21", "kacho").await;
    let page = client()
        .get(format!("{}/console/staff", app.base))
        .header(COOKIE, format!("nonstop_console={}", admin.0))
        .send()
        .await
        .expect("page");
    let html = page.text().await.expect("html");
    assert!(html.contains("1 台の端末からロック中") && html.contains("203.0.113.7"), "{html}");
    let staff_id = html.split("/console/staff/").nth(1).and_then(|r| r.split('/').next()).expect("unlock form");
    let unlocked =
        post_form(&app, "198.51.100.21", &admin, &format!("/console/staff/{staff_id}/unlock"), &[("csrf", &admin.1)])
            .await;
    assert_eq!(unlocked.status(), StatusCode::SEE_OTHER);
    assert_eq!(count(&events(&app), "staff_account.unlocked"), 1);
    assert_eq!(sign_in(&app, attacker, "sato", PASSWORD).await.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn unknown_and_real_logins_are_answered_alike() {
    let app = spawn(|_| {}).await;
    staff_account(&app, "131016", "佐藤 花子", "sato");
    // Five wrong guesses at a real login and at an unknown one, from two clients at once.
    let run = |client_address: &'static str, login: &'static str| {
        let app = &app;
        async move {
            let mut answers = Vec::new();
            for i in 0..5 {
                let started = Instant::now();
                let response = sign_in(app, client_address, login, &format!("wrong {i}")).await;
                answers.push((response.status(), started.elapsed()));
            }
            answers
        }
    };
    let (real, unknown) = tokio::join!(run("192.0.2.10", "sato"), run("192.0.2.11", "nobody-here"));
    let statuses = |answers: &[(StatusCode, Duration)]| answers.iter().map(|(s, _)| *s).collect::<Vec<_>>();
    assert_eq!(statuses(&real), statuses(&unknown));
    assert_eq!(statuses(&real).last(), Some(&StatusCode::TOO_MANY_REQUESTS), "an unknown login locks too");
    for ((_, real), (_, unknown)) in real.iter().zip(&unknown).take(4) {
        assert!(real.abs_diff(*unknown) < Duration::from_millis(400), "{real:?} against {unknown:?}");
    }
    assert!(real[1].1 >= Duration::from_millis(1_000), "the second failure waits a second: {:?}", real[1].1);
}

#[actix_web::test]
async fn a_crowd_of_sign_ins_waits_for_a_few_checks_and_each_client_has_a_budget() {
    let app = spawn(|s| {
        s.limits.password_checks_at_once = Some(1);
        s.limits.password_check_wait_ms = 30;
    })
    .await;
    // Thirty strangers at once: one check at a time, the ones that cannot wait told when to retry.
    let crowd = (0..30).map(|i| {
        let app = &app;
        async move {
            let response = sign_in(app, &format!("198.18.0.{i}"), &format!("someone{i}"), "guess").await;
            (response.status(), response.headers().get(RETRY_AFTER).cloned())
        }
    });
    let answers = join_all(crowd).await;
    let busy: Vec<_> = answers.iter().filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE).collect();
    assert!(!busy.is_empty(), "{answers:?}");
    assert!(busy.iter().all(|(_, retry)| retry.as_ref().is_some_and(|r| r == "1")), "{busy:?}");
    assert!(answers.iter().all(|(s, _)| [StatusCode::UNAUTHORIZED, StatusCode::SERVICE_UNAVAILABLE].contains(s)));

    // One client's budget: the guesses past it are not checked, whatever the login.
    let app = spawn(|s| s.limits.sign_in_per_minute = 3).await;
    staff_account(&app, "131016", "佐藤 花子", "sato");
    for _ in 0..3 {
        assert_eq!(sign_in(&app, "192.0.2.50", "sato", "wrong").await.status(), StatusCode::UNAUTHORIZED);
    }
    let over = sign_in(&app, "192.0.2.50", "sato", "wrong").await;
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(over.headers().get(RETRY_AFTER).is_some());
    assert_eq!(count(&events(&app), "staff_account.sign_in_failed"), 3, "the fourth was never checked");
    assert_eq!(sign_in(&app, "192.0.2.51", "sato", PASSWORD).await.status(), StatusCode::SEE_OTHER, "another client");
}

#[actix_web::test]
async fn a_sign_in_without_its_form_token_is_refused_and_signing_out_works_before_the_first_change() {
    let app = spawn(|_| {}).await;
    staff_account(&app, "131016", "佐藤 花子", "sato");
    let forged = client()
        .post(format!("{}/console/sign-in", app.base))
        .form(&[("login", "sato"), ("password", PASSWORD)])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(events(&app).is_empty(), "nothing was checked");

    // A new account, one-time password still in force: signing out ends the session.
    let one_time = {
        let mut conn = app.db.get().expect("conn");
        let code = nonstop::domain::MunicipalityCode::parse("131016").expect("code");
        nonstop::service::staff_accounts::create(&mut conn, &code, "鈴木 一郎", "suzuki", false, app.clock.now())
            .expect("account")
            .one_time_password
    };
    let response = sign_in(&app, "192.0.2.60", "suzuki", &one_time).await;
    let cookie = cookie_of(&response, "nonstop_console").expect("session");
    let page = client()
        .get(format!("{}/console/password", app.base))
        .header(COOKIE, format!("nonstop_console={cookie}"))
        .send()
        .await
        .expect("page");
    let html = page.text().await.expect("html");
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).expect("csrf").to_owned();
    let suzuki = (cookie.clone(), csrf.clone());
    let change = [
        ("csrf", csrf.as_str()),
        ("current_password", &one_time),
        ("new_password", PASSWORD),
        ("new_password_again", PASSWORD),
    ];
    assert_eq!(
        post_form(&app, "192.0.2.60", &suzuki, "/console/password", &change).await.status(),
        StatusCode::SEE_OTHER
    );
    let changed =
        events(&app).into_iter().find(|e| e.action.as_str() == "staff_account.password_changed").expect("event");
    assert_eq!(changed.detail.as_deref(), Some("192.0.2.60"), "where it was changed from");
    let out = post_form(&app, "192.0.2.60", &suzuki, "/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(out.headers().get(LOCATION).and_then(|l| l.to_str().ok()), Some("/console/sign-in"));
    let after = client()
        .get(format!("{}/console/password", app.base))
        .header(COOKIE, format!("nonstop_console={cookie}"))
        .send()
        .await
        .expect("page");
    assert_eq!(after.headers().get(LOCATION).and_then(|l| l.to_str().ok()), Some("/console/sign-in"), "ended");
}

#[actix_web::test]
async fn a_session_must_give_the_password_to_change_it_or_the_two_step_and_its_guesses_count() {
    let app = spawn(|s| s.limits.password_check_wait_ms = 120_000).await;
    staff_account(&app, "131016", "佐藤 花子", "sato");
    let desk = "192.0.2.70";
    let sato = session(&app, desk, "sato").await;
    let csrf = sato.1.clone();

    // Two-step cannot be put in without the password.
    let secret = nonstop::service::staff_totp::new_secret();
    let code = nonstop::service::staff_totp::code_at(&secret, app.clock.now()).expect("code");
    let without = [("csrf", csrf.as_str()), ("secret", &secret), ("code", &code), ("password", "not it")];
    let refused = post_form(&app, desk, &sato, "/console/two-step", &without).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let two_step_on = |app: &TestApp| {
        let mut conn = app.db.get().expect("conn");
        let id = staff_id(app, "sato");
        nonstop::service::staff_totp::enabled(&mut conn, &id).expect("read")
    };
    assert!(!two_step_on(&app));
    let with = [("csrf", csrf.as_str()), ("secret", &secret), ("code", &code), ("password", PASSWORD)];
    assert_eq!(post_form(&app, desk, &sato, "/console/two-step", &with).await.status(), StatusCode::SEE_OTHER);
    assert!(two_step_on(&app));
    // Nor turned off.
    let off = [("csrf", csrf.as_str()), ("password", "not it either")];
    assert_eq!(
        post_form(&app, desk, &sato, "/console/two-step/off", &off).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert!(two_step_on(&app));

    // The current password cannot be guessed without end from a session: one guess was spent
    // since the right password turned two-step on, the fifth locks, and then even the right
    // one waits.
    let expected = [
        StatusCode::UNPROCESSABLE_ENTITY,
        StatusCode::UNPROCESSABLE_ENTITY,
        StatusCode::UNPROCESSABLE_ENTITY,
        StatusCode::TOO_MANY_REQUESTS,
    ];
    for (i, expected) in (2..=5).zip(expected) {
        let guess = format!("guess number {i}");
        let form = [
            ("csrf", csrf.as_str()),
            ("current_password", &guess),
            ("new_password", "another long password"),
            ("new_password_again", "another long password"),
        ];
        assert_eq!(post_form(&app, desk, &sato, "/console/password", &form).await.status(), expected, "guess {i}");
    }
    let right = [
        ("csrf", csrf.as_str()),
        ("current_password", PASSWORD),
        ("new_password", "another long password"),
        ("new_password_again", "another long password"),
    ];
    assert_eq!(post_form(&app, desk, &sato, "/console/password", &right).await.status(), StatusCode::TOO_MANY_REQUESTS);
    let trail = events(&app);
    assert_eq!(count(&trail, "staff_account.sign_in_failed"), 6, "two for the two-step, four for the password");
    assert_eq!(count(&trail, "staff_account.sign_in_locked"), 1);
    assert_eq!(count(&trail, "staff_account.password_changed"), 0);
    assert_eq!(count(&trail, "staff_account.two_step_enabled"), 1);

    // The administrator resets the two-step of a member who lost their app; a member may not.
    let admin_id = account_with_role(&app, "131016", "課長", "kacho", true);
    let other = staff_account(&app, "131016", "田中 次郎", "tanaka");
    let tanaka = session(&app, "192.0.2.71", "tanaka").await;
    let sato_id = staff_id(&app, "sato");
    let reset = format!("/console/staff/{sato_id}/two-step/reset");
    let by_member = post_form(&app, "192.0.2.71", &tanaka, &reset, &[("csrf", &tanaka.1)]).await;
    assert_eq!(by_member.status(), StatusCode::FORBIDDEN);
    assert!(two_step_on(&app));
    let kacho = session(&app, "192.0.2.72", "kacho").await;
    assert_eq!(
        post_form(&app, "192.0.2.72", &kacho, &reset, &[("csrf", &kacho.1)]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert!(!two_step_on(&app));
    let reset_event =
        events(&app).into_iter().find(|e| e.action.as_str() == "staff_account.two_step_reset").expect("event");
    assert_eq!((reset_event.actor_id.as_str(), reset_event.target_id.as_str()), (admin_id.as_str(), sato_id.as_str()));
    // Turning it off takes the password too, and is recorded.
    let kacho_secret = nonstop::service::staff_totp::new_secret();
    let kacho_code = nonstop::service::staff_totp::code_at(&kacho_secret, app.clock.now()).expect("code");
    let on = [("csrf", kacho.1.as_str()), ("secret", &kacho_secret), ("code", &kacho_code), ("password", PASSWORD)];
    assert_eq!(post_form(&app, "192.0.2.72", &kacho, "/console/two-step", &on).await.status(), StatusCode::SEE_OTHER);
    let off = [("csrf", kacho.1.as_str()), ("password", PASSWORD)];
    assert_eq!(
        post_form(&app, "192.0.2.72", &kacho, "/console/two-step/off", &off).await.status(),
        StatusCode::SEE_OTHER
    );
    let disabled =
        events(&app).into_iter().find(|e| e.action.as_str() == "staff_account.two_step_disabled").expect("event");
    assert_eq!(disabled.target_id, admin_id);
    // Another municipality's administrator cannot reach this one's accounts.
    account_with_role(&app, "131130", "渋谷 課長", "shibuya-kacho", true);
    let shibuya = session(&app, "192.0.2.73", "shibuya-kacho").await;
    let unlock = format!("/console/staff/{other}/unlock");
    assert_eq!(
        post_form(&app, "192.0.2.73", &shibuya, &unlock, &[("csrf", &shibuya.1)]).await.status(),
        StatusCode::NOT_FOUND
    );
}

fn staff_id(app: &TestApp, login: &str) -> String {
    use diesel::prelude::*;
    use nonstop::db::schema::staff_logins;
    let mut conn = app.db.get().expect("conn");
    staff_logins::table
        .filter(staff_logins::login.eq(login))
        .select(staff_logins::staff_id)
        .first(&mut *conn)
        .expect("id")
}

#[actix_web::test]
async fn a_console_session_spends_the_budget_of_a_staff_key() {
    let app = spawn(|s| {
        s.limits.requests_per_second = 1;
        s.limits.burst = 3;
    })
    .await;
    staff_account(&app, "131016", "佐藤 花子", "sato");
    let sato = session(&app, "192.0.2.80", "sato").await; // the password page took one
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = client()
            .get(format!("{}/console/notices", app.base))
            .header(COOKIE, format!("nonstop_console={}", sato.0))
            .send()
            .await
            .expect("page");
        statuses.push((response.status(), response.headers().get(RETRY_AFTER).cloned()));
    }
    let limited: Vec<_> = statuses.iter().filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS).collect();
    assert!(!limited.is_empty() && limited.iter().all(|(_, r)| r.is_some()), "{statuses:?}");
}
