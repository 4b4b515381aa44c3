//! 通知文: every word nonstop sends to a parent comes from `notification_templates/`.
//!
//! One folder per template: `template.toml` (its variables and their types, urgency, TTL,
//! collapse behaviour, category) and one folder per language with `title.txt.j2`,
//! `body.txt.j2` and optionally `inbox.txt.j2` (the longer text of the inbox entry). Rendering is
//! strict: a template that uses a variable its `template.toml` does not declare is refused when
//! the templates are loaded, naming the file and line; a render that lacks a declared variable,
//! or brings one that is not declared, is refused naming the variable.

pub mod format;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use include_dir::{include_dir, Dir};
use minijinja::{Environment, UndefinedBehavior, Value};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::text_enum;

/// The templates built into the binary.
static BUILT_IN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/notification_templates");

/// The language every template must have, and the one families fall back to.
pub const FALLBACK_LANGUAGE: &str = "ja";
/// やさしい日本語: plain Japanese for residents still learning it, the first fallback for them.
pub const EASY_JAPANESE: &str = "ja-x-easy";

/// The largest push payload nonstop sends: Web Push's 4,096-byte record less the aes128gcm
/// overhead (86-byte header, 16-byte tag, 1 padding delimiter). APNs and FCM allow 4,096.
pub const MAX_PUSH_PAYLOAD_BYTES: usize = 3_993;

text_enum! {
    /// The type of a template variable, which decides how it is written in each language.
    pub enum VariableType {
        Text => "text",
        /// A civil date, written with the weekday (令和8年12月1日（火）, Tue 1 Dec 2026).
        Date => "date",
        Integer => "integer",
        /// An amount of yen (50,000円, ¥50,000).
        Yen => "yen",
        Boolean => "boolean",
        /// A list of short texts (e.g. the fields a correction request names).
        List => "list",
    }
}

text_enum! {
    /// How urgent a push is (Web Push `Urgency`, APNs priority, FCM priority).
    pub enum Urgency {
        VeryLow => "very-low",
        Low => "low",
        Normal => "normal",
        High => "high",
    }
}

text_enum! {
    /// Whether a newer push replaces an older one on the device.
    pub enum Collapse {
        /// Every push stands alone.
        None => "none",
        /// A newer reminder of the same task replaces the older (Web Push `Topic`,
        /// `apns-collapse-id`, FCM `collapse_key`).
        Task => "task",
    }
}

text_enum! {
    /// What a template is for.
    pub enum TemplateCategory {
        Reminder => "reminder",
        Status => "status",
        Notice => "notice",
    }
}

/// `template.toml`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateMeta {
    pub description: String,
    pub category: TemplateCategory,
    pub urgency: Urgency,
    pub ttl_seconds: u32,
    pub collapse: Collapse,
    /// Variable name → type.
    #[serde(default)]
    pub variables: BTreeMap<String, VariableType>,
}

/// A template's texts in one language.
#[derive(Clone, Debug)]
struct Texts {
    title: String,
    body: String,
    inbox: Option<String>,
}

/// One template with all its languages.
#[derive(Clone, Debug)]
pub struct Template {
    pub id: String,
    pub meta: TemplateMeta,
    languages: BTreeMap<String, Texts>,
}

impl Template {
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.languages.keys().map(String::as_str)
    }
}

/// What a parent sees: the push (title, body) and the inbox text, in the language used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Rendered {
    pub template_id: String,
    /// The language actually used (the family's, or Japanese where the template lacks it).
    pub language: String,
    pub title: String,
    pub body: String,
    /// The longer text shown in the inbox (the body when the template has none).
    pub inbox_text: String,
    pub urgency: Urgency,
    pub ttl_seconds: u32,
    pub collapse: Collapse,
}

/// A typed value for a template variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateValue {
    Text(String),
    Date(NaiveDate),
    Integer(i64),
    Yen(i64),
    Boolean(bool),
    List(Vec<String>),
}

impl TemplateValue {
    fn variable_type(&self) -> VariableType {
        match self {
            Self::Text(_) => VariableType::Text,
            Self::Date(_) => VariableType::Date,
            Self::Integer(_) => VariableType::Integer,
            Self::Yen(_) => VariableType::Yen,
            Self::Boolean(_) => VariableType::Boolean,
            Self::List(_) => VariableType::List,
        }
    }

