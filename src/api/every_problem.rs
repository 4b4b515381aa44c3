//! Reading a JSON body past each of its problems, so that one answer names all of them.
//!
//! serde stops at the first bad field. A vendor who fixes one field per round trip learns the
//! rules slowly, so the body is read again with the culprit set aside: an unknown field taken
//! out, a bad or missing value replaced by a stand-in that reads. The stand-ins are never kept:
//! whatever is found wrong, the request is refused, and only a caller that asked for the value
//! with its rule problems ([`Reading::WithRuleProblems`]) sees it, to run its own checks
//! before refusing too.

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::domain;
use crate::error::FieldErrors;
use crate::service::{strict_json, tagged};

/// How much reading a body may cost, in bytes read: a body of 2 KiB may be read about 500
/// times, one of 256 KiB eight times (at least twice, whatever its size).
const READING_BUDGET: usize = 1024 * 1024;

/// What reading a body found.
pub enum Reading<T> {
    /// The body is what the operation takes.
    Read(T),
    /// The body matches the document, but values break rules beyond it (422): `value` holds
    /// stand-ins where those values were, and must never be stored.
    WithRuleProblems { value: T, rules: FieldErrors },
    /// Values do not match the document (400); `rules` are the other problems found meanwhile.
    Refused { schema: FieldErrors, rules: FieldErrors },
}

/// One step of a field's path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A problem serde reported, where it is and what it needs to be set aside.
struct Problem {
    location: Vec<Step>,
    /// The field as the API names it (`children[0].birth_date`, `body` for the whole).
    field: String,
    text: String,
    beyond_schema: bool,
    unknown_field: bool,
}

/// Reads `value` as `T`, collecting every problem.
pub fn read<T: DeserializeOwned>(mut value: Value, size: usize) -> Reading<T> {
    let mut schema = FieldErrors::new();
    let mut rules = FieldErrors::new();
    // Where a stand-in was put: problems at or under it are the stand-in's, not the caller's.
    let mut standing_in: Vec<Vec<Step>> = Vec::new();
    let mut tries: Vec<(Vec<Step>, usize)> = Vec::new();
    let reads = (READING_BUDGET / size.max(1)).max(2);
    for _ in 0..reads {
        let error = match strict_json::from_value::<T>(value.clone()) {
            Ok(read) if schema.is_empty() && rules.is_empty() => return Reading::Read(read),
            Ok(read) if schema.is_empty() => return Reading::WithRuleProblems { value: read, rules },
            Ok(_) => return Reading::Refused { schema, rules },
            Err(e) => e,
        };
        let Some(problem) = Problem::of(error) else { break };
        let ours = standing_in.iter().any(|s| problem.location.starts_with(s) || s.starts_with(&problem.location))
            && !problem.location.is_empty();
        if !ours {
            let found = if problem.beyond_schema { &mut rules } else { &mut schema };
            found.entry(problem.field.clone()).or_insert(problem.text.clone());
        }
        if problem.unknown_field {
            if !remove(&mut value, &problem.location) {
                break;
            }
            continue;
        }
        // Set the value aside with the next stand-in not yet tried at this place.
        let tried = match tries.iter_mut().find(|(at, _)| *at == problem.location) {
            Some((_, n)) => n,
            None => {
                tries.push((problem.location.clone(), 0));
                &mut tries.last_mut().expect("just pushed").1
            }
        };
        let Some(stand_in) = stand_ins(&problem.text).into_iter().nth(*tried) else { break };
        *tried += 1;
        if !put(&mut value, &problem.location, stand_in) {
            break;
        }
        if !standing_in.contains(&problem.location) {
            standing_in.push(problem.location);
        }
    }
    // Out of budget, or a place that cannot be set aside: what was found so far.
    if schema.is_empty() && rules.is_empty() {
        schema.insert("body".into(), "could not be read".into());
    }
    Reading::Refused { schema, rules }
}

