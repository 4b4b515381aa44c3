//! 手続カタログ: the procedures nonstop knows, loaded from `catalog/procedures.toml`.
//!
//! Each procedure says what starts it (a due date, a birth, a move, or the calendar year), when
//! its window opens and closes, its deadline and how the law counts it, who may file where, for
//! whom it applies, when to remind, and its legal basis with a source.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::calendar::{Calendar, MonthDay};
use super::enums::{HealthInsurance, Sex, VaccineProduct};
use super::periods;
use crate::text_enum;

text_enum! {
    /// What kind of thing the family has to do.
    pub enum ProcedureKind {
        /// 届出・申請: a filing with a form.
        Filing => "filing",
        /// 健診: a health checkup.
        Checkup => "checkup",
        /// 予防接種: a vaccination.
        Vaccination => "vaccination",
        /// A service the municipality provides (訪問): nothing to file, something to expect.
        Service => "service",
        /// Something to know or to ask someone else to do (e.g. through the employer).
        Information => "information",
    }
}

text_enum! {
    /// What starts a procedure.
    pub enum Trigger {
        /// 出産予定日 of an expected child.
        DueDate => "due_date",
        /// 生年月日 of a born child.
        Birth => "birth",
        /// The date of the family's latest move (転入).
        Moved => "moved",
        /// Every calendar year.
        Yearly => "yearly",
        /// A recorded dose of the vaccination the procedure `follows` (予防接種の次の回): the
        /// next dose counts its interval from it.
        Dose => "dose",
        /// 流産・死産: the day a pregnancy ended (a `pregnancy_ended` event). Planned for the
        /// household, once per day on which pregnancies ended (twins lost together are one).
        PregnancyEnded => "pregnancy_ended",
        /// 死亡: the day a child died (a `child_died` event), planned for the household.
        ChildDied => "child_died",
    }
}

text_enum! {
    /// Whom a task is about: one child, or the household.
    pub enum Subject {
        Child => "child",
        Household => "household",
    }
}

text_enum! {
    /// What a deadline means.
    pub enum DeadlineKind {
        /// Set by law: after it the filing is late (and may be fined or refused).
        Legal => "legal",
        /// Set by the municipality's own rules (条例, 規則, 募集要項), not by law: it varies by
        /// municipality, and closed days extend it only where the municipality says so.
        Municipal => "municipal",
        /// Recommended: a later start is still allowed.
        Recommended => "recommended",
        /// A benefit claim (児童手当): claimed by this date, the benefit is paid from the next
        /// month; a later claim is still valid, but the months before it are not paid.
        BenefitStartsNextMonth => "benefit_starts_next_month",
    }
}

text_enum! {
    /// How a filing with the municipality can be made.
    pub enum Channel {
        /// 電子申請 (マイナポータル or the municipality's own).
        Online => "online",
        /// 窓口: at the municipal office.
        Counter => "counter",
        /// 郵送: by post.
        Mail => "mail",
        /// Through the hospital or midwife (医療機関・助産所経由).
        Hospital => "hospital",
    }
}

text_enum! {
    /// Where the filing goes.
    pub enum FilesWith {
        /// 市区町村 (窓口 or マイナポータル).
        Municipality => "municipality",
        /// 勤務先: the employer forwards it to the health insurer.
        Employer => "employer",
        /// 健康保険の保険者.
        Insurer => "insurer",
        /// 医療機関 (checkups, vaccinations).
        MedicalInstitution => "medical_institution",
        /// 地方出入国在留管理局 (a foreign newborn's status of residence).
        ImmigrationBureau => "immigration_bureau",
        /// The parents' country's embassy or consulate (大使館・領事館).
        Embassy => "embassy",
        /// Nothing to file.
        Nobody => "nobody",
    }
}

