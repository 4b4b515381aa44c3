//! Personal data at rest and credentials.
//!
//! Values are sealed with AES-256-GCM under a named key; the stored form is
//! `<key id>:<base64url(nonce ‖ ciphertext)>`, so keys can rotate: new writes use the active
//! key, old values stay readable while their key is still configured. The column the value
//! belongs to is bound as associated data, so a ciphertext copied into another column does not
//! decrypt. Credentials (API keys, session tokens, device tokens for look-up) are kept only as
//! SHA-256 digests: they are 256-bit random values, so a plain digest cannot be guessed back.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::Error;

const NONCE_LEN: usize = 12;

/// The encryption keys in force: one active for writing, all of them for reading.
pub struct KeyRing {
    active_id: String,
    keys: BTreeMap<String, Aes256Gcm>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("active_id", &self.active_id)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyRing {
    /// Builds a ring from base64-encoded 32-byte keys. Errors name the key id, never the key.
    pub fn from_base64(active_id: &str, keys: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut ring = BTreeMap::new();
        for (id, encoded) in keys {
            if id.is_empty() || id.contains(':') {
                return Err(format!("encryption key id '{id}' must be non-empty and contain no ':'"));
            }
            let bytes =
                STANDARD.decode(encoded.trim()).map_err(|_| format!("encryption key '{id}' is not valid base64"))?;
            if bytes.len() != 32 {
                return Err(format!("encryption key '{id}' must be 32 bytes (AES-256), found {}", bytes.len()));
            }
            let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| format!("encryption key '{id}' is unusable"))?;
            ring.insert(id.clone(), cipher);
        }
        if !ring.contains_key(active_id) {
            return Err(format!("the active encryption key '{active_id}' is not among the configured keys"));
        }
        Ok(Self { active_id: active_id.to_owned(), keys: ring })
    }

    /// The id of the key new values are sealed with.
    pub fn active_id(&self) -> &str {
        &self.active_id
    }

    /// Whether a key of this id is in the ring.
    pub fn has_key(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    /// A fresh random key, base64-encoded, for `nonstop` to write on first start.
    pub fn generate_key_base64() -> String {
        let key = Aes256Gcm::generate_key(OsRng);
        STANDARD.encode(key)
    }

    /// Seals `plaintext` for the column named by `context` (e.g. `guardians.full_name`).
    pub fn seal(&self, context: &str, plaintext: &str) -> Result<String, Error> {
        let cipher = &self.keys[&self.active_id];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = cipher
            .encrypt(&nonce, Payload { msg: plaintext.as_bytes(), aad: context.as_bytes() })
            .map_err(|_| Error::internal("encryption failed"))?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(format!("{}:{}", self.active_id, URL_SAFE_NO_PAD.encode(sealed)))
    }

    /// Opens a value sealed by [`KeyRing::seal`] for the same `context`.
    pub fn open(&self, context: &str, stored: &str) -> Result<String, Error> {
        let (key_id, body) =
            stored.split_once(':').ok_or_else(|| Error::internal(format!("{context}: stored value is not sealed")))?;
        let cipher = self.keys.get(key_id).ok_or_else(|| {
            Error::internal(format!("{context}: sealed with key '{key_id}', which is not configured"))
        })?;
        let bytes =
            URL_SAFE_NO_PAD.decode(body).map_err(|_| Error::internal(format!("{context}: sealed value is corrupt")))?;
        if bytes.len() < NONCE_LEN {
            return Err(Error::internal(format!("{context}: sealed value is truncated")));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Error::internal(format!("{context}: bad nonce")))?;
        let plaintext = cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: context.as_bytes() })
            .map_err(|_| Error::internal(format!("{context}: sealed value does not authenticate")))?;
        String::from_utf8(plaintext).map_err(|_| Error::internal(format!("{context}: sealed value is not UTF-8")))
    }

    pub fn seal_opt(&self, context: &str, plaintext: Option<&str>) -> Result<Option<String>, Error> {
        plaintext.map(|p| self.seal(context, p)).transpose()
    }

    pub fn open_opt(&self, context: &str, stored: Option<&str>) -> Result<Option<String>, Error> {
        stored.map(|s| self.open(context, s)).transpose()
    }

    /// A value kept as its text (a number, a date), sealed.
    pub fn seal_value<T: std::fmt::Display>(&self, context: &str, value: Option<T>) -> Result<Option<String>, Error> {
        value.map(|v| self.seal(context, &v.to_string())).transpose()
    }

    /// What `seal_value` sealed, read back as its type.
    pub fn open_value<T: std::str::FromStr>(&self, context: &str, stored: Option<&str>) -> Result<Option<T>, Error> {
        self.open_opt(context, stored)?
            .map(|text| {
                text.parse().map_err(|_| Error::internal(format!("{context}: sealed value does not read back")))
            })
            .transpose()
    }

    /// A record of optional facts, sealed as JSON; nothing is stored when no fact is given.
    pub fn seal_facts<T: serde::Serialize + Default + PartialEq>(
        &self,
        context: &str,
        facts: &T,
    ) -> Result<Option<String>, Error> {
        if *facts == T::default() {
            return Ok(None);
        }
        let json = serde_json::to_string(facts).map_err(|e| Error::internal(format!("{context}: {e}")))?;
        self.seal(context, &json).map(Some)
    }

    /// The facts `seal_facts` stored; all absent when nothing was.
    pub fn open_facts<T: serde::de::DeserializeOwned + Default>(
        &self,
        context: &str,
        stored: Option<&str>,
    ) -> Result<T, Error> {
        match self.open_opt(context, stored)? {
            Some(json) => serde_json::from_str(&json).map_err(|e| Error::unreadable(context, &e)),
            None => Ok(T::default()),
        }
    }
}