    /// The value as the template sees it in `language`: dates and yen already written out.
    fn for_language(&self, language: &str) -> Value {
        match self {
            Self::Text(text) => Value::from(text.as_str()),
            Self::Date(date) => Value::from(format::date(language, *date)),
            Self::Integer(n) => Value::from(*n),
            Self::Yen(amount) => Value::from(format::yen(language, *amount)),
            Self::Boolean(b) => Value::from(*b),
            Self::List(items) => Value::from(items.clone()),
        }
    }

    /// Reads a JSON value as the declared type (for previews), naming what was expected.
    pub fn from_json(kind: VariableType, value: &serde_json::Value) -> Result<Self, String> {
        let expected = || format!("expected a {kind} value");
        Ok(match kind {
            VariableType::Text => Self::Text(value.as_str().ok_or_else(expected)?.to_owned()),
            VariableType::Date => Self::Date(
                value
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| "expected a date written YYYY-MM-DD".to_owned())?,
            ),
            VariableType::Integer => Self::Integer(value.as_i64().ok_or_else(expected)?),
            VariableType::Yen => Self::Yen(value.as_i64().ok_or_else(expected)?),
            VariableType::Boolean => Self::Boolean(value.as_bool().ok_or_else(expected)?),
            VariableType::List => Self::List(
                value
                    .as_array()
                    .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| "expected a list of texts".to_owned())?,
            ),
        })
    }

    /// A realistic sample of each type, for checking templates at load time.
    fn sample(kind: VariableType) -> Self {
        match kind {
            VariableType::Text => Self::Text("サンプル".into()),
            VariableType::Date => Self::Date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default()),
            VariableType::Integer => Self::Integer(3),
            VariableType::Yen => Self::Yen(50_000),
            VariableType::Boolean => Self::Boolean(true),
            VariableType::List => Self::List(vec!["口座番号".into()]),
        }
    }
}

/// Why templates or a render were refused. The message names the template file (and line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// All templates, checked, ready to render.
#[derive(Debug, Clone)]
pub struct Templates {
    templates: BTreeMap<String, Template>,
}

/// A source of template files: the embedded folder or one on disk.
trait Source {
    fn template_ids(&self) -> Result<Vec<String>, TemplateError>;
    fn languages(&self, id: &str) -> Result<Vec<String>, TemplateError>;
    fn read(&self, path: &str) -> Result<Option<String>, TemplateError>;
    fn display(&self, path: &str) -> String;
}

struct Embedded;

impl Source for Embedded {
    fn template_ids(&self) -> Result<Vec<String>, TemplateError> {
        Ok(BUILT_IN.dirs().filter_map(|d| d.path().file_name()?.to_str().map(str::to_owned)).collect())
    }
    fn languages(&self, id: &str) -> Result<Vec<String>, TemplateError> {
        let dir = BUILT_IN.get_dir(id).ok_or_else(|| TemplateError(format!("{}: missing", self.display(id))))?;
        Ok(dir.dirs().filter_map(|d| d.path().file_name()?.to_str().map(str::to_owned)).collect())
    }
    fn read(&self, path: &str) -> Result<Option<String>, TemplateError> {
        BUILT_IN
            .get_file(path)
            .map(|f| {
                f.contents_utf8()
                    .map(str::to_owned)
                    .ok_or_else(|| TemplateError(format!("{}: not UTF-8", self.display(path))))
            })
            .transpose()
    }
    fn display(&self, path: &str) -> String {
        format!("notification_templates/{path}")
    }
}

struct OnDisk(PathBuf);

impl OnDisk {
    fn subdirs(&self, dir: &Path) -> Result<Vec<String>, TemplateError> {
        let entries = std::fs::read_dir(dir).map_err(|e| TemplateError(format!("{}: {e}", dir.display())))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| TemplateError(format!("{}: {e}", dir.display())))?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }
}

impl Source for OnDisk {
    fn template_ids(&self) -> Result<Vec<String>, TemplateError> {
        self.subdirs(&self.0)
    }
    fn languages(&self, id: &str) -> Result<Vec<String>, TemplateError> {
        self.subdirs(&self.0.join(id))
    }
    fn read(&self, path: &str) -> Result<Option<String>, TemplateError> {
        let full = self.0.join(path);
        if !full.exists() {
            return Ok(None);
        }
        std::fs::read_to_string(&full).map(Some).map_err(|e| TemplateError(format!("{}: {e}", full.display())))
    }
    fn display(&self, path: &str) -> String {
        self.0.join(path).display().to_string()
    }
}

