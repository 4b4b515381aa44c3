//! お知らせ: the list by status, the composer with its live audience count, a notice with its
//! push preview, approval and figures, and the replies as CSV.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Asia::Tokyo;
use minijinja::{context, Value};
use serde::Deserialize;

use super::super::flash;
use super::super::i18n::{self, Lang};
use super::super::problems::{self, FieldMap, Problems};
use super::super::render;
use super::super::session::{see_other, Failure, Staff};
use super::{confirm_page, confirmed, frame, local, Confirm};
use crate::app::AppState;
use crate::domain::enums::HealthInsurance;
use crate::error::{Error, FieldErrors};
use crate::service::notices::starters;
// One quoting for every CSV the console writes: the 基幹 export's.
use crate::service::notices::{
    self, AnswerKind, Audience, MonthRange, Notice, NoticeAct, NoticeCategory, NoticeChange, NoticeInput, NoticeLink,
    NoticeRef, NoticeStatus, NoticeText, Progress, Questionnaire, Reach,
};
use crate::service::submissions::export::csv_cell;
use crate::service::{municipalities, paging};
use crate::templates::{push_payload_size, MAX_PUSH_PAYLOAD_BYTES};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/notices", web::get().to(list))
        .route("/notices/new", web::get().to(compose))
        .route("/notices", web::post().to(create))
        .route("/notices/audience", web::post().to(audience_count))
        .route("/notices/{id}", web::get().to(show))
        .route("/notices/{id}/replies.csv", web::get().to(replies_csv))
        .route("/notices/{id}/schedule", web::post().to(schedule))
        .route("/notices/{id}/edit", web::get().to(edit))
        .route("/notices/{id}/edit", web::post().to(save_edit))
        .route("/notices/{id}/{act}", web::post().to(act));
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
}

async fn list(state: web::Data<AppState>, staff: Staff, query: web::Query<ListQuery>) -> Result<HttpResponse, Failure> {
    let code = staff.session.municipality.clone();
    let all = state.db.read(move |conn| notices::list(conn, &code, 100)).await?;
    let status = query.into_inner().status.filter(|s| NoticeStatus::ALL.iter().any(|x| x.as_str() == s));
    let shown: Vec<Value> = all
        .iter()
        .filter(|n| status.as_deref().is_none_or(|s| n.status.as_str() == s))
        .map(|n| summary(n, &staff.session.staff_id))
        .collect();
    let counts: BTreeMap<&str, usize> =
        NoticeStatus::ALL.iter().map(|s| (s.as_str(), all.iter().filter(|n| n.status == *s).count())).collect();
    let awaiting_me = all.iter().filter(|n| can_approve(n, &staff.session.staff_id)).count();
    let context = context! {
        notices => shown, status => status, counts => counts,
        awaiting_me => awaiting_me,
        ..frame(&staff, "notices"),
    };
    Ok(render::page("notices.html", context)?)
}

fn summary(n: &Notice, me: &str) -> Value {
    context! {
        id => n.id.clone(),
        title => n.texts.get("ja").map(|t| t.title.clone()).unwrap_or_default(),
        status => n.status.as_str(),
        category => n.category.as_str(),
        languages => n.texts.keys().cloned().collect::<Vec<_>>(),
        created => local(n.created_at),
        awaiting_me => can_approve(n, me),
        changed_since_approval => n.changes_since_approval.as_ref().map(Vec::len),
    }
}

/// A draft someone else wrote, which this member of staff may approve.
fn can_approve(n: &Notice, me: &str) -> bool {
    n.status == NoticeStatus::Draft && !n.editors.iter().any(|e| e == me)
}

/// The composer's fields, as the browser posts them.
#[derive(Clone, Debug, Default, Deserialize)]
struct Compose {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    ja_title: String,
    #[serde(default)]
    ja_body: String,
    #[serde(default)]
    en_title: String,
    #[serde(default)]
    en_body: String,
    /// Links and attachments (files the municipality publishes), one a line: a title, then the
    /// https URL after the last space.
    #[serde(default)]
    links: String,
    #[serde(default)]
    question: String,
    /// One choice a line.
    #[serde(default)]
    choices: String,
    multiple: Option<String>,
    free_text: Option<String>,
    #[serde(default)]
    age_min: String,
    #[serde(default)]
    age_max: String,
    #[serde(default)]
    open_procedure: String,
    #[serde(default)]
    single_parent: String,
    #[serde(default)]
    health_insurance: String,
    standing: Option<String>,
    /// 掲載終了日 (inclusive, Asia/Tokyo).
    #[serde(default)]
    expires_on: String,
    /// The notice this one was copied from (複製): its other languages and link digests carry
    /// over.
    #[serde(default)]
    from: String,
}

impl Compose {
    /// The audience the conditions describe; a field that is not a number is named.
    fn audience(&self, errors: &mut FieldErrors) -> Audience {
        self.audience_over(Audience::default(), errors)
    }

