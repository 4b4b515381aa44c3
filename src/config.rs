//! Typed settings: defaults, then an optional TOML file, then `DATABASE_URL`, then
//! `NONSTOP__SECTION__KEY` environment variables. Validated once at start; secrets are
//! never printed (their `Debug` is redacted).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::crypto::KeyRing;
use crate::db::DatabaseLocation;

/// A value that must not reach a log or an error message.
#[derive(Clone, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub encryption: EncryptionSettings,
    pub sessions: SessionSettings,
    pub log: LogSettings,
    pub templates: TemplateSettings,
    pub push: PushSettings,
    pub jobs: JobSettings,
    pub signatures: SignatureSettings,
    pub clock: ClockSettings,
    pub webhooks: WebhookSettings,
    pub limits: LimitSettings,
    pub notices: NoticeSettings,
    pub submissions: SubmissionSettings,
}

/// Submissions at the municipality's desk.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubmissionSettings {
    /// The largest decision document (処分通知, a PDF) staff may attach, in bytes.
    pub decision_document_max_bytes: usize,
}

impl Default for SubmissionSettings {
    fn default() -> Self {
        Self { decision_document_max_bytes: 5 * 1024 * 1024 }
    }
}

/// Municipal notices as staff write them.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoticeSettings {
    /// An audience count below this is shown to staff as "fewer than N" (console and API, none
    /// included), so that conditions narrowed down to one family never tell whether it exists;
    /// 0 shows every count.
    pub audience_count_threshold: i64,
    /// Seconds a count is reused for the same municipality and conditions; 0 counts every time.
    pub audience_count_cache_seconds: u64,
}

impl Default for NoticeSettings {
    fn default() -> Self {
        Self { audience_count_threshold: 5, audience_count_cache_seconds: 30 }
    }
}

/// How much one credential may ask of this process.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Requests per second each credential (an app key, a staff key, a family's sessions) may
    /// make to this process, sustained.
    pub requests_per_second: u32,
    /// Requests a credential may make at once above that rate.
    pub burst: u32,
    /// Requests per second all the parent sessions of one app together may make to this
    /// process, sustained (each family's sessions also keep `requests_per_second` of their own):
    /// a vendor cannot multiply its budget by minting sessions.
    pub app_sessions_per_second: u32,
    /// Requests an app's sessions together may make at once above that rate.
    pub app_sessions_burst: u32,
    /// Sign-in, two-step and password forms of the console each client address may post a
    /// minute (all of them at once at most), before any password is checked.
    pub sign_in_per_minute: u32,
    /// Passwords checked at once by this process (argon2id: 19 MiB and a core each, for about
    /// 25 ms); unset, half the cores, at least one, so that a flood of sign-ins leaves the other
    /// tenants a core.
    pub password_checks_at_once: Option<usize>,
    /// How long a sign-in waits for its turn to be checked before it is answered 503 with
    /// `Retry-After`.
    pub password_check_wait_ms: u64,
    /// Requests of the budget an expensive read spends (an audience count, a notice's figures
    /// and replies, a notice's page in the console), so that one member of staff cannot keep
    /// the database busy for every tenant.
    pub expensive_read_cost: u32,
    /// Expensive reads run at once by this process; unset, half the cores, at least one (the
    /// others wait their turn).
    pub expensive_reads_at_once: Option<usize>,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            requests_per_second: 100,
            burst: 1_000,
            app_sessions_per_second: 100,
            app_sessions_burst: 1_000,
            sign_in_per_minute: 20,
            password_checks_at_once: None,
            password_check_wait_ms: 3_000,
            expensive_read_cost: 20,
            expensive_reads_at_once: None,
        }
    }
}

impl LimitSettings {
    /// Passwords checked at once: the setting, or half the cores (at least one).
    pub fn password_checks(&self) -> usize {
        self.password_checks_at_once.unwrap_or_else(half_the_cores).max(1)
    }