impl Templates {
    /// The built-in templates, checked. A broken built-in template is a bug caught by the tests.
    pub fn built_in() -> Result<Self, TemplateError> {
        Self::load_from(&Embedded)
    }

    /// Templates from a folder laid out like `notification_templates/`, checked the same way.
    pub fn from_dir(dir: &Path) -> Result<Self, TemplateError> {
        Self::load_from(&OnDisk(dir.to_path_buf()))
    }

    /// The built-in templates with those of `dir` in their place. A broken override is refused
    /// as a whole (the error names the file and line) and the built-in templates stay in force.
    pub fn with_overrides(dir: Option<&Path>) -> Result<(Self, Option<TemplateError>), TemplateError> {
        let mut templates = Self::built_in()?;
        let Some(dir) = dir else {
            return Ok((templates, None));
        };
        match Self::from_dir(dir) {
            Ok(overrides) => {
                templates.templates.extend(overrides.templates);
                Ok((templates, None))
            }
            Err(problem) => Ok((templates, Some(problem))),
        }
    }

    fn load_from(source: &dyn Source) -> Result<Self, TemplateError> {
        let mut templates = BTreeMap::new();
        for id in source.template_ids()? {
            let toml_path = format!("{id}/template.toml");
            let text = source
                .read(&toml_path)?
                .ok_or_else(|| TemplateError(format!("{}: missing", source.display(&toml_path))))?;
            let meta: TemplateMeta = toml::from_str(&text)
                .map_err(|e| TemplateError(format!("{}: {}", source.display(&toml_path), e.message())))?;
            let mut languages = BTreeMap::new();
            for language in source.languages(&id)? {
                crate::domain::LanguageTag::parse(&language).map_err(|e| {
                    TemplateError(format!("{}: folder name {e}", source.display(&format!("{id}/{language}"))))
                })?;
                let read = |file: &str| source.read(&format!("{id}/{language}/{file}"));
                let required = |file: &str| {
                    read(file)?.ok_or_else(|| {
                        TemplateError(format!("{}: missing", source.display(&format!("{id}/{language}/{file}"))))
                    })
                };
                let texts = Texts {
                    title: required("title.txt.j2")?,
                    body: required("body.txt.j2")?,
                    inbox: read("inbox.txt.j2")?,
                };
                check_language(source, &id, &language, &meta, &texts)?;
                languages.insert(language, texts);
            }
            if !languages.contains_key(FALLBACK_LANGUAGE) {
                return Err(TemplateError(format!(
                    "{}: missing (every template needs Japanese)",
                    source.display(&format!("{id}/ja"))
                )));
            }
            templates.insert(id.clone(), Template { id, meta, languages });
        }
        Ok(Self { templates })
    }