    /// The conditions the composer shows, over `base` (an edited notice's audience keeps the
    /// conditions only the API sets, such as birth or due date ranges).
    fn audience_over(&self, base: Audience, errors: &mut FieldErrors) -> Audience {
        let mut month = |name: &str, text: &str| -> Option<i64> {
            let text = text.trim();
            if text.is_empty() {
                return None;
            }
            text.parse().map_err(|_| errors.insert(name.to_owned(), "数字で入力してください".into())).ok()
        };
        let min = month("age_min", &self.age_min);
        let max = month("age_max", &self.age_max);
        let child_age_months = match (min, max) {
            (None, None) => None,
            (min, max) => Some(MonthRange { min: min.unwrap_or(0), max: max.unwrap_or(276) }),
        };
        Audience {
            child_age_months,
            open_procedure: Some(self.open_procedure.trim().to_owned()).filter(|p| !p.is_empty()),
            single_parent: match self.single_parent.as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            },
            health_insurance: HealthInsurance::ALL.iter().copied().find(|h| h.as_str() == self.health_insurance),
            ..base
        }
    }

    /// The links, one a line as `title https://…` (the use case checks each title and URL).
    fn links(&self, errors: &mut FieldErrors) -> Vec<NoticeLink> {
        let mut links = Vec::new();
        for line in self.links.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match line.rsplit_once(char::is_whitespace) {
                Some((title, url)) if !title.trim().is_empty() => links.push(NoticeLink {
                    title: title.trim().to_owned(),
                    url: url.to_owned(),
                    size_bytes: None,
                    sha256: None,
                }),
                _ => {
                    errors.insert("links".into(), "1行に1つ、タイトルと URL を空白で区切って書いてください".into());
                }
            }
        }
        links
    }

    /// The notice the form describes, or the problems found before the use case's own checks;
    /// when it edits `base`, what only the API sets (other
    /// languages, a reply deadline, a link's size and digest, date conditions) is kept.
    /// An end date before `today` (Japan) is refused here: the notice would never be shown.
    fn notice_over(&self, base: Option<&Notice>, today: NaiveDate) -> Result<NoticeInput, FieldErrors> {
        let mut errors = FieldErrors::new();
        let category = NoticeCategory::ALL.iter().copied().find(|c| c.as_str() == self.category);
        if category.is_none() {
            errors.insert("category".into(), "種類を選んでください".into());
        }
        let mut texts: BTreeMap<String, NoticeText> = base
            .map(|n| n.texts.iter().filter(|(l, _)| !["ja", "en"].contains(&l.as_str())))
            .into_iter()
            .flatten()
            .map(|(l, t)| (l.clone(), t.clone()))
            .collect();
        texts.insert(
            "ja".to_owned(),
            NoticeText { title: self.ja_title.trim().into(), body: self.ja_body.trim().into() },
        );
        if !self.en_title.trim().is_empty() || !self.en_body.trim().is_empty() {
            texts.insert(
                "en".to_owned(),
                NoticeText { title: self.en_title.trim().into(), body: self.en_body.trim().into() },
            );
        }
        for (language, text) in &texts {
            for (part, value) in [("title", &text.title), ("body", &text.body)] {
                if starters::has_blank(value) {
                    errors.insert(format!("texts.{language}.{part}"), "ひな形の［ ］の部分を書き換えてください".into());
                }
            }
        }
        let choices: Vec<String> =
            self.choices.lines().map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect();
        let questionnaire = (!self.question.trim().is_empty() || !choices.is_empty()).then(|| Questionnaire {
            question: self.question.trim().to_owned(),
            kind: if self.multiple.is_some() { AnswerKind::Multiple } else { AnswerKind::Single },
            choices,
            free_text: self.free_text.is_some(),
            reply_deadline: base.and_then(|n| n.questionnaire.as_ref()).and_then(|q| q.reply_deadline),
        });
        let expires_at = match self.expires_on.trim() {
            "" => None,
            day => match day.parse::<NaiveDate>() {
                // The end of that day in Japan.
                Ok(day) if day < today => {
                    errors.insert(
                        "expires_on".into(),
                        "掲載終了日が今日より前です。今日以降の日を選んでください。".into(),
                    );
                    None
                }
                Ok(day) => day
                    .succ_opt()
                    .and_then(|next| Tokyo.from_local_datetime(&next.and_time(chrono::NaiveTime::MIN)).single())
                    .map(|t| t.with_timezone(&chrono::Utc)),
                Err(_) => {
                    errors.insert("expires_on".into(), "日付を YYYY-MM-DD で入力してください".into());
                    None
                }
            },
        };
        let mut links = self.links(&mut errors);
        for link in &mut links {
            if let Some(known) = base.into_iter().flat_map(|n| &n.links).find(|k| k.url == link.url) {
                (link.size_bytes, link.sha256) = (known.size_bytes, known.sha256.clone());
            }
        }
        let audience = self.audience_over(base.map(|n| n.audience.clone()).unwrap_or_default(), &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(NoticeInput {
            category: category.unwrap_or(NoticeCategory::Event),
            texts,
            links,
            audience,
            questionnaire,
            standing: self.standing.is_some(),
            expires_at,
        })
    }
}