    /// Expensive reads run at once: the setting, or half the cores (at least one).
    pub fn expensive_reads(&self) -> usize {
        self.expensive_reads_at_once.unwrap_or_else(half_the_cores).max(1)
    }
}

fn half_the_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get() / 2)
}

/// Webhooks, municipal and apps' (see `crate::outbound`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Hosts a webhook may name although they are private or on this machine, over http too:
    /// a receiver inside the operator's own network, or a test's. Empty: public https only.
    /// They are reached directly, never through `proxy`.
    pub allowed_hosts: Vec<String>,
    /// The egress proxy webhooks go through (`http://proxy.example.lg.jp:8080`). Unset, they go
    /// directly: the environment's `HTTPS_PROXY`/`ALL_PROXY` are never used for them, since a
    /// proxy resolves the host name where nonstop's public-address check cannot see. Set, nonstop
    /// resolves each destination itself first and sends nothing unless every address is public.
    pub proxy: Option<String>,
}

/// Where the service's time comes from (see `crate::clock`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClockSettings {
    /// Start the clock at this instant (RFC 3339, e.g. `2026-12-01T12:00:00+09:00`) and let it
    /// run from there, instead of the system clock: for rehearsals, demos and tests that must
    /// behave as at another hour. Never set in production.
    pub start_at: Option<String>,
}

impl ClockSettings {
    /// The clock these settings describe.
    pub fn clock(&self) -> Result<crate::clock::Clock, String> {
        match &self.start_at {
            None => Ok(crate::clock::Clock::system()),
            Some(at) => chrono::DateTime::parse_from_rfc3339(at)
                .map(|at| crate::clock::Clock::starting_at(at.to_utc()))
                .map_err(|e| format!("'{at}' is not an RFC 3339 instant such as 2026-12-01T12:00:00+09:00 ({e})")),
        }
    }
}

/// Verifying the parents' マイナンバーカード signatures (see `crate::jpki`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignatureSettings {
    /// Trust the J-LIS signing root built into nonstop (signca03, 2023–2033).
    pub trust_jlis_roots: bool,
    /// More trust anchors, as PEM files: the other J-LIS generations an operator has checked
    /// against J-LIS's published fingerprints (signca02, for cards issued 2019–2023), or a
    /// test hierarchy in a test environment. Never a root sent by a client.
    pub trust_anchor_files: Vec<PathBuf>,
    /// Certificate policies accepted (the production signing policy by default; the JPKI
    /// test-card policy 1.2.392.200149.8.5.1.0.20 only when listed here).
    pub accepted_policies: Vec<String>,
}

impl Default for SignatureSettings {
    fn default() -> Self {
        Self {
            trust_jlis_roots: true,
            trust_anchor_files: Vec::new(),
            accepted_policies: vec![crate::jpki::JPKI_SIGNING_POLICY.to_owned()],
        }
    }
}