text_enum! {
    /// The office that receives the filing, whose closed days move its dates: a period ends on
    /// that office's next open day, not another's.
    pub enum ReceivingOffice {
        /// 市区町村: the national closures plus the municipality's own (地方自治法 第4条の2, its
        /// 休日条例: 沖縄県 6/23, 広島市 8/6, and the days its settings name).
        Municipal => "municipal",
        /// A national office (地方出入国在留管理局): only the days of 行政機関の休日に関する法律
        /// 第1条 (weekends, national holidays, 12/29–1/3); a municipality's own days do not move it.
        National => "national",
    }
}

text_enum! {
    /// A household circumstance the profile records because a procedure depends on it.
    pub enum Circumstance {
        /// 児童扶養手当を受給している.
        ReceivesChildSupportAllowance => "receives_child_support_allowance",
        /// 特別児童扶養手当を受給している.
        ReceivesSpecialChildSupportAllowance => "receives_special_child_support_allowance",
        /// 児童手当の現況届が必要な世帯 (DV避難, 別居, 児童の住民票が他市町村, …).
        ChildAllowanceStatusReportRequired => "child_allowance_status_report_required",
        /// 公務員: the child allowance is claimed from the employer (所属庁), not the municipality
        /// (児童手当法 第17条).
        PublicServant => "public_servant",
        /// 里帰り出産: the birth (and the last checkups) away from the home municipality, whose
        /// 受診票 are not taken there (償還払い) and whose routine doses need a 実施依頼書.
        BirthAwayFromHome => "birth_away_from_home",
    }
}

text_enum! {
    /// The counting rules a date of a procedure is computed with.
    pub enum Rule {
        /// anchor + n days.
        Days => "days",
        /// 初日算入 (戸籍法43条): anchor + n − 1.
        KosekiDays => "koseki_days",
        /// 初日不算入 (民法140条): anchor + n.
        CivilDays => "civil_days",
        /// 民法143条: n months.
        CivilMonths => "civil_months",
        /// 生後N月に至る日.
        MonthAge => "month_age",
        /// 満N歳に達する日 (the day before the birthday).
        AgeYears => "age_years",
        /// 出生N週M日後 (`n` weeks, `days` days).
        WeeksDays => "weeks_days",
        /// 児童手当 15日特例: the later of the birth month's last open day and birth + 15.
        ChildAllowance15Day => "child_allowance_15_day",
        /// A fixed day of the year (`on = "MM-DD"`), for yearly procedures.
        MonthDay => "month_day",
        /// 就学の始期 (1 April of the child's first school year), moved by `n` years: `n = -1`
        /// is the start of 年長, the year before elementary school.
        SchoolEntry => "school_entry",
        /// 「N日以上の間隔をおいて」: the dose's date + n + 1 (jp-rules C10).
        IntervalDays => "interval_days",
        /// 「Nか月以上の間隔をおいて」: the same day n months later, or the first of the next month
        /// when that month has no such day (jp-rules C10).
        IntervalMonths => "interval_months",
        /// 「N歳となる日の属する年度の初日」: 1 April of the school year in which the child reaches
        /// n years (HPV: 12歳, 小学校6年相当).
        FiscalYearOfAgeStart => "fiscal_year_of_age_start",
        /// 「N歳となる日の属する年度の末日」: 31 March ending that school year (HPV: 16歳, 高校1年相当).
        FiscalYearOfAgeEnd => "fiscal_year_of_age_end",
    }
}

text_enum! {
    /// The date a rule counts from.
    pub enum CountedFrom {
        /// The trigger's date (due date, birth, move, the dose before).
        Trigger => "trigger",
        /// The child's birth: the legal window of a later dose ends at an age.
        Birth => "birth",
        /// The expected child's due date (a move during the pregnancy).
        DueDate => "due_date",
        /// The first dose of the vaccination series (B型肝炎 3回目: 1回目から139日以上).
        SeriesStart => "series_start",
    }
}

text_enum! {
    /// What happens when a date falls on a closed day.
    pub enum ClosedDay {
        /// Nothing: the date stands.
        Keep => "keep",
        /// Moves to the next open day (地方自治法4条の2④).
        Next => "next",
        /// Moves back to the previous open day (the safer reading where the law is unclear).
        Previous => "previous",
    }
}