    pub fn get(&self, id: &str) -> Option<&Template> {
        self.templates.get(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.templates.keys().map(String::as_str)
    }

    /// The language of `template` to use for a family preferring `preferred`: the same tag,
    /// else the same language in another region or script. A family reading Japanese then gets
    /// Japanese; any other family gets やさしい日本語 (`ja-x-easy`), written for readers still
    /// learning Japanese, else English, and Japanese only when the template has neither.
    pub fn language_for<'t>(template: &'t Template, preferred: &str) -> &'t str {
        let primary = preferred.split('-').next().unwrap_or(preferred);
        let has = |tag: &str| template.languages.get_key_value(tag).map(|(tag, _)| tag.as_str());
        if let Some(tag) = has(preferred) {
            return tag;
        }
        if primary == "ja" {
            return FALLBACK_LANGUAGE;
        }
        template
            .languages
            .keys()
            .find(|tag| tag.split('-').next() == Some(primary))
            .map(String::as_str)
            .or_else(|| has(EASY_JAPANESE))
            .or_else(|| has("en"))
            .unwrap_or(FALLBACK_LANGUAGE)
    }

    /// Renders a template for a family's language. Every declared variable must be given, and
    /// nothing else; the push must fit the providers' payload limit.
    pub fn render(
        &self,
        id: &str,
        preferred_language: &str,
        values: &BTreeMap<String, TemplateValue>,
    ) -> Result<Rendered, TemplateError> {
        let template = self.get(id).ok_or_else(|| TemplateError(format!("no template '{id}'")))?;
        for (name, kind) in &template.meta.variables {
            match values.get(name) {
                None => return Err(TemplateError(format!("template '{id}': missing variable '{name}'"))),
                Some(value) if value.variable_type() != *kind => {
                    return Err(TemplateError(format!("template '{id}': variable '{name}' must be {kind}")))
                }
                Some(_) => {}
            }
        }
        if let Some(unknown) = values.keys().find(|name| !template.meta.variables.contains_key(*name)) {
            return Err(TemplateError(format!("template '{id}': unknown variable '{unknown}'")));
        }
        let language = Self::language_for(template, preferred_language);
        let texts = &template.languages[language];
        let context: BTreeMap<String, Value> =
            values.iter().map(|(k, v)| (k.clone(), v.for_language(language))).collect();
        let render = |file: &str, source: &str| {
            render_text(source, &context)
                .map_err(|e| TemplateError(format!("notification_templates/{id}/{language}/{file}: {e}")))
        };
        let title = render("title.txt.j2", &texts.title)?;
        let body = render("body.txt.j2", &texts.body)?;
        let inbox_text = match &texts.inbox {
            Some(inbox) => render("inbox.txt.j2", inbox)?,
            None => body.clone(),
        };
        let rendered = Rendered {
            template_id: id.to_owned(),
            language: language.to_owned(),
            title,
            body,
            inbox_text,
            urgency: template.meta.urgency,
            ttl_seconds: template.meta.ttl_seconds,
            collapse: template.meta.collapse,
        };
        let size = push_payload_size(&rendered);
        if size > MAX_PUSH_PAYLOAD_BYTES {
            return Err(TemplateError(format!(
                "template '{id}' ({language}) renders a push of {size} bytes, over the {MAX_PUSH_PAYLOAD_BYTES}-byte limit"
            )));
        }
        Ok(rendered)
    }
}

/// The size of the push nonstop builds from a render: the title, the body and two ids (the
/// inbox entry and the task), as JSON. Personal data never goes into a push.
pub fn push_payload_size(rendered: &Rendered) -> usize {
    const ID: &str = "00000000-0000-0000-0000-000000000000";
    serde_json::json!({ "title": rendered.title, "body": rendered.body, "entry_id": ID, "task_id": ID })
        .to_string()
        .len()
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

fn render_text(source: &str, context: &BTreeMap<String, Value>) -> Result<String, minijinja::Error> {
    let env = environment();
    let template = env.template_from_str(source)?;
    Ok(template.render(Value::from(context.clone()))?.trim().to_owned())
}

/// Checks one language of a template: it parses, uses only declared variables, and renders
/// with samples of the declared types.
fn check_language(
    source: &dyn Source,
    id: &str,
    language: &str,
    meta: &TemplateMeta,
    texts: &Texts,
) -> Result<(), TemplateError> {
    let declared: BTreeSet<&str> = meta.variables.keys().map(String::as_str).collect();
    let samples: BTreeMap<String, Value> = meta
        .variables
        .iter()
        .map(|(name, kind)| (name.clone(), TemplateValue::sample(*kind).for_language(language)))
        .collect();
    let files = [
        ("title.txt.j2", Some(&texts.title)),
        ("body.txt.j2", Some(&texts.body)),
        ("inbox.txt.j2", texts.inbox.as_ref()),
    ];
    for (file, text) in files {
        let Some(text) = text else { continue };
        let path = source.display(&format!("{id}/{language}/{file}"));
        let env = environment();
        let template = env.template_from_str(text).map_err(|e| TemplateError(describe(&path, &e)))?;
        let mut undeclared: Vec<String> =
            template.undeclared_variables(false).into_iter().filter(|v| !declared.contains(v.as_str())).collect();
        undeclared.sort();
        if let Some(name) = undeclared.first() {
            return Err(TemplateError(format!("{path}: uses '{name}', which template.toml does not declare")));
        }
        template.render(Value::from(samples.clone())).map_err(|e| TemplateError(describe(&path, &e)))?;
    }
    Ok(())
}

fn describe(path: &str, e: &minijinja::Error) -> String {
    match e.line() {
        Some(line) => format!("{path} line {line}: {}", e.detail().unwrap_or(&e.kind().to_string())),
        None => format!("{path}: {e}"),
    }
}

#[cfg(test)]
mod tests;