impl From<&Notice> for Compose {
    /// The composer filled with a notice, to edit it.
    fn from(n: &Notice) -> Self {
        let text =
            |language: &str| n.texts.get(language).cloned().unwrap_or(NoticeText { title: "".into(), body: "".into() });
        let (ja, en) = (text("ja"), text("en"));
        let question = n.questionnaire.as_ref();
        let ages = n.audience.child_age_months;
        Self {
            csrf: String::new(),
            category: n.category.as_str().to_owned(),
            ja_title: ja.title,
            ja_body: ja.body,
            en_title: en.title,
            en_body: en.body,
            links: n.links.iter().map(|l| format!("{} {}", l.title, l.url)).collect::<Vec<_>>().join("\n"),
            question: question.map(|q| q.question.clone()).unwrap_or_default(),
            choices: question.map(|q| q.choices.join("\n")).unwrap_or_default(),
            multiple: question.filter(|q| q.kind == AnswerKind::Multiple).map(|_| "on".into()),
            free_text: question.filter(|q| q.free_text).map(|_| "on".into()),
            age_min: ages.map(|a| a.min.to_string()).unwrap_or_default(),
            age_max: ages.map(|a| a.max.to_string()).unwrap_or_default(),
            open_procedure: n.audience.open_procedure.clone().unwrap_or_default(),
            single_parent: match n.audience.single_parent {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => String::new(),
            },
            health_insurance: n.audience.health_insurance.map(|h| h.as_str().to_owned()).unwrap_or_default(),
            standing: n.standing.then(|| "on".into()),
            // The page asks for the last day shown; the notice keeps the instant it ends.
            expires_on: n
                .expires_at
                .map(|t| (t.with_timezone(&Tokyo) - chrono::Duration::seconds(1)).date_naive().to_string())
                .unwrap_or_default(),
            from: String::new(),
        }
    }
}

#[derive(Deserialize)]
struct ComposeQuery {
    /// 複製: a notice of this municipality to start from.
    from: Option<String>,
    /// ひな形: a starter's id.
    starter: Option<String>,
}

/// The composer: empty, filled with a copy of a notice (a new draft: nothing is saved until
/// staff save it), or filled with a starter's texts.
impl Compose {
    /// A new notice like `n`: the same contents and audience, no end date (the old one has
    /// likely passed) and no reply deadline; `from` carries its other languages.
    fn copy_of(n: &Notice) -> Self {
        Self { expires_on: String::new(), from: n.id.clone(), ..Self::from(n) }
    }

    /// The composer filled with a starter's category and texts.
    fn from_starter(starter: &starters::Starter) -> Self {
        let text = |language: &str| starter.texts.get(language);
        Self {
            category: starter.category.as_str().to_owned(),
            ja_title: text("ja").map(|t| t.title.clone()).unwrap_or_default(),
            ja_body: text("ja").map(|t| t.body.clone()).unwrap_or_default(),
            en_title: text("en").map(|t| t.title.clone()).unwrap_or_default(),
            en_body: text("en").map(|t| t.body.clone()).unwrap_or_default(),
            ..Self::default()
        }
    }
}

async fn compose(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<ComposeQuery>,
) -> Result<HttpResponse, Failure> {
    let form = match (query.into_inner(), staff.session.municipality.clone()) {
        (ComposeQuery { from: Some(id), .. }, code) => {
            let notice = state.db.read(move |conn| notices::get(conn, &code, &id)).await?;
            Compose::copy_of(&notice)
        }
        (ComposeQuery { starter: Some(id), .. }, _) => {
            Compose::from_starter(starters::starter(&id).ok_or(Error::NotFound("starter"))?)
        }
        _ => Compose::default(),
    };
    compose_page(&state, &staff, &form, None, &FieldErrors::new())
}

/// The composer filled with a notice not yet sent; saving returns it to draft.
async fn edit(state: web::Data<AppState>, staff: Staff, id: web::Path<String>) -> Result<HttpResponse, Failure> {
    let code = staff.session.municipality.clone();
    let notice = state.db.read(move |conn| notices::get(conn, &code, &id)).await?;
    compose_page(&state, &staff, &Compose::from(&notice), Some(&notice.id), &FieldErrors::new())
}

/// Saves the edited contents through the same use case as the API (`NoticeAct::Update`).
async fn save_edit(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<String>,
    form: web::Form<Compose>,
) -> Result<HttpResponse, Failure> {
    staff.check_form_token(&form.csrf)?;
    save(&state, &staff, form.into_inner(), Some(id.into_inner())).await
}

async fn create(state: web::Data<AppState>, staff: Staff, form: web::Form<Compose>) -> Result<HttpResponse, Failure> {
    staff.check_form_token(&form.csrf)?;
    save(&state, &staff, form.into_inner(), None).await
}