/// A date of a procedure, computed from its anchor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DateRule {
    pub rule: Rule,
    /// The rule's count (days, months, years or weeks).
    #[serde(default)]
    pub n: i64,
    /// Days added after the rule (for `weeks_days`, the days part).
    #[serde(default)]
    pub days: i64,
    /// For `month_day`: the day of the year, `MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    /// What a closed day does to the date.
    #[serde(default = "keep")]
    pub closed_day: ClosedDay,
    /// What the rule counts from (the trigger's date unless said).
    #[serde(default = "trigger", skip_serializing_if = "CountedFrom::is_trigger")]
    pub from: CountedFrom,
}

fn keep() -> ClosedDay {
    ClosedDay::Keep
}

fn trigger() -> CountedFrom {
    CountedFrom::Trigger
}

impl CountedFrom {
    fn is_trigger(&self) -> bool {
        *self == Self::Trigger
    }
}

impl DateRule {
    /// Checks the rule's shape; the problem names the part at fault.
    pub fn validate(&self) -> Result<(), String> {
        match (self.rule, &self.on) {
            (Rule::MonthDay, None) => return Err("a month_day rule needs `on = \"MM-DD\"`".into()),
            (Rule::MonthDay, Some(on)) => {
                parse_month_day(on)?;
            }
            (_, Some(_)) => return Err("`on` belongs to month_day rules only".into()),
            _ => {}
        }
        if !(-1000..=1200).contains(&self.n) || !(-1000..=1000).contains(&self.days) {
            return Err("`n` and `days` must stay within a few years".into());
        }
        if matches!(self.rule, Rule::KosekiDays) && self.n < 1 {
            return Err("koseki_days counts from day 1: `n` must be at least 1".into());
        }
        Ok(())
    }

    /// The date this rule gives for `anchor` (for `month_day`, the year of `anchor`), moved off
    /// a closed day as the rule says.
    pub fn date(&self, anchor: NaiveDate, calendar: &Calendar, extra_closed: &[MonthDay]) -> NaiveDate {
        let raw = self.raw_date(anchor, calendar, extra_closed);
        match self.closed_day {
            ClosedDay::Keep => raw,
            ClosedDay::Next => calendar.next_open_day(raw, extra_closed),
            ClosedDay::Previous => calendar.previous_open_day(raw, extra_closed),
        }
    }

    /// The date as counted, before any move off a closed day (the 法定 raw deadline).
    pub fn raw_date(&self, anchor: NaiveDate, calendar: &Calendar, extra_closed: &[MonthDay]) -> NaiveDate {
        let base = match self.rule {
            Rule::Days => periods::shift_days(anchor, self.n),
            Rule::KosekiDays => periods::koseki_days(anchor, self.n),
            Rule::CivilDays => periods::civil_days(anchor, self.n),
            Rule::CivilMonths => periods::civil_months(anchor, self.n),
            Rule::MonthAge => periods::month_age_reached(anchor, self.n),
            Rule::AgeYears => periods::age_reached(anchor, self.n),
            Rule::WeeksDays => periods::weeks_days_after(anchor, self.n, 0),
            Rule::ChildAllowance15Day => periods::child_allowance_deadline(anchor, calendar, extra_closed),
            Rule::IntervalDays => periods::interval_days(anchor, self.n),
            Rule::IntervalMonths => periods::interval_months(anchor, self.n),
            Rule::FiscalYearOfAgeStart => periods::fiscal_year_of_age_start(anchor, self.n),
            Rule::FiscalYearOfAgeEnd => periods::first_march_31_after_reaching(anchor, self.n),
            Rule::SchoolEntry => {
                let entry = periods::school_entry(anchor);
                let year = entry.year() + i32::try_from(self.n).unwrap_or(0);
                NaiveDate::from_ymd_opt(year, 4, 1).unwrap_or(entry)
            }
            Rule::MonthDay => {
                let (month, day) = self.on.as_deref().and_then(|on| parse_month_day(on).ok()).unwrap_or((1, 1));
                NaiveDate::from_ymd_opt(anchor.year(), month, day).unwrap_or(anchor)
            }
        };
        periods::shift_days(base, self.days)
    }
}