impl SignatureSettings {
    pub fn verifier(&self) -> Result<crate::jpki::Verifier, String> {
        crate::jpki::Verifier::from_settings(
            self.trust_jlis_roots,
            &self.trust_anchor_files,
            self.accepted_policies.clone(),
        )
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushSettings {
    /// Push-service hosts Web Push subscriptions may point at (`*.example.com` for subdomains),
    /// each on its scheme's own port unless the entry names one (`host:8443`, `host:*`).
    /// Subscriptions elsewhere are refused at registration and never contacted.
    pub web_push_allowed_hosts: Vec<String>,
    /// FCM HTTP v1 base URL.
    pub fcm_base_url: String,
    /// The OAuth2 token endpoint of FCM service accounts: Google's. The operator's to set (a
    /// loopback mock in tests), never the vendor's: a service account naming another is refused.
    pub fcm_token_uri: String,
    /// Timeout of one send.
    pub timeout_seconds: u64,
    /// PEM files of certificates to trust besides the public roots, for push services and FCM
    /// (a rehearsal's or a test's push service). The operator's only: nothing a tenant sends
    /// reaches it.
    pub extra_root_certificates: Vec<PathBuf>,
    /// HTTP/2 connections kept to each push-service host: a service caps the streams of one
    /// connection (FCM at 100), so more sends in flight to a host need more connections.
    pub connections_per_host: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobSettings {
    /// Run the delivery worker (and, with `scheduler`, the periodic jobs) in this process.
    pub enabled: bool,
    /// Run the periodic jobs (materializing due reminders, purging) in this process.
    pub scheduler: bool,
    /// Deliveries claimed at once by a worker.
    pub batch_size: i64,
    /// Sends in flight to a push-service host to start with; each host's number then grows
    /// while its answers are fast and successful and shrinks on 429, 5xx and timeouts.
    pub concurrency: usize,
    /// Deliveries a worker holds at once, claimed and not yet recorded (its memory bound): the
    /// next batch is claimed while earlier ones still send, up to this.
    pub max_in_flight: usize,
    /// How long a claimed delivery stays reserved; a crashed worker's lease expires after it.
    pub lease_seconds: i64,
    /// How often the worker looks for due deliveries when idle, in milliseconds.
    pub poll_interval_ms: u64,
    /// How often the scheduler materializes due reminders, in seconds (a divisor of 60).
    pub materialize_every_seconds: u32,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            web_push_allowed_hosts: crate::push::webpush::DEFAULT_ALLOWED_HOSTS.iter().map(|h| h.to_string()).collect(),
            fcm_base_url: "https://fcm.googleapis.com".into(),
            fcm_token_uri: "https://oauth2.googleapis.com/token".into(),
            timeout_seconds: 10,
            extra_root_certificates: Vec::new(),
            connections_per_host: 4,
        }
    }
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            scheduler: true,
            batch_size: 200,
            concurrency: 64,
            max_in_flight: 2_000,
            lease_seconds: 60,
            poll_interval_ms: 500,
            materialize_every_seconds: 15,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TemplateSettings {
    /// A folder laid out like `notification_templates/` whose templates replace the built-in
    /// ones of the same id. A broken folder is refused (logged with file and line) and the
    /// built-in templates stay in force.
    pub override_dir: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// HTTP worker threads; the number of cores when unset.
    pub workers: Option<usize>,
    /// How long in-flight requests may finish after SIGTERM/SIGINT.
    pub shutdown_timeout_seconds: u64,
    /// Addresses of the operator's reverse proxies: from them, the client's address is the last
    /// one `X-Forwarded-For` names; from anyone else the header is ignored (it can be forged).
    pub trusted_proxies: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path` or `postgres://…`; may hold a password, hence secret.
    pub url: Secret,
    pub pool_size: u32,
    pub sqlite_busy_timeout_ms: u32,
    /// How long a request waits for a free connection of the pool before it is answered 503
    /// with `Retry-After` (`unavailable`).
    pub pool_wait_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncryptionSettings {
    /// The key id new values are sealed with.
    pub active_key_id: String,
    /// Key id → base64 of 32 random bytes. Keep retired keys here until nothing uses them.
    pub keys: BTreeMap<String, Secret>,
    /// Used when `keys` is empty: a key generated on first start and kept in this file.
    pub key_file: PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    /// Lifetime of a parent session token when the vendor asks for none.
    pub default_ttl_seconds: i64,
    /// The longest lifetime a vendor may ask for.
    pub max_ttl_seconds: i64,
    /// Days a staff key works after it is made; then the operator makes a new one.
    pub staff_key_valid_days: i64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// An `EnvFilter` directive, e.g. `info` or `nonstop=debug,actix_web=info`.
    pub level: String,
    /// `json` (one object per line) or `text`.
    pub format: String,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            workers: None,
            shutdown_timeout_seconds: 30,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: Secret::new("sqlite://data/nonstop.sqlite3"),
            pool_size: 8,
            sqlite_busy_timeout_ms: 5_000,
            pool_wait_ms: crate::db::POOL_WAIT.as_millis() as u64,
        }
    }
}

impl Default for EncryptionSettings {
    fn default() -> Self {
        Self { active_key_id: "local".into(), keys: BTreeMap::new(), key_file: PathBuf::from("data/encryption.key") }
    }
}

impl SessionSettings {
    /// What a new staff key may do, for the configured lifetime.
    pub fn staff_grant(&self, admin: bool) -> crate::service::principals::StaffGrant {
        crate::service::principals::StaffGrant { admin, valid_for: chrono::Duration::days(self.staff_key_valid_days) }
    }
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self { default_ttl_seconds: 3_600, max_ttl_seconds: 86_400, staff_key_valid_days: 365 }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { level: "info".into(), format: "json".into() }
    }
}