/// Saves the composer's notice, new or `editing` one, once the checks before saving pass: the
/// composer's reading (an end date already past among them), then whom it reaches (a notice
/// for no family is caught here, unless it stays up for families who move in later), then the
/// use case's own. Any problem brings the composer back with everything typed, each problem at
/// its field.
async fn save(
    state: &AppState,
    staff: &Staff,
    form: Compose,
    editing: Option<String>,
) -> Result<HttpResponse, Failure> {
    let code = staff.session.municipality.clone();
    // The notice edited, or the one copied (複製): what the composer does not show (other
    // languages, link digests) is kept from it.
    let copied = (editing.is_none() && !form.from.is_empty()).then(|| form.from.clone());
    let base = match editing.clone().or_else(|| copied.clone()) {
        Some(id) => {
            let code = code.clone();
            Some(state.db.read(move |conn| notices::get(conn, &code, &id)).await?)
        }
        None => None,
    };
    let refused = |errors: FieldErrors| compose_page(state, staff, &form, editing.as_deref(), &errors);
    let input = match form.notice_over(base.as_ref(), state.clock.today()) {
        Ok(mut input) => {
            // The copied notice's reply deadline belongs to it.
            if let Some(q) = input.questionnaire.as_mut().filter(|_| copied.is_some()) {
                q.reply_deadline = None;
            }
            input
        }
        Err(errors) => return refused(errors),
    };
    if !input.standing {
        match reach_of(state, staff, input.audience.clone(), None).await {
            Ok(reach) if reach.families == 0 => {
                let problem = "この条件に当てはまる住民の世帯は、いま 0 世帯です。条件を見直してください。";
                return refused(FieldErrors::from([("audience".to_owned(), problem.to_owned())]));
            }
            Ok(_) => {}
            Err(Error::Validation(errors)) => return refused(errors),
            Err(other) => return Err(other.into()),
        }
    }
    let staff_id = staff.session.staff_id.clone();
    let saved = match &editing {
        Some(id) => {
            let target = NoticeRef { code, id: id.clone(), staff_id };
            state.act_on_notice(staff.actor.clone(), target, NoticeAct::Update(input)).await
        }
        None => {
            state
                .write_audited(staff.actor.clone(), move |conn, uc| {
                    notices::create_audited(conn, &code, &staff_id, input, uc.now)
                })
                .await
        }
    };
    match saved {
        Ok(notice) => {
            let done = if editing.is_some() { "saved" } else { "created" };
            Ok(see_other(&flash::after(&format!("/console/notices/{}", notice.id), done)))
        }
        Err(Error::Validation(errors)) => refused(errors),
        Err(other) => Err(other.into()),
    }
}

/// Where the composer shows each problem: the use case's fields, then the composer's own.
const COMPOSER: FieldMap<'static> = &[
    ("category", "category", "種類"),
    ("texts.ja.title", "ja_title", "件名（日本語）"),
    ("texts.ja.body", "ja_body", "本文（日本語）"),
    ("texts.ja", "ja_title", "件名（日本語）"),
    ("texts.en.title", "en_title", "件名（英語）"),
    ("texts.en.body", "en_body", "本文（英語）"),
    ("texts.en", "en_title", "件名（英語）"),
    ("links", "links", "リンク・添付"),
    ("questionnaire.question", "question", "質問"),
    ("questionnaire.choices", "choices", "選択肢"),
    ("questionnaire", "question", "アンケート"),
    ("audience.child_age_months", "age_min", "子の月齢"),
    ("age_min", "age_min", "子の月齢（から）"),
    ("age_max", "age_max", "子の月齢（まで）"),
    ("audience", "audience", "届ける相手"),
    ("expires_on", "expires_on", "掲載終了日"),
    ("expires_at", "expires_on", "掲載終了日"),
];

/// The composer, with `errors` at their fields (422 when there are any).
fn compose_page(
    state: &AppState,
    staff: &Staff,
    form: &Compose,
    editing: Option<&str>,
    errors: &FieldErrors,
) -> Result<HttpResponse, Failure> {
    let procedures: Vec<Value> = state
        .planning
        .catalog
        .procedures
        .iter()
        .map(|p| context! { id => p.id.clone(), name => staff.lang.name(&p.name) })
        .collect();
    let categories: Vec<&str> = NoticeCategory::ALL.iter().map(|c| c.as_str()).collect();
    let language = staff.lang.code();
    let starters: Vec<Value> = starters::starters()
        .iter()
        .map(|s| {
            let name = s.name.get(language).or_else(|| s.name.get("ja")).cloned().unwrap_or_default();
            context! { id => s.id.clone(), name => name }
        })
        .collect();
    let problems = problems::at_fields(staff.lang, errors, COMPOSER);
    let status = match problems.is_empty() {
        true => actix_web::http::StatusCode::OK,
        false => actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
    };
    let context = context! {
        starters => starters,
        form => render::ser(FormView::from(form)),
        editing => editing,
        problems => render::ser(&problems), procedures => procedures, categories => categories,
        ..frame(staff, "notices"),
    };
    Ok(render::page_with_status(status, "notice_new.html", context)?)
}

/// Whom `audience` reaches if the notice goes out at `at` (now when `None`), counted the way
/// sending counts (`notices::reach`), in an expensive read's turn.
async fn reach_of(
    state: &AppState,
    staff: &Staff,
    audience: Audience,
    at: Option<chrono::NaiveDateTime>,
) -> Result<Reach, Error> {
    let _turn = state.expensive_turn().await?;
    let (at, today) = match at {
        Some(at) => (at, crate::domain::dates::tokyo_date(at.and_utc())),
        None => (state.clock.now(), state.clock.today()),
    };
    let code = staff.session.municipality.clone();
    state.db.read(move |conn| notices::reach(conn, &code, &audience, today, at)).await
}

/// The composer's values as the page shows them again.
#[derive(serde::Serialize)]
struct FormView<'a> {
    category: &'a str,
    ja_title: &'a str,
    ja_body: &'a str,
    en_title: &'a str,
    en_body: &'a str,
    links: &'a str,
    question: &'a str,
    choices: &'a str,
    multiple: bool,
    free_text: bool,
    age_min: &'a str,
    age_max: &'a str,
    open_procedure: &'a str,
    single_parent: &'a str,
    health_insurance: &'a str,
    standing: bool,
    expires_on: &'a str,
    from: &'a str,
}