/// `MM-DD` → (month, day), checked against a leap year so 02-29 is allowed.
pub fn parse_month_day(text: &str) -> Result<MonthDay, String> {
    let date = NaiveDate::parse_from_str(&format!("2000-{text}"), "%Y-%m-%d")
        .map_err(|_| format!("'{text}' is not a day of the year written MM-DD"))?;
    Ok((date.month(), date.day()))
}

/// For whom a procedure applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "if", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The household's health insurance is this one.
    HealthInsurance { is: HealthInsurance },
    /// The household has not said which health insurance it has: a newborn needs one of them.
    HealthInsuranceUnknown,
    /// The child was born on or after this day (a rule in force for births from its 施行日).
    BornOnOrAfter { date: NaiveDate },
    /// The child was born before this day (a 経過措置 for births before a 施行日).
    BornBefore { date: NaiveDate },
    /// The child weighed less than this at birth (低体重児: under 2,500 g).
    BirthWeightBelow { grams: i32 },
    /// A single-parent household (ひとり親).
    SingleParent,
    /// The household has this circumstance.
    Circumstance { is: Circumstance },
    /// The child has not started elementary school by the 1 April after the window opens (保育所
    /// takes children to the 5歳児クラス, until 就学: 児童福祉法 第4条, 第39条).
    PreschoolNextApril,
    /// The child is younger than this many years when the window opens.
    ChildAgeBelow { years: i64 },
    /// The household has a born child younger than this many years.
    HouseholdHasChildBelow { years: i64 },
    /// The household has a born child who has not passed the first 31 March on or after
    /// reaching this many years (児童手当's 児童: 18歳に達する日以後の最初の3月31日まで).
    HouseholdHasChildThroughMarchAfter { years: i64 },
    /// Another born child of the household (not this one) still counts this way: the family
    /// already receives the allowance, and a new child is an 額改定 (児童手当法 第9条).
    OtherChildThroughMarchAfter { years: i64 },
    /// No other born child of the household counts this way: the first claim (認定請求).
    NoOtherChildThroughMarchAfter { years: i64 },
    /// Another born child of the household is past the 31 March after turning `from` and not
    /// past the one after turning `to`: 児童手当's 多子加算 counts such a child (18 → 22, 児童手当法
    /// 第6条 as amended from 2024-10) once the claimant confirms supporting them (確認書).
    OtherChildBetweenMarchAfter { from: i64, to: i64 },
    /// The household does not have this circumstance.
    NotCircumstance { is: Circumstance },
    /// The child is not Japanese: every guardian's nationality is known and none is Japanese
    /// (国籍法 第2条: a child of a Japanese parent is Japanese at birth).
    ChildForeignNational,
    /// The child's recorded sex is not this one (HPV: girls, and children whose sex is not
    /// recorded, whom the reminder tells whom it is for).
    ChildSexIsNot { is: Sex },
    /// The pregnancy ended in or after its 12th week (妊娠12週0日, 妊娠第4月): a 死産 in law
    /// (死産の届出に関する規程 第2条).
    #[serde(rename = "ended_from_12_weeks")]
    EndedFrom12Weeks,
    /// The pregnancy ended on or after its 85th day (妊娠85日 = 12週1日): a 出産 for the health
    /// insurance's 出産育児一時金 and the 産前産後 exemptions.
    #[serde(rename = "ended_from_85_days")]
    EndedFrom85Days,
    /// The latest move came from another municipality (転入).
    MovedFromAnotherMunicipality,
    /// The latest move stayed within the municipality (市内転居).
    MovedWithinMunicipality,
}