impl Settings {
    /// Loads settings from `file` (or `nonstop.toml` when present) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, String> {
        let mut builder = config::Config::builder();
        match file {
            Some(path) => {
                if !path.exists() {
                    return Err(format!("settings file {} does not exist", path.display()));
                }
                builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
            }
            None => {
                builder = builder.add_source(
                    config::File::with_name("nonstop.toml").format(config::FileFormat::Toml).required(false),
                );
            }
        }
        if let Ok(url) = std::env::var("DATABASE_URL") {
            builder = builder.set_override("database.url", url).map_err(|e| e.to_string())?;
        }
        builder = builder.add_source(
            config::Environment::with_prefix("NONSTOP").prefix_separator("__").separator("__").try_parsing(true),
        );
        let settings: Settings =
            builder.build().and_then(|c| c.try_deserialize()).map_err(|e| format!("invalid settings: {e}"))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what serde cannot: ranges, the URL scheme, the keys.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if let Err(e) = self.database_location() {
            problems.push(format!("database.url: {e}"));
        }
        if self.database.pool_size == 0 {
            problems.push("database.pool_size: must be at least 1".into());
        }
        if self.database.pool_wait_ms == 0 {
            problems.push("database.pool_wait_ms: must be at least 1".into());
        }
        if self.server.workers == Some(0) {
            problems.push("server.workers: must be at least 1 when set".into());
        }
        if !self.encryption.keys.is_empty() {
            if let Err(e) = self.key_ring_from_settings() {
                problems.push(format!("encryption: {e}"));
            }
        }
        let s = &self.sessions;
        if s.default_ttl_seconds < 60 || s.max_ttl_seconds < s.default_ttl_seconds {
            problems.push("sessions: need 60 <= default_ttl_seconds <= max_ttl_seconds".into());
        }
        if !(1..=3_650).contains(&s.staff_key_valid_days) {
            problems.push("sessions.staff_key_valid_days: must be between 1 and 3650".into());
        }
        if self.jobs.materialize_every_seconds == 0 || 60 % self.jobs.materialize_every_seconds != 0 {
            problems.push("jobs.materialize_every_seconds: must divide 60 (1, 2, 3, 5, 10, 15, 20, 30 or 60)".into());
        }
        if self.jobs.batch_size < 1 || self.jobs.concurrency == 0 || self.jobs.lease_seconds < 5 {
            problems.push("jobs: need batch_size >= 1, concurrency >= 1, lease_seconds >= 5".into());
        }
        if self.jobs.max_in_flight < 1 || self.push.connections_per_host < 1 {
            problems.push("jobs.max_in_flight and push.connections_per_host: must be at least 1".into());
        }
        for file in &self.push.extra_root_certificates {
            let readable = std::fs::read(file).ok().and_then(|pem| reqwest::Certificate::from_pem_bundle(&pem).ok());
            if readable.is_none_or(|certificates| certificates.is_empty()) {
                problems.push(format!(
                    "push.extra_root_certificates: {} is not a readable PEM file of certificates",
                    file.display()
                ));
            }
        }
        if let Err(e) = self.signatures.verifier() {
            problems.push(format!("signatures: {e}"));
        }
        if self.signatures.accepted_policies.is_empty() {
            problems.push("signatures.accepted_policies: name at least one policy".into());
        }
        if !(1024..=50 * 1024 * 1024).contains(&self.submissions.decision_document_max_bytes) {
            problems.push("submissions.decision_document_max_bytes: must be between 1024 and 52428800".into());
        }
        if self.limits.requests_per_second == 0 || self.limits.burst == 0 {
            problems.push("limits: requests_per_second and burst must be at least 1".into());
        }
        if self.limits.app_sessions_per_second == 0 || self.limits.app_sessions_burst == 0 {
            problems.push("limits: app_sessions_per_second and app_sessions_burst must be at least 1".into());
        }
        if self.limits.expensive_read_cost == 0 || self.limits.expensive_read_cost > self.limits.burst {
            problems.push("limits.expensive_read_cost: must be between 1 and limits.burst".into());
        }
        if self.limits.expensive_reads_at_once == Some(0) {
            problems.push("limits.expensive_reads_at_once: must be at least 1".into());
        }
        if self.notices.audience_count_threshold < 0 {
            problems.push("notices.audience_count_threshold: must not be negative".into());
        }
        if self.limits.sign_in_per_minute == 0 || self.limits.password_checks_at_once == Some(0) {
            problems.push("limits: sign_in_per_minute and password_checks_at_once must be at least 1".into());
        }
        for proxy in &self.server.trusted_proxies {
            if proxy.parse::<std::net::IpAddr>().is_err() {
                problems.push(format!("server.trusted_proxies: '{proxy}' is not an IP address"));
            }
        }
        if let Some(proxy) = &self.webhooks.proxy {
            // Not printed: it may carry the proxy's credentials.
            if !url::Url::parse(proxy)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()))
            {
                problems.push("webhooks.proxy: must be an http:// or https:// URL naming the proxy's host".into());
            }
        }
        if let Err(e) = self.clock.clock() {
            problems.push(format!("clock.start_at: {e}"));
        }
        if !matches!(self.log.format.as_str(), "json" | "text") {
            problems.push(format!("log.format: '{}' is neither 'json' nor 'text'", self.log.format));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    pub fn database_location(&self) -> Result<DatabaseLocation, String> {
        DatabaseLocation::parse(self.database.url.expose())
    }

    fn key_ring_from_settings(&self) -> Result<KeyRing, String> {
        let keys = self.encryption.keys.iter().map(|(id, k)| (id.clone(), k.expose().to_owned())).collect();
        KeyRing::from_base64(&self.encryption.active_key_id, &keys)
    }

    /// The keys in force: `encryption.keys`, else the key kept in `encryption.key_file` when that
    /// file exists; `None` when there is neither. Never generates a key: only a new, empty
    /// database gets one (`generate_key_file`, decided by `db::canary`).
    pub fn existing_key_ring(&self) -> anyhow::Result<Option<KeyRing>> {
        if !self.encryption.keys.is_empty() {
            return self.key_ring_from_settings().map(Some).map_err(|e| anyhow::anyhow!("encryption.keys: {e}"));
        }
        let path = &self.encryption.key_file;
        if !path.exists() {
            return Ok(None);
        }
        let encoded = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("encryption.key_file {}: cannot be read: {e}", path.display()))?;
        self.file_key_ring(&encoded).map(Some)
    }

    /// The keys in force, or an error naming the settings that give them.
    pub fn key_ring(&self) -> anyhow::Result<KeyRing> {
        self.existing_key_ring()?.ok_or_else(|| {
            anyhow::anyhow!(
                "no encryption key: encryption.key_file {} does not exist and encryption.keys is empty; {}",
                self.encryption.key_file.display(),
                KEY_SETTINGS
            )
        })
    }

    /// Generates a key into `encryption.key_file` (readable by the owner only, never over an
    /// existing file), so that `cargo run` works with no settings at all: for a new, empty
    /// database only.
    pub fn generate_key_file(&self) -> anyhow::Result<KeyRing> {
        let path = &self.encryption.key_file;
        let key = KeyRing::generate_key_base64();
        write_private_file(path, &key)
            .map_err(|e| anyhow::anyhow!("encryption.key_file {}: cannot write a new key: {e}", path.display()))?;
        tracing::warn!(
            key_file = %path.display(),
            "no encryption key configured and the database is new: generated one; back this file up, the data cannot be read without it"
        );
        self.file_key_ring(&key)
    }

    /// Where this process's keys come from, for messages (never a key).
    pub fn key_source(&self) -> String {
        if self.encryption.keys.is_empty() {
            format!("encryption.key_file {}", self.encryption.key_file.display())
        } else {
            "encryption.keys".to_owned()
        }
    }

    fn file_key_ring(&self, encoded: &str) -> anyhow::Result<KeyRing> {
        let keys = BTreeMap::from([(self.encryption.active_key_id.clone(), encoded.trim().to_owned())]);
        KeyRing::from_base64(&self.encryption.active_key_id, &keys)
            .map_err(|e| anyhow::anyhow!("encryption.key_file {}: {e}", self.encryption.key_file.display()))
    }
}