impl<'a> From<&'a Compose> for FormView<'a> {
    fn from(f: &'a Compose) -> Self {
        Self {
            category: &f.category,
            ja_title: &f.ja_title,
            ja_body: &f.ja_body,
            en_title: &f.en_title,
            en_body: &f.en_body,
            links: &f.links,
            question: &f.question,
            choices: &f.choices,
            multiple: f.multiple.is_some(),
            free_text: f.free_text.is_some(),
            age_min: &f.age_min,
            age_max: &f.age_max,
            open_procedure: &f.open_procedure,
            single_parent: &f.single_parent,
            health_insurance: &f.health_insurance,
            standing: f.standing.is_some(),
            expires_on: &f.expires_on,
            from: &f.from,
        }
    }
}

/// The live family count of the composer's conditions (an htmx fragment).
async fn audience_count(
    state: web::Data<AppState>,
    staff: Staff,
    form: web::Form<Compose>,
) -> Result<HttpResponse, Failure> {
    staff.check_form_token(&form.csrf)?;
    state.pay_expensive_read(&staff.session.principal)?;
    let mut errors = FieldErrors::new();
    let audience = form.audience(&mut errors);
    let size = match errors.is_empty() {
        true => state.audience_size(staff.session.municipality.clone(), audience).await,
        false => Err(Error::Validation(errors)),
    };
    let context = match size {
        Ok(size) => context! { size => size.audience_size, fewer_than => size.fewer_than, problem => None::<String> },
        Err(Error::Validation(errors)) => {
            let problems: Vec<String> = errors.values().map(|p| i18n::text(staff.lang, p)).collect();
            context! { size => None::<i64>, problem => problems.join(" ") }
        }
        Err(other) => return Err(other.into()),
    };
    Ok(render::page("audience_count.html", context)?)
}

async fn show(state: web::Data<AppState>, staff: Staff, id: web::Path<String>) -> Result<HttpResponse, Failure> {
    notice_page(&state, &staff, id.into_inner(), Shown::default(), actix_web::http::StatusCode::OK).await
}

/// What a notice's page shows besides the notice, after an act it refused.
#[derive(Default)]
struct Shown {
    /// The approval just refused because the contents changed after the page was read, with
    /// what changed (`None` inside: not known).
    changed_since_shown: Option<Option<Vec<NoticeChange>>>,
    /// The problems of the act, at their fields.
    problems: Problems,
    /// The send time as typed.
    send_at: String,
}

/// Where the notice's page shows a problem of scheduling.
const SCHEDULING: FieldMap<'static> = &[("send_at", "send_at", "送信日時")];