/// One schedule of a dose whose rules depend on how its series went (小児用肺炎球菌: the age at
/// the first dose; ロタウイルス: the product). The first variant whose selectors all hold is the
/// child's; its rules replace the procedure's. A dose procedure with variants, none of which
/// holds, is not given to the child: the series has no such dose.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DoseVariant {
    /// The series started (its first dose) by 生後N月に至る日 (「生後N月に至るまで」, inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by_month_age: Option<i64>,
    /// The dose it follows was given by 生後N月に至る日 (肺炎球菌: no 3rd dose after a 2nd given
    /// after 生後12月).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose_by_month_age: Option<i64>,
    /// The series was recorded with this product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<VaccineProduct>,
    /// The series was not recorded with this product (another, or none recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_product: Option<VaccineProduct>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens: Option<DateRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes: Option<DateRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateRule>,
}

/// When to remind, relative to a date of the task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reminder {
    pub from: ReminderBase,
    #[serde(default)]
    pub days: i64,
}

text_enum! {
    /// The date a reminder is counted from.
    pub enum ReminderBase {
        /// The day the window opens.
        Opens => "opens",
        /// The deadline (or, without one, the window's end).
        Deadline => "deadline",
        /// The window's end (HPV: the last start that still fits every dose).
        Closes => "closes",
        /// The trigger's own date (due date, birth date, move date).
        Anchor => "anchor",
    }
}

/// Japanese and English names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Names {
    pub ja: String,
    pub en: String,
}

/// One procedure of the catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Procedure {
    /// Stable id, e.g. `birth_registration`.
    pub id: String,
    pub name: Names,
    /// pregnancy, birth, insurance, benefit, health, vaccination, annual, childcare.
    pub category: String,
    pub kind: ProcedureKind,
    pub trigger: Trigger,
    /// For a procedure counted from the due date: whether it is still to be done once the child
    /// is born (the second 妊婦のための支援給付, the 国保 産前産後 exemption), counted from the
    /// due date as before. Otherwise the birth ends it.
    #[serde(default)]
    pub continues_after_birth: bool,
    /// Once for the children of one pregnancy (twins and more: 多胎): a payment or a claim per
    /// pregnancy or per birth, not per child (妊婦のための支援給付, the 産前産後 exemptions, one
    /// 児童手当 claim for twins). Planned for the first of those children.
    #[serde(default)]
    pub per_pregnancy: bool,
    /// For a `dose` procedure: the vaccination whose recorded dose it comes after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follows: Option<String>,
    /// For a `dose` procedure: when the dose it follows will not be given (the child's series
    /// has no such dose, or its window ends unused), this one follows the dose before that one,
    /// opening no earlier than the day after that window ends (肺炎球菌: the booster after an
    /// initial series cut short).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub follows_skipped: bool,
    /// For a `dose` procedure: the schedules that depend on the series (see `DoseVariant`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<DoseVariant>,
    /// The products a dose of this vaccination is recorded with, where they differ (ロタ).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<VaccineProduct>,
    /// The window opens no earlier than this too (the pneumococcal booster: 60 days after the
    /// third dose, and not before 12 months of age).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateRule>,
    /// The reminder's template, when several procedures share one (the later doses of every
    /// vaccine); otherwise `reminder_<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// After a move: the deadline counts from the planned move-out date (転出予定日) when the
    /// move recorded one, not from the move (児童手当法 第8条第3項).
    #[serde(default)]
    pub deadline_from_planned_move_out: bool,
    /// A child recorded after every reminder's date (a due date given late) still gets one
    /// push, on the day it was recorded, while the window is open: the 産前産後 exemptions open
    /// 6 months before the due date, often before the family told nonstop of it.
    #[serde(default)]
    pub catch_up: bool,
    pub subject: Subject,
    pub opens: DateRule,
    /// The end of the window; without it, the deadline ends the window.
    pub closes: Option<DateRule>,
    pub deadline: Option<DateRule>,
    #[serde(default = "legal")]
    pub deadline_kind: DeadlineKind,
    /// Who files (or acts).
    pub who: Names,
    pub files_with: FilesWith,
    /// Whose closed days move the procedure's dates (`municipal` unless said): a national
    /// office keeps only the national ones.
    #[serde(default = "municipal", skip_serializing_if = "ReceivingOffice::is_municipal")]
    pub receiving_office: ReceivingOffice,
    /// How a filing with the municipality can be made, as most municipalities take it; a
    /// municipality's settings may say otherwise.
    #[serde(default)]
    pub channels: Vec<Channel>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub reminders: Vec<Reminder>,
    /// 根拠法令.
    pub legal_basis: String,
    /// Where the rule was read.
    pub source: String,
    /// Which reading was chosen where the sources disagree or a fact is unverified.
    pub note: Option<String>,
}