/// How an operator gives nonstop its keys, for the messages that refuse a start.
pub const KEY_SETTINGS: &str = "configure the keys that sealed the data: `encryption.keys.<id>` \
     (NONSTOP__ENCRYPTION__KEYS__<ID>) with `encryption.active_key_id` (NONSTOP__ENCRYPTION__ACTIVE_KEY_ID), \
     or `encryption.key_file` (NONSTOP__ENCRYPTION__KEY_FILE) naming the file that holds the key";

fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_on_loopback_with_sqlite() {
        let s = Settings::default();
        assert_eq!((s.server.host.as_str(), s.server.port), ("127.0.0.1", 8080));
        assert_eq!(s.database_location(), Ok(DatabaseLocation::Sqlite(PathBuf::from("data/nonstop.sqlite3"))));
        assert!(s.validate().is_ok());
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let mut s = Settings::default();
        s.database.url = Secret::new("postgres://nonstop:hunter2@db/nonstop");
        s.encryption.keys.insert("k1".into(), Secret::new(KeyRing::generate_key_base64()));
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains(s.encryption.keys["k1"].expose()));
    }

    #[test]
    fn validation_names_each_bad_setting() {
        let mut s = Settings::default();
        s.database.url = Secret::new("mysql://x");
        s.database.pool_size = 0;
        s.log.format = "xml".into();
        s.encryption.keys.insert("k1".into(), Secret::new("not base64!"));
        s.encryption.active_key_id = "k1".into();
        let err = s.validate().unwrap_err();
        for needle in ["database.url", "database.pool_size", "log.format", "encryption: encryption key 'k1'"] {
            assert!(err.contains(needle), "{needle} missing from {err}");
        }
    }

    #[test]
    fn generated_key_file_is_reused_and_never_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Settings::default();
        s.encryption.key_file = dir.path().join("keys/encryption.key");
        assert!(s.existing_key_ring().expect("no file yet").is_none());
        let err = s.key_ring().unwrap_err().to_string();
        assert!(err.contains("encryption.key_file") && err.contains("NONSTOP__ENCRYPTION__KEY_FILE"), "{err}");
        let first = s.generate_key_file().expect("ring");
        let sealed = first.seal("t", "x").expect("seal");
        let second = s.key_ring().expect("ring");
        assert_eq!(second.open("t", &sealed).expect("open"), "x");
        assert!(s.generate_key_file().is_err(), "an existing key file is never overwritten");
        assert_eq!(s.key_ring().expect("ring").open("t", &sealed).expect("open"), "x");
    }
}