/// A new secret credential: `prefix` followed by 32 random bytes in base64url.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The lowercase hex SHA-256 of `value`, the only form in which credentials are stored.
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(active: &str, ids: &[&str]) -> KeyRing {
        let keys = ids.iter().map(|id| (id.to_string(), KeyRing::generate_key_base64())).collect();
        KeyRing::from_base64(active, &keys).expect("valid ring")
    }

    #[test]
    fn seals_and_opens_with_key_id_beside_the_value() {
        let ring = ring("k1", &["k1"]);
        let sealed = ring.seal("guardians.full_name", "山田 花子").expect("seal");
        assert!(sealed.starts_with("k1:"));
        assert!(!sealed.contains("山田"));
        assert_eq!(ring.open("guardians.full_name", &sealed).expect("open"), "山田 花子");
    }

    #[test]
    fn a_value_moved_to_another_column_does_not_open() {
        let ring = ring("k1", &["k1"]);
        let sealed = ring.seal("guardians.full_name", "山田 花子").expect("seal");
        assert!(ring.open("devices.token", &sealed).is_err());
    }

    #[test]
    fn old_values_open_after_rotation() {
        let mut keys = BTreeMap::new();
        keys.insert("k1".to_owned(), KeyRing::generate_key_base64());
        let old = KeyRing::from_base64("k1", &keys).expect("ring");
        let sealed = old.seal("families.address", "千代田1-1").expect("seal");
        keys.insert("k2".to_owned(), KeyRing::generate_key_base64());
        let rotated = KeyRing::from_base64("k2", &keys).expect("ring");
        assert_eq!(rotated.open("families.address", &sealed).expect("open"), "千代田1-1");
        assert!(rotated.seal("families.address", "x").expect("seal").starts_with("k2:"));
    }

    #[test]
    fn refuses_bad_keys_naming_the_key_id_only() {
        let mut keys = BTreeMap::new();
        keys.insert("short".to_owned(), STANDARD.encode([1u8; 16]));
        let err = KeyRing::from_base64("short", &keys).unwrap_err();
        assert!(err.contains("'short'") && err.contains("32 bytes"), "{err}");
        keys.clear();
        keys.insert("k1".to_owned(), KeyRing::generate_key_base64());
        assert!(KeyRing::from_base64("k9", &keys).unwrap_err().contains("'k9'"));
    }

    #[test]
    fn tampered_values_are_rejected() {
        let ring = ring("k1", &["k1"]);
        let mut sealed = ring.seal("c", "secret").expect("seal");
        sealed.push('A');
        assert!(ring.open("c", &sealed).is_err());
    }

    #[test]
    fn secrets_are_random_and_digests_stable() {
        let a = new_secret("nsk_");
        assert!(a.starts_with("nsk_") && a.len() > 40);
        assert_ne!(a, new_secret("nsk_"));
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