fn municipal() -> ReceivingOffice {
    ReceivingOffice::Municipal
}

impl ReceivingOffice {
    fn is_municipal(&self) -> bool {
        *self == Self::Municipal
    }

    /// The extra closed days of the municipality that count for this office: all of them for
    /// the municipal office, none for a national one.
    pub fn extra_closed<'a>(&self, municipal: &'a [MonthDay]) -> &'a [MonthDay] {
        match self {
            Self::Municipal => municipal,
            Self::National => &[],
        }
    }
}

fn legal() -> DeadlineKind {
    DeadlineKind::Legal
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    procedure: Vec<Procedure>,
}

/// All procedures, in catalog order.
#[derive(Clone, Debug)]
pub struct Catalog {
    pub procedures: Vec<Procedure>,
}

impl Catalog {
    /// The catalog built into the binary.
    pub fn shipped() -> Self {
        Self::from_toml(include_str!("../../catalog/procedures.toml"))
            .unwrap_or_else(|e| panic!("catalog/procedures.toml: {e}"))
    }

    /// Parses and checks a catalog; errors name the procedure and the part.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let file: CatalogFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut ids = BTreeSet::new();
        for p in &file.procedure {
            if !ids.insert(p.id.clone()) {
                return Err(format!("procedure '{}' appears twice", p.id));
            }
            p.validate().map_err(|e| format!("procedure '{}': {e}", p.id))?;
        }
        // A dose comes after a vaccination of the catalog, and the chain of doses ends.
        for p in &file.procedure {
            if let Some(follows) = &p.follows {
                let before = file.procedure.iter().find(|q| &q.id == follows);
                if !before.is_some_and(|q| q.kind == ProcedureKind::Vaccination && q.id != p.id) {
                    return Err(format!(
                        "procedure '{}': follows '{follows}', which is not a vaccination of the catalog",
                        p.id
                    ));
                }
            }
        }
        Ok(Self { procedures: file.procedure })
    }

    pub fn get(&self, id: &str) -> Option<&Procedure> {
        self.procedures.iter().find(|p| p.id == id)
    }
}

impl Procedure {
    /// The template of its reminders.
    pub fn reminder_template(&self) -> String {
        self.template.clone().unwrap_or_else(|| default_reminder_template(&self.id))
    }
}

/// The reminder template of a procedure that names none, or that the catalog no longer has
/// (a task planned before it left): `reminder_<id>`.
pub fn default_reminder_template(procedure_id: &str) -> String {
    format!("reminder_{procedure_id}")
}