impl Problem {
    fn of(error: serde_path_to_error::Error<serde_json::Error>) -> Option<Self> {
        let mut location = Vec::new();
        for segment in error.path().iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => location.push(Step::Index(*index)),
                serde_path_to_error::Segment::Map { key } => location.push(Step::Key(key.clone())),
                serde_path_to_error::Segment::Enum { .. } => {}
                serde_path_to_error::Segment::Unknown => return None,
            }
        }
        let mut text = error.into_inner().to_string();
        // A tagged body carries the path inside its variant in the message (service::tagged).
        if let Some((nested, rest)) = text.strip_prefix(tagged::AT).and_then(|p| p.split_once("`: ")) {
            location.extend(steps_of(nested));
            text = rest.to_owned();
        }
        text = explain_date_problem(text);
        let unknown = text.strip_prefix("unknown field `").and_then(|t| t.split('`').next()).map(str::to_owned);
        let missing = text.strip_prefix("missing field `").and_then(|t| t.split('`').next()).map(str::to_owned);
        // serde_path_to_error includes an unknown field in the path, but reports a missing one
        // at the object that lacks it.
        if let Some(name) = unknown.as_ref().or(missing.as_ref()) {
            if location.last() != Some(&Step::Key(name.clone())) {
                location.push(Step::Key(name.clone()));
            }
        }
        let (text, beyond_schema) = match text.strip_prefix(domain::BEYOND_SCHEMA) {
            Some(rule) => (rule.to_owned(), true),
            None => (text, false),
        };
        Some(Self { field: field_name(&location), location, text, beyond_schema, unknown_field: unknown.is_some() })
    }
}

/// `children[0].birth_date`; `body` for the whole body.
fn field_name(location: &[Step]) -> String {
    let mut name = String::new();
    for step in location {
        match step {
            Step::Key(key) if name.is_empty() => name.push_str(key),
            Step::Key(key) => {
                name.push('.');
                name.push_str(key);
            }
            Step::Index(i) => name.push_str(&format!("[{i}]")),
        }
    }
    if name.is_empty() {
        "body".to_owned()
    } else {
        name
    }
}

/// The steps of a path as serde_path_to_error writes it (`keys.p256dh`, `items[2].x`, `.`).
fn steps_of(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut pieces = part.split('[');
        if let Some(key) = pieces.next().filter(|k| !k.is_empty()) {
            steps.push(Step::Key(key.to_owned()));
        }
        for index in pieces {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                steps.push(Step::Index(i));
            }
        }
    }
    steps
}

/// Values to try in place of a bad or missing one, most likely first: the choices the message
/// names (an enum's), then values each of the API's types reads (a date, a time, a
/// municipality code, a language, quiet hours), then plain JSON.
fn stand_ins(problem: &str) -> Vec<Value> {
    let named: Vec<Value> = problem
        .split_once("expected")
        .map(|(_, expected)| expected.split('`').skip(1).step_by(2).map(|c| Value::String(c.to_owned())).collect())
        .unwrap_or_default();
    named
        .into_iter()
        .chain([
            json!("2000-01-01"),
            json!("09:00"),
            json!("131016"),
            json!("ja"),
            json!("a"),
            json!(1),
            json!(true),
            json!({"start": "21:00", "end": "08:00"}),
            json!({}),
            json!([]),
            json!(null),
            json!("2000-01-01T00:00:00Z"),
        ])
        .collect()
}

/// Sets the value at `location` (adding the key to its object); false if there is no such place.
fn put(value: &mut Value, location: &[Step], new: Value) -> bool {
    let Some((last, parent)) = location.split_last() else {
        *value = new;
        return true;
    };
    match (at_mut(value, parent), last) {
        (Some(Value::Object(fields)), Step::Key(key)) => {
            fields.insert(key.clone(), new);
            true
        }
        (Some(Value::Array(items)), Step::Index(i)) if *i < items.len() => {
            items[*i] = new;
            true
        }
        _ => false,
    }
}

/// Takes out the field at `location`; false if it is not there.
fn remove(value: &mut Value, location: &[Step]) -> bool {
    match (location.split_last(), location.split_last().and_then(|(_, parent)| at_mut(value, parent))) {
        (Some((Step::Key(key), _)), Some(Value::Object(fields))) => fields.remove(key).is_some(),
        _ => false,
    }
}

fn at_mut<'v>(value: &'v mut Value, location: &[Step]) -> Option<&'v mut Value> {
    location.iter().try_fold(value, |value, step| match (value, step) {
        (Value::Object(fields), Step::Key(key)) => fields.get_mut(key),
        (Value::Array(items), Step::Index(i)) => items.get_mut(*i),
        _ => None,
    })
}

/// chrono's parse errors ("input is out of range" for 2026-02-30) do not say what was
/// expected; dates are the only chrono values the API reads.
fn explain_date_problem(problem: String) -> String {
    const CHRONO: [&str; 5] = [
        "input is out of range",
        "input contains invalid characters",
        "premature end of input",
        "trailing input",
        "input is not enough for unique date and time",
    ];
    if CHRONO.contains(&problem.as_str()) {
        format!("must be a date that exists, written YYYY-MM-DD ({problem})")
    } else {
        problem
    }
}
