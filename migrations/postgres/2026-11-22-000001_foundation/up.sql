-- Foundation: principals (vendor apps, municipal staff, parent sessions) and the family profile.
-- Personal values (names, kana, addresses, phone numbers, device tokens) are stored as
-- "<key id>:<base64 nonce+ciphertext>" written by src/crypto.rs; never as plaintext.

-- A vendor app: one private childcare app that registers families through the API.
CREATE TABLE apps (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);

-- API keys of a vendor app. Only the SHA-256 of the key is kept.
CREATE TABLE app_keys (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    key_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX app_keys_app ON app_keys (app_id);

-- A municipal staff key, scoped to one 全国地方公共団体コード.
CREATE TABLE staff_members (
    id TEXT PRIMARY KEY NOT NULL,
    municipality_code TEXT NOT NULL,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX staff_members_municipality ON staff_members (municipality_code);

-- 世帯: a family, owned by exactly one vendor app.
CREATE TABLE families (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL REFERENCES apps (id),
    municipality_code TEXT NOT NULL,
    postal_code TEXT,
    address TEXT,
    preferred_language TEXT NOT NULL,
    quiet_hours_start INTEGER NOT NULL,
    quiet_hours_end INTEGER NOT NULL,
    health_insurance TEXT,
    single_parent BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX families_app ON families (app_id, id);
CREATE INDEX families_municipality ON families (municipality_code);

-- 保護者: a guardian of the family.
CREATE TABLE guardians (
    id TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    relationship TEXT NOT NULL,
    full_name TEXT NOT NULL,
    full_name_kana TEXT,
    birth_date DATE,
    phone TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX guardians_family ON guardians (family_id);

-- 子: a child, expected (出産予定) or born.
CREATE TABLE children (
    id TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    due_date DATE,
    birth_date DATE,
    birth_weight_grams INTEGER,
    full_name TEXT,
    full_name_kana TEXT,
    sex TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX children_family ON children (family_id);

-- A push target of the family: Web Push subscription, APNs token or FCM token.
CREATE TABLE devices (
    id TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    token TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    p256dh TEXT,
    auth_secret TEXT,
    apns_environment TEXT,
    created_at TIMESTAMP NOT NULL,
    disabled_at TIMESTAMP,
    disabled_reason TEXT,
    UNIQUE (family_id, token_hash)
);

-- A life event as it was recorded (birth, move, ...), the planner's input history.
CREATE TABLE life_events (
    id TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    child_id TEXT REFERENCES children (id) ON DELETE SET NULL,
    kind TEXT NOT NULL,
    occurred_on DATE NOT NULL,
    details TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
CREATE INDEX life_events_family ON life_events (family_id, recorded_at);

-- A short-lived token a vendor backend minted for its mobile app, scoped to one family.
CREATE TABLE parent_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX parent_sessions_expiry ON parent_sessions (expires_at);