impl Procedure {
    fn validate(&self) -> Result<(), String> {
        if self.id.is_empty() || !self.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err("the id must be snake_case".into());
        }
        for (part, rule) in
            [("opens", Some(&self.opens)), ("closes", self.closes.as_ref()), ("deadline", self.deadline.as_ref())]
        {
            if let Some(rule) = rule {
                rule.validate().map_err(|e| format!("{part}: {e}"))?;
                if (rule.rule == Rule::MonthDay) != (self.trigger == Trigger::Yearly) {
                    return Err(format!("{part}: month_day rules go with yearly procedures, and only they"));
                }
            }
        }
        if self.closes.is_none() && self.deadline.is_none() {
            return Err("a procedure needs a deadline or a closing date".into());
        }
        if let Some(rule) = &self.not_before {
            rule.validate().map_err(|e| format!("not_before: {e}"))?;
        }
        for (index, variant) in self.variants.iter().enumerate() {
            for rule in [&variant.opens, &variant.closes, &variant.deadline, &variant.not_before].into_iter().flatten()
            {
                rule.validate().map_err(|e| format!("variants[{index}]: {e}"))?;
            }
        }
        if self.trigger != Trigger::Dose && (self.follows_skipped || !self.variants.is_empty()) {
            return Err("follows_skipped and variants belong to dose procedures".into());
        }
        let rules = [Some(&self.opens), self.closes.as_ref(), self.deadline.as_ref(), self.not_before.as_ref()];
        let variant_rules = self.variants.iter().flat_map(|v| [&v.opens, &v.closes, &v.deadline, &v.not_before]);
        if self.trigger != Trigger::Dose
            && rules
                .into_iter()
                .chain(variant_rules.map(Option::as_ref))
                .flatten()
                .any(|r| r.from == CountedFrom::SeriesStart)
        {
            return Err("from = \"series_start\" belongs to dose procedures".into());
        }
        let child_trigger = matches!(self.trigger, Trigger::DueDate | Trigger::Birth | Trigger::Dose);
        if child_trigger && self.subject != Subject::Child {
            return Err("due_date, birth and dose procedures are about a child".into());
        }
        // Nothing is pushed about a child lost: what the loss asks of the family is the household's.
        if matches!(self.trigger, Trigger::PregnancyEnded | Trigger::ChildDied) && self.subject != Subject::Household {
            return Err("pregnancy_ended and child_died procedures are about the household".into());
        }
        if (self.trigger == Trigger::Dose) != self.follows.is_some() {
            return Err("follows: dose procedures, and only they, name the vaccination they follow".into());
        }
        let from_due_date = rules.into_iter().flatten().any(|r| r.from == CountedFrom::DueDate);
        if from_due_date && !(self.trigger == Trigger::Moved && self.subject == Subject::Child) {
            return Err("from = \"due_date\" belongs to moves during a pregnancy (moved, subject child)".into());
        }
        // 地方自治法4条の2④: a period set by 法律・命令 for a filing with the municipality that ends
        // on a closed day ends on the next open day; the catalog's defaults follow the law (a
        // municipality may say otherwise). A municipality's own deadline (`municipal`) moves only
        // where its 休日条例 says so, which its settings state.
        let statutory = !matches!(self.deadline_kind, DeadlineKind::Municipal | DeadlineKind::Recommended);
        if self.kind == ProcedureKind::Filing && self.files_with == FilesWith::Municipality && statutory {
            if let Some(deadline) = &self.deadline {
                if deadline.closed_day != ClosedDay::Next {
                    return Err(
                        "deadline: a statutory deadline of a municipal filing moves to the next open day (closed_day = \"next\")"
                            .into(),
                    );
                }
            }
        }
        // The office's own calendar: an immigration bureau is a national office, a filing with the
        // municipality goes by the municipality's.
        let expected = match self.files_with {
            FilesWith::ImmigrationBureau => Some(ReceivingOffice::National),
            FilesWith::Municipality => Some(ReceivingOffice::Municipal),
            _ => None,
        };
        if expected.is_some_and(|office| office != self.receiving_office) {
            return Err(format!(
                "receiving_office: a filing with {} is received by a {} office",
                self.files_with,
                expected.map_or("", |o| o.as_str())
            ));
        }
        // How to file is what the reminder says: a municipal filing names its channels.
        let municipal_filing = self.kind == ProcedureKind::Filing && self.files_with == FilesWith::Municipality;
        if municipal_filing && self.channels.is_empty() {
            return Err("channels: a municipal filing says how it can be made (online, counter, mail, hospital)".into());
        }
        if self.reminders.is_empty() {
            return Err("a procedure needs at least one reminder".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_loads_and_covers_the_required_procedures() {
        let catalog = Catalog::shipped();
        for id in [
            "pregnancy_notification",
            "prenatal_checkups",
            "pregnancy_support_payment_first",
            "pregnancy_support_payment_second",
            "maternal_rsv_vaccine",
            "birth_registration",
            "child_allowance_claim",
            "kokuho_enrollment",
            "employee_insurance_dependent",
            "infant_medical_subsidy",
            "birth_notification_card",
            "low_birth_weight_notification",
            "newborn_my_number_card",
            "newborn_visit",
            "infant_home_visit",
            "childbirth_lump_sum",
            "checkup_1_month",
            "checkup_3_4_months",
            "checkup_6_7_months",
            "checkup_9_10_months",
            "checkup_18_months",
            "checkup_3_years",
            "checkup_5_years",
            "vaccine_5in1",
            "vaccine_pneumococcal",
            "vaccine_hepatitis_b",
            "vaccine_rotavirus",
            "vaccine_bcg",
            "vaccine_mr",
            "vaccine_varicella",
            "vaccine_japanese_encephalitis",
            "vaccine_rotavirus_third",
            "vaccine_japanese_encephalitis_stage2",
            "vaccine_dt_stage2",
            "vaccine_hpv",
            "child_allowance_status_report",
            "child_support_allowance_status_report",
            "special_child_support_allowance_income_report",
            "nursery_april_application",
        ] {
            let p = catalog.get(id).unwrap_or_else(|| panic!("{id} missing"));
            assert!(!p.legal_basis.is_empty() && !p.source.is_empty(), "{id} lacks its basis");
        }
    }

    #[test]
    fn bad_catalog_entries_are_named() {
        let base = include_str!("../../catalog/procedures.toml");
        let first = base.find("\n[[procedure]]\n").expect("a procedure");
        let second = first + 1 + base[first + 1..].find("\n[[procedure]]\n").expect("two procedures");
        let twice = format!("{base}\n{}", &base[first..second]);
        assert!(Catalog::from_toml(&twice).unwrap_err().contains("appears twice"));
        let bad_rule = base.replacen("rule = \"koseki_days\", n = 14", "rule = \"koseki_days\", n = 0", 1);
        assert!(Catalog::from_toml(&bad_rule).unwrap_err().contains("birth_registration"));
        // A series' start is a dose procedure's anchor only.
        let series_start = base.replacen(
            "opens = { rule = \"month_age\", n = 2 }",
            "opens = { rule = \"month_age\", n = 2, from = \"series_start\" }",
            1,
        );
        assert!(Catalog::from_toml(&series_start).unwrap_err().contains("series_start"));
        // What a loss asks is the household's: a procedure about the lost child is refused.
        let about_child = base.replacen(
            "trigger = \"pregnancy_ended\"\nsubject = \"household\"",
            "trigger = \"pregnancy_ended\"\nsubject = \"child\"",
            1,
        );
        assert_ne!(about_child, base);
        assert!(Catalog::from_toml(&about_child).unwrap_err().contains("about the household"));
    }

    #[test]
    fn rules_compute_and_move_off_closed_days() {
        let calendar = Calendar::shipped();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        let rule = |r: Rule, n: i64, closed_day: ClosedDay| DateRule {
            rule: r,
            n,
            days: 0,
            on: None,
            closed_day,
            from: CountedFrom::Trigger,
        };
        assert_eq!(rule(Rule::KosekiDays, 14, ClosedDay::Next).date(d("2026-04-20"), &calendar, &[]), d("2026-05-07"));
        assert_eq!(rule(Rule::KosekiDays, 14, ClosedDay::Keep).date(d("2026-04-20"), &calendar, &[]), d("2026-05-03"));
        let august = DateRule {
            rule: Rule::MonthDay,
            n: 0,
            days: 0,
            on: Some("08-31".into()),
            closed_day: ClosedDay::Previous,
            from: CountedFrom::Trigger,
        };
        assert_eq!(august.date(d("2025-01-01"), &calendar, &[]), d("2025-08-29"), "8/31/2025 is a Sunday");
        assert!(DateRule { on: None, ..august.clone() }.validate().is_err());
        assert!(DateRule { on: Some("02-30".into()), ..august }.validate().is_err());
    }
}