/// A notice's page. Until it is sent, its audience is the families it would reach now (or at
/// its scheduled time), counted the way sending counts them.
async fn notice_page(
    state: &AppState,
    staff: &Staff,
    id: String,
    shown: Shown,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, Failure> {
    let Shown { changed_since_shown, problems, send_at } = shown;
    // Figures, progress and replies: an expensive read.
    let _turn = state.expensive_read(&staff.session.principal).await?;
    let code = staff.session.municipality.clone();
    let (keys, planning, templates) = (state.keys.clone(), state.planning.clone(), state.templates.clone());
    let (now, today) = (state.clock.now(), state.clock.today());
    let (notice, figures, replies, name, progress, reach) = state
        .db
        .read(move |conn| {
            let notice = notices::get(conn, &code, &id)?;
            let figures = notices::figures(conn, &code, &id)?;
            let replies = notices::replies(conn, &keys, &code, &id, paging::ALL, None)?;
            let name = municipalities::display_name(conn, &planning, code.as_str())?;
            let progress = notices::progress(conn, &code, &id, now, CHART_HOURS)?;
            let reach = match (notice.status, notice.send_at) {
                (NoticeStatus::Draft | NoticeStatus::Approved, _) => {
                    Some(notices::reach(conn, &code, &notice.audience, today, now)?)
                }
                (NoticeStatus::Scheduled, Some(at)) => {
                    let at = at.naive_utc();
                    Some(notices::reach(
                        conn,
                        &code,
                        &notice.audience,
                        crate::domain::dates::tokyo_date(at.and_utc()),
                        at,
                    )?)
                }
                _ => None,
            };
            Ok((notice, figures, replies, name, progress, reach))
        })
        .await?;
    let mut previews = Vec::new();
    // Japanese first (the text every family falls back to), then the others.
    let mut languages: Vec<&String> = notice.texts.keys().collect();
    languages.sort_by_key(|l| (l.as_str() != "ja", l.as_str()));
    for language in languages {
        let rendered = notices::render(&templates, &notice, &name, language)?;
        previews.push(context! {
            language => language.clone(),
            title => rendered.title.clone(),
            body => rendered.body.clone(),
            inbox_text => rendered.inbox_text.clone(),
            used_percent => (push_payload_size(&rendered) * 100).div_ceil(MAX_PUSH_PAYLOAD_BYTES),
        });
    }
    let me = staff.session.staff_id.clone();
    let held: Vec<Value> = reach
        .iter()
        .flat_map(|r| &r.held_until)
        .map(|(until, count)| context! { until => local(until.and_utc()), count => count })
        .collect();
    let stale = changed_since_shown.map(|changes| {
        let shown: Vec<Value> = changes.iter().flatten().map(|c| change_view(staff.lang, c)).collect();
        context! { known => changes.is_some(), changes => shown }
    });
    let context = context! {
        stale => stale,
        problems => render::ser(&problems),
        send_at => send_at,
        reach => reach.as_ref().map(|r| r.families),
        held => held,
        notice => render::ser(&notice),
        figures => render::ser(&figures),
        replies => render::ser(&replies),
        previews => previews,
        chart => chart(&progress, figures.audience),
        created => local(notice.created_at),
        sent => notice.sent_at.map(local),
        scheduled => notice.send_at.map(local),
        changes => notice.changes_since_approval.iter().flatten().map(|c| change_view(staff.lang, c)).collect::<Vec<_>>(),
        can_approve => can_approve(&notice, &me),
        can_send => notice.status == NoticeStatus::Approved,
        can_cancel => matches!(notice.status, NoticeStatus::Draft | NoticeStatus::Approved | NoticeStatus::Scheduled),
        i_wrote_it => notice.editors.contains(&me),
        ..frame(staff, "notices"),
    };
    Ok(render::page_with_status(status, "notice.html", context)?)
}

/// A change since the last approval as the page shows it: the part by its name on the composer,
/// each value as text.
fn change_view(lang: Lang, change: &NoticeChange) -> Value {
    let label = match change.field.split('.').collect::<Vec<_>>().as_slice() {
        ["texts", language, "title"] => i18n::format(lang, "件名（{language}）", &[("language", language)]),
        ["texts", language, "body"] => i18n::format(lang, "本文（{language}）", &[("language", language)]),
        ["category"] => i18n::text(lang, "種類"),
        ["links"] => i18n::text(lang, "リンク・添付"),
        ["questionnaire"] => i18n::text(lang, "アンケート"),
        ["audience"] => i18n::text(lang, "届ける相手"),
        ["expires_at"] => i18n::text(lang, "掲載終了"),
        ["standing"] => i18n::text(lang, "転入する世帯への配信"),
        _ => change.field.clone(),
    };
    let text = |value: &serde_json::Value| match value {
        serde_json::Value::Null => i18n::text(lang, "（なし）"),
        serde_json::Value::String(text) => text.clone(),
        // Links as the composer writes them, one `title url` a line.
        serde_json::Value::Array(links) if change.field == "links" => {
            let lines: Vec<String> = links
                .iter()
                .map(|l| {
                    format!("{} {}", l["title"].as_str().unwrap_or_default(), l["url"].as_str().unwrap_or_default())
                })
                .collect();
            if lines.is_empty() {
                i18n::text(lang, "（なし）")
            } else {
                lines.join("\n")
            }
        }
        other => other.to_string(),
    };
    context! { field => change.field.clone(), label => label, approved => text(&change.approved), now => text(&change.now) }
}

/// The chart covers the first three days after sending.
const CHART_HOURS: i64 = 72;

/// Delivery and reads over time as SVG polylines (drawn server-side: no chart script), on a
/// 600×200 plot whose height is the audience.
fn chart(progress: &[Progress], audience: i64) -> Value {
    const W: f64 = 600.0;
    const H: f64 = 200.0;
    if progress.len() < 2 {
        return Value::from(());
    }
    let last = progress.last().map_or(1, |p| p.hours_after.max(1)) as f64;
    let top = audience.max(1) as f64;
    let line = |value: fn(&Progress) -> i64| -> String {
        progress
            .iter()
            .map(|p| format!("{:.1},{:.1}", p.hours_after as f64 / last * W, H - value(p) as f64 / top * H))
            .collect::<Vec<_>>()
            .join(" ")
    };
    context! {
        width => W, height => H, hours => last as i64, audience => audience,
        pushed => line(|p| p.pushed), read => line(|p| p.read),
        final_pushed => progress.last().map_or(0, |p| p.pushed), final_read => progress.last().map_or(0, |p| p.read),
    }
}

#[derive(Deserialize)]
struct ActForm {
    csrf: String,
    /// The digest of the contents the page showed (the approve form's).
    #[serde(default)]
    digest: String,
    /// `yes` once the confirmation page was read (sending and cancelling).
    confirmed: Option<String>,
}

/// Approve, send or cancel, as the signed-in member of staff (recorded in the audit trail).
/// Sending and cancelling are first said in words and confirmed (`confirm_notice_act`). An
/// approval is of the contents the page showed: when they changed since, the page comes back
/// (409) with what changed, and nothing is approved. A refusal comes back on the notice's page.
async fn act(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(String, String)>,
    form: web::Form<ActForm>,
) -> Result<HttpResponse, Failure> {
    staff.check_form_token(&form.csrf)?;
    let (id, act) = path.into_inner();
    let ActForm { digest, confirmed: confirmation, .. } = form.into_inner();
    let (act, done) = match act.as_str() {
        "approve" => (NoticeAct::Approve { digest: digest.clone() }, "approved"),
        "send" => (NoticeAct::Send, "sent"),
        "cancel" => (NoticeAct::Cancel, "cancelled"),
        _ => return Err(Error::NotFound("action").into()),
    };
    if done != "approved" && !confirmed(confirmation.as_deref()) {
        let what = if done == "sent" { Irreversible::Send(None) } else { Irreversible::Cancel };
        return confirm_notice_act(&state, &staff, &id, what).await;
    }
    let code = staff.session.municipality.clone();
    let target = NoticeRef { code: code.clone(), id: id.clone(), staff_id: staff.session.staff_id.clone() };
    match state.act_on_notice(staff.actor.clone(), target, act).await {
        Ok(_) => Ok(see_other(&flash::after(&format!("/console/notices/{id}"), done))),
        Err(Error::Changed { code: "approval_stale", .. }) => {
            let lookup = id.clone();
            let changes =
                state.db.read(move |conn| notices::changes_since_shown(conn, &code, &lookup, &digest)).await?;
            let shown = Shown { changed_since_shown: Some(changes), ..Shown::default() };
            notice_page(&state, &staff, id, shown, actix_web::http::StatusCode::CONFLICT).await
        }
        Err(refused @ (Error::Conflict { .. } | Error::Changed { .. })) => {
            let shown = Shown { problems: Problems::whole(staff.lang, &refused.message()), ..Shown::default() };
            notice_page(&state, &staff, id, shown, actix_web::http::StatusCode::CONFLICT).await
        }
        Err(other) => Err(other.into()),
    }
}

/// What cannot be undone on a notice.
enum Irreversible {
    /// Sending: now, or at a time (with the time as typed).
    Send(Option<(chrono::NaiveDateTime, String)>),
    Cancel,
}

/// The confirmation of sending or cancelling. Sending says how many families it reaches,
/// counted the way sending will count them, and when おやすみ時間 (the hours a family's
/// phone is not woken) hold some of them back.
async fn confirm_notice_act(
    state: &AppState,
    staff: &Staff,
    id: &str,
    what: Irreversible,
) -> Result<HttpResponse, Failure> {
    let lookup = (staff.session.municipality.clone(), id.to_owned());
    let notice = state.db.read(move |conn| notices::get(conn, &lookup.0, &lookup.1)).await?;
    let lang = staff.lang;
    let title = notice.texts.get("ja").map(|t| t.title.clone()).unwrap_or_default();
    let back = format!("/console/notices/{id}");
    let confirm = match what {
        Irreversible::Cancel => Confirm {
            heading: i18n::format(lang, "「{title}」を取り消します", &[("title", &title)]),
            details: vec![i18n::text(lang, "取り消したお知らせは、もう送信も予約もできません。")],
            action: format!("/console/notices/{id}/cancel"),
            fields: Vec::new(),
            button: i18n::text(lang, "取り消す"),
            back,
            allowed: true,
            upload: None,
        },
        Irreversible::Send(at) => {
            let reach = reach_of(state, staff, notice.audience.clone(), at.as_ref().map(|(at, _)| *at)).await?;
            let mut details = vec![i18n::format(lang, "件名: {title}", &[("title", &title)])];
            if let Some((at, _)) = &at {
                details.push(i18n::format(lang, "送信日時: {when}", &[("when", &local(at.and_utc()))]));
            }
            for (until, count) in &reach.held_until {
                details.push(i18n::format(
                    lang,
                    "うち {count}世帯は、おやすみ時間（通知を鳴らさない時間帯）のため {until} に届きます。",
                    &[("count", &count.to_string()), ("until", &local(until.and_utc()))],
                ));
            }
            if notice.standing {
                details.push(i18n::text(lang, "あとから転入する世帯にも、転入したときに届きます。"));
            }
            let allowed = reach.families > 0 || notice.standing;
            if !allowed {
                details.push(i18n::text(
                    lang,
                    "この条件に当てはまる住民の世帯がいないため、送信できません。内容を直して、届ける相手の条件を見直してください。",
                ));
            }
            let (action, button, fields) = match at {
                Some((_, typed)) => (
                    format!("/console/notices/{id}/schedule"),
                    i18n::text(lang, "予約する"),
                    vec![("send_at".to_owned(), typed)],
                ),
                None => (format!("/console/notices/{id}/send"), i18n::text(lang, "送信する"), Vec::new()),
            };
            Confirm {
                heading: i18n::format(lang, "{count}世帯に送信します", &[("count", &reach.families.to_string())]),
                details,
                action,
                fields,
                button,
                back,
                allowed,
                upload: None,
            }
        }
    };
    confirm_page(staff, "notices", confirm)
}

#[derive(Deserialize)]
struct ScheduleForm {
    csrf: String,
    /// `YYYY-MM-DDTHH:MM` in Japan (a `datetime-local` field).
    #[serde(default)]
    send_at: String,
    confirmed: Option<String>,
}

/// Sends an approved notice at a set time (Asia/Tokyo), once confirmed; a time that cannot be
/// read or is past comes back at its field before the confirmation.
async fn schedule(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    form: web::Form<ScheduleForm>,
) -> Result<HttpResponse, Failure> {
    staff.check_form_token(&form.csrf)?;
    let id = path.into_inner();
    let ScheduleForm { send_at: typed, confirmed: confirmation, .. } = form.into_inner();
    let refused = |errors: FieldErrors, status| {
        let problems = problems::at_fields(staff.lang, &errors, SCHEDULING);
        let shown = Shown { problems, send_at: typed.clone(), ..Shown::default() };
        notice_page(&state, &staff, id.clone(), shown, status)
    };
    let unprocessable = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
    let send_at = match tokyo_minute(&typed) {
        // The use case's own rule, asked before the confirmation rather than after it.
        Some(at) if at < state.clock.now() => {
            return refused(FieldErrors::from([("send_at".into(), "must not be in the past".into())]), unprocessable)
                .await
        }
        Some(at) => at,
        None => {
            let problem = "日時を YYYY-MM-DD HH:MM で入力してください";
            return refused(FieldErrors::from([("send_at".into(), problem.into())]), unprocessable).await;
        }
    };
    if !confirmed(confirmation.as_deref()) {
        return confirm_notice_act(&state, &staff, &id, Irreversible::Send(Some((send_at, typed.clone())))).await;
    }
    let target = NoticeRef {
        code: staff.session.municipality.clone(),
        id: id.clone(),
        staff_id: staff.session.staff_id.clone(),
    };
    match state.act_on_notice(staff.actor.clone(), target, NoticeAct::Schedule(send_at)).await {
        Ok(_) => Ok(see_other(&flash::after(&format!("/console/notices/{id}"), "scheduled"))),
        Err(Error::Validation(errors)) => refused(errors, unprocessable).await,
        Err(refusal @ (Error::Conflict { .. } | Error::Changed { .. })) => {
            let shown = Shown { problems: Problems::whole(staff.lang, &refusal.message()), ..Shown::default() };
            notice_page(&state, &staff, id, shown, actix_web::http::StatusCode::CONFLICT).await
        }
        Err(other) => Err(other.into()),
    }
}

/// A `datetime-local` value read as a time in Japan, in UTC.
fn tokyo_minute(text: &str) -> Option<chrono::NaiveDateTime> {
    let local = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M").ok()?;
    Tokyo.from_local_datetime(&local).single().map(|t| t.naive_utc())
}

/// The replies with the names of the families' guardians, as CSV (staff only).
async fn replies_csv(state: web::Data<AppState>, staff: Staff, id: web::Path<String>) -> Result<HttpResponse, Failure> {
    let _turn = state.expensive_read(&staff.session.principal).await?;
    let code = staff.session.municipality.clone();
    let id = id.into_inner();
    let keys = state.keys.clone();
    let summary = state.db.read(move |conn| notices::replies(conn, &keys, &code, &id, paging::ALL, None)).await?;
    let mut csv = String::from("\u{feff}guardians,choices,free_text,replied_at\r\n");
    for reply in &summary.items {
        let cells = [
            reply.guardian_names.join(" / "),
            reply.choices.join(" / "),
            reply.free_text.clone().unwrap_or_default(),
            local(reply.replied_at),
        ];
        csv.push_str(&cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(","));
        csv.push_str("\r\n");
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"replies.csv\""))
        .body(csv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheduled_time_is_read_in_japan() {
        assert_eq!(tokyo_minute("2026-12-02T09:00").map(|t| t.to_string()), Some("2026-12-02 00:00:00".into()));
        assert_eq!(tokyo_minute("2026-12-02 09:00"), None);
    }

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell("はい"), "\"はい\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    }

    #[test]
    fn the_composer_reads_both_languages_a_questionnaire_and_the_conditions() {
        let form = Compose {
            category: "checkup".into(),
            ja_title: "健診のお知らせ".into(),
            ja_body: "本文".into(),
            en_title: "Checkup".into(),
            en_body: "Body".into(),
            question: "参加しますか".into(),
            choices: "はい\r\nいいえ\r\n\r\n".into(),
            age_min: "3".into(),
            single_parent: "no".into(),
            expires_on: "2027-01-31".into(),
            links: "案内（PDF） https://example.lg.jp/a.pdf\r\n\r\n".into(),
            ..Compose::default()
        };
        let today = NaiveDate::from_ymd_opt(2026, 12, 6).expect("date");
        let notice = form.notice_over(None, today).expect("valid");
        assert_eq!(notice.texts.len(), 2);
        let q = notice.questionnaire.expect("questionnaire");
        assert_eq!((q.choices, q.kind), (vec!["はい".to_owned(), "いいえ".to_owned()], AnswerKind::Single));
        assert_eq!(notice.audience.child_age_months.map(|r| (r.min, r.max)), Some((3, 276)));
        assert_eq!(notice.audience.single_parent, Some(false));
        assert_eq!(notice.expires_at.map(|t| t.to_rfc3339()), Some("2027-01-31T15:00:00+00:00".into()));
        assert_eq!(
            notice.links.iter().map(|l| (l.title.as_str(), l.url.as_str())).collect::<Vec<_>>(),
            [("案内（PDF）", "https://example.lg.jp/a.pdf")]
        );
        let bad = Compose { age_max: "十二".into(), links: "https://example.lg.jp/".into(), ..Compose::default() };
        let errors = bad.notice_over(None, today).expect_err("refused");
        assert!(["age_max", "category", "links"].iter().all(|f| errors.contains_key(*f)), "{errors:?}");
    }

    #[test]
    fn an_end_date_before_today_is_caught_before_saving_and_today_is_not() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 6).expect("date");
        let form = |expires_on: &str| Compose {
            category: "event".into(),
            ja_title: "子育て広場".into(),
            ja_body: "本文".into(),
            expires_on: expires_on.into(),
            ..Compose::default()
        };
        let errors = form("2026-12-05").notice_over(None, today).expect_err("yesterday is refused");
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["expires_on"]);
        // The last day shown may be today: it ends at midnight in Japan.
        let kept = form("2026-12-06").notice_over(None, today).expect("today is kept");
        assert_eq!(kept.expires_at.map(|t| t.to_rfc3339()), Some("2026-12-06T15:00:00+00:00".into()));
    }
}
