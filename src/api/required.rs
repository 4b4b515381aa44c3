//! Truthful required-ness: a field nonstop always sends in an answer (as `null` when it has no
//! value) is `required` in the document, so generated types are exact (`string | null`, not
//! `string | null | undefined`). utoipa marks an `Option` or a `#[serde(default)]` field
//! optional, which is right for what a request may leave out, not for what an answer carries.

use std::collections::BTreeSet;

use serde_json::Value;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::Modify;

/// Fields of answers left out when empty (serde's `skip_serializing_if`), by schema: the only
/// ones not required. A test reads the sources for any other.
pub const SOMETIMES_ABSENT: &[(&str, &str)] = &[
    ("DateRule", "on"),
    ("DoseVariant", "started_by_month_age"),
    ("DoseVariant", "dose_by_month_age"),
    ("DoseVariant", "product"),
    ("DoseVariant", "not_product"),
    ("DoseVariant", "opens"),
    ("DoseVariant", "closes"),
    ("DoseVariant", "deadline"),
    ("DoseVariant", "not_before"),
    ("DateRule", "from"),
    ("DraftField", "options"),
    ("DraftField", "profile_value"),
    ("Notice", "changes_since_approval"),
    ("Procedure", "follows"),
    ("Procedure", "follows_skipped"),
    ("Procedure", "not_before"),
    ("Procedure", "products"),
    ("Procedure", "receiving_office"),
    ("Procedure", "template"),
    ("Procedure", "variants"),
    ("Vaccination", "product"),
];

/// Makes every property of the schemas only answers use required, but those of
/// [`SOMETIMES_ABSENT`]. A schema a request also uses is left as it is: there, leaving a field
/// out is the caller's right.
pub struct RequiredInAnswers;

impl Modify for RequiredInAnswers {
    fn modify(&self, doc: &mut Document) {
        let names = answers_only(doc);
        let Some(components) = doc.components.as_mut() else { return };
        for name in names {
            let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(&name) else { continue };
            for property in object.properties.keys() {
                let absent = SOMETIMES_ABSENT.contains(&(name.as_str(), property.as_str()));
                if !absent && !object.required.contains(property) {
                    object.required.push(property.clone());
                }
            }
        }
    }
}

/// The component schemas answers use and no request does (body or parameter), at any depth.
fn answers_only(doc: &Document) -> BTreeSet<String> {
    let paths = serde_json::to_value(&doc.paths).unwrap_or_default();
    let schemas = doc.components.as_ref().map(|c| serde_json::to_value(&c.schemas).unwrap_or_default());
    let schemas = schemas.unwrap_or_default();
    let (mut inputs, mut outputs) = (BTreeSet::new(), BTreeSet::new());
    for item in paths.as_object().into_iter().flat_map(|p| p.values()) {
        for operation in item.as_object().into_iter().flat_map(|o| o.values()) {
            refs_in(&operation["requestBody"], &mut inputs);
            refs_in(&operation["parameters"], &mut inputs);
            refs_in(&operation["responses"], &mut outputs);
        }
    }
    let (inputs, outputs) = (closure(inputs, &schemas), closure(outputs, &schemas));
    outputs.difference(&inputs).cloned().collect()
}

/// The component schemas `value` refers to.
fn refs_in(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(fields) => {
            if let Some(name) =
                fields.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                found.insert(name.to_owned());
            }
            fields.values().for_each(|v| refs_in(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| refs_in(v, found)),
        _ => {}
    }
}

/// `names` and every schema they refer to, at any depth.
fn closure(mut names: BTreeSet<String>, schemas: &Value) -> BTreeSet<String> {
    let mut todo: Vec<String> = names.iter().cloned().collect();
    while let Some(name) = todo.pop() {
        let mut found = BTreeSet::new();
        refs_in(&schemas[&name], &mut found);
        for next in found {
            if names.insert(next.clone()) {
                todo.push(next);
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    /// Every field serde leaves out of an answer is listed (else the document would promise it).
    /// The scan finds `skip_serializing_if` and the field after it, in the struct it belongs to.
    #[test]
    fn every_field_left_out_when_empty_is_listed() {
        fn walk(dir: &std::path::Path, found: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).expect("src reads") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    walk(&path, found);
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else { continue };
                let mut structure = String::new();
                let mut skipping = false;
                for line in text.lines().map(str::trim) {
                    if let Some(rest) = line.strip_prefix("pub struct ") {
                        structure = rest.split([' ', '{', '<', '(']).next().unwrap_or_default().to_owned();
                    }
                    if line.contains("skip_serializing_if") {
                        skipping = true;
                    } else if skipping && line.starts_with("pub ") && line.contains(':') {
                        let field = line.trim_start_matches("pub ").split(':').next().unwrap_or_default();
                        found.push((structure.clone(), field.trim().to_owned()));
                        skipping = false;
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
        // Only schemas that answers alone use are made required (push payloads and the
        // catalog file are not answers; settings are a request's body too).
        let answers = super::answers_only(&crate::api::openapi());
        assert!(answers.contains("Family") && !answers.contains("FamilyInput"), "{answers:?}");
        for (structure, field) in found.into_iter().filter(|(s, _)| answers.contains(s)) {
            assert!(
                super::SOMETIMES_ABSENT.contains(&(structure.as_str(), field.as_str())),
                "{structure}.{field} is left out when empty: list it in SOMETIMES_ABSENT"
            );
        }
    }
}
