//! 公的個人認証 (JPKI): verifying a parent's マイナンバーカード signature over a confirmed document.
//!
//! What is checked (docs/ARCHITECTURE.md, `../shared/domain/jpki.md` §6): the signing certificate
//! was issued by a pinned trust anchor (a J-LIS signing root; a root or intermediate sent by the
//! client is never trusted), RSA of at least 2048 bits with SHA-256 (SHA-1 refused), valid at
//! the moment nonstop receives it, keyUsage with nonRepudiation, a certificate policy from the
//! configured set, no critical extension we do not understand; and the signature is RSASSA-
//! PKCS1-v1_5 with SHA-256 over exactly the confirmed bytes.
//!
//! What is not: revocation. Only a 署名検証者 certified under 公的個人認証法 may fetch the J-LIS
//! CRL/OCSP, so a verified signature is recorded as "signature and chain verified, revocation not
//! checked" and forwarded unchanged to the municipality, which checks it.

pub mod certificate;
pub mod der;

use std::path::Path;

use chrono::{DateTime, Utc};
use openssl::asn1::Asn1Time;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Public};
use openssl::rsa::Padding;
use openssl::x509::X509;
use sha2::{Digest, Sha256};

pub use certificate::BasicFourInfo;
use certificate::Profile;

/// The J-LIS signing root of 2023 (signca03), as published at https://www.jpki.go.jp/ca/ ;
/// its SHA-256 fingerprint is checked by a test against the one J-LIS publishes.
pub const JLIS_SIGN_CA_2023: &str = include_str!("../../catalog/trust_anchors/jlis_sign_ca_2023.pem");

/// The policy of production signing certificates. The JPKI test cards carry
/// 1.2.392.200149.8.5.1.0.20, which is refused unless configured.
pub const JPKI_SIGNING_POLICY: &str = "1.2.392.200149.8.5.1.1.20";

/// DigestInfo prefixes (RFC 8017 §9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] =
    [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];
const SHA1_DIGEST_INFO: [u8; 15] =
    [0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14];

/// Why a signature was refused. Each has its own stable code for apps to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    MalformedCertificate(String),
    MalformedSignature(String),
    /// SHA-1, or an RSA key under 2048 bits, or not RSA at all.
    WeakAlgorithm(String),
    /// Not issued by any configured trust anchor.
    UntrustedIssuer,
    /// Issued by a certificate the client sent along, which is never trusted.
    ClientSuppliedRoot,
    Expired,
    NotYetValid,
    KeyUsage,
    CertificatePolicy(Vec<String>),
    UnknownCriticalExtension(String),
    /// The signature does not verify with the certificate's key.
    BadSignature,
    /// The signature is the certificate holder's, but over other bytes than the confirmed document.
    DocumentChanged,
    /// The certificate's holder is not this family's guardian.
    WrongSigner,
    /// The holder is a guardian, but not the applicant the form names.
    NotTheApplicant,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedCertificate(_) => "malformed_certificate",
            Self::MalformedSignature(_) => "malformed_signature",
            Self::WeakAlgorithm(_) => "weak_algorithm",
            Self::UntrustedIssuer => "untrusted_issuer",
            Self::ClientSuppliedRoot => "client_supplied_root",
            Self::Expired => "certificate_expired",
            Self::NotYetValid => "certificate_not_yet_valid",
            Self::KeyUsage => "key_usage",
            Self::CertificatePolicy(_) => "certificate_policy",
            Self::UnknownCriticalExtension(_) => "unknown_critical_extension",
            Self::BadSignature => "bad_signature",
            Self::DocumentChanged => "document_changed",
            Self::WrongSigner => "wrong_signer",
            Self::NotTheApplicant => "not_the_applicant",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::MalformedCertificate(why) => format!("the certificate cannot be read: {why}"),
            Self::MalformedSignature(why) => format!("the signature cannot be read: {why}"),
            Self::WeakAlgorithm(why) => format!("refused algorithm: {why}; RSA-2048 or larger with SHA-256 is required"),
            Self::UntrustedIssuer => "the certificate was not issued by a trusted J-LIS signing root".into(),
            Self::ClientSuppliedRoot => {
                "the certificate chains only to a certificate sent with the request; only pinned J-LIS roots are trusted".into()
            }
            Self::Expired => "the certificate has expired".into(),
            Self::NotYetValid => "the certificate is not valid yet".into(),
            Self::KeyUsage => "the certificate's key usage does not include nonRepudiation (署名用)".into(),
            Self::CertificatePolicy(found) => {
                format!("the certificate policy is not accepted (found: {})", if found.is_empty() { "none".into() } else { found.join(", ") })
            }
            Self::UnknownCriticalExtension(oid) => format!("the certificate has an unknown critical extension {oid}"),
            Self::BadSignature => "the signature does not verify with the certificate's key".into(),
            Self::DocumentChanged => "the signature is over a different document than the one confirmed".into(),
            Self::WrongSigner => "the certificate's holder is not a guardian of this family".into(),
            Self::NotTheApplicant => {
                "the certificate's holder is not the applicant named on the form: the applicant signs".into()
            }
        }
    }
}

/// A pinned root.
#[derive(Clone)]
pub struct TrustAnchor {
    certificate: X509,
    key: PKey<Public>,
    /// SHA-256 of the DER, lower-case hex.
    pub sha256: String,
}

impl TrustAnchor {
    pub fn from_pem(pem: &[u8]) -> Result<Vec<Self>, String> {
        let certs = X509::stack_from_pem(pem).map_err(|e| format!("not PEM certificates: {e}"))?;
        if certs.is_empty() {
            return Err("no certificate in the PEM".into());
        }
        certs
            .into_iter()
            .map(|certificate| {
                let key = certificate.public_key().map_err(|e| format!("unreadable public key: {e}"))?;
                let der = certificate.to_der().map_err(|e| e.to_string())?;
                Ok(Self { certificate, key, sha256: hex::encode(Sha256::digest(der)) })
            })
            .collect()
    }
}

/// What a verified signature proves, recorded with the submission.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Verification {
    /// Always `signature and chain verified, revocation not checked`: nonstop is not a
    /// certified 署名検証者 and never claims the certificate is still valid (有効).
    pub statement: String,
    pub signature_verified: bool,
    pub chain_verified: bool,
    /// Always `not_checked`: the receiving municipality checks J-LIS revocation.
    pub revocation: String,
    /// SHA-256 of the trust anchor the certificate chains to.
    pub trust_anchor_sha256: String,
    /// SHA-256 of the signing certificate.
    pub certificate_sha256: String,
    pub certificate_serial: String,
    pub certificate_not_after: DateTime<Utc>,
    pub policy: String,
    /// The moment nonstop received and verified the signature (validity was checked at it).
    pub verified_at: DateTime<Utc>,
}

/// A certificate that passed every check: its SHA-256 and its holder's 基本4情報.
pub struct CheckedCertificate {
    pub sha256: String,
    pub holder: BasicFourInfo,
}

/// A signature that passed every check, with the certificate's holder for the signer check.
#[derive(Debug, Clone)]
pub struct VerifiedSignature {
    pub verification: Verification,
    pub holder: BasicFourInfo,
}

struct Checked<'a> {
    cert: X509,
    key: PKey<Public>,
    profile: Profile,
    anchor: &'a TrustAnchor,
}

/// Verifies signatures against pinned anchors and an accepted set of policies.
#[derive(Clone)]
pub struct Verifier {
    anchors: Vec<TrustAnchor>,
    accepted_policies: Vec<String>,
}

impl Verifier {
    pub fn new(anchors: Vec<TrustAnchor>, accepted_policies: Vec<String>) -> Self {
        Self { anchors, accepted_policies }
    }

    /// The built-in J-LIS root, plus the PEM files named in the settings.
    pub fn from_settings(
        include_jlis: bool,
        files: &[std::path::PathBuf],
        policies: Vec<String>,
    ) -> Result<Self, String> {
        let mut anchors = Vec::new();
        if include_jlis {
            anchors.extend(TrustAnchor::from_pem(JLIS_SIGN_CA_2023.as_bytes())?);
        }
        for file in files {
            anchors.extend(read_anchor_file(file)?);
        }
        if anchors.is_empty() {
            return Err(
                "no trust anchor: keep the J-LIS roots or name PEM files in signatures.trust_anchor_files".into()
            );
        }
        Ok(Self::new(anchors, policies))
    }

    pub fn anchors(&self) -> &[TrustAnchor] {
        &self.anchors
    }

    /// Checks `signature` over `document` with `certificate` (DER), at `at`.
    /// `client_chain` is whatever CA certificates the app sent: never trusted, only used to
    /// tell the app precisely why its certificate was refused.
    pub fn verify(
        &self,
        document: &[u8],
        signature: &[u8],
        certificate: &[u8],
        client_chain: &[Vec<u8>],
        at: DateTime<Utc>,
    ) -> Result<VerifiedSignature, Refusal> {
        let Checked { cert, key, profile, anchor } = self.check(certificate, client_chain, at)?;
        check_signature(&key, document, signature)?;
        let serial = cert
            .serial_number()
            .to_bn()
            .and_then(|bn| bn.to_hex_str().map(|s| s.to_string()))
            .map_err(|_| Refusal::MalformedCertificate("unreadable serial number".into()))?;
        let policy = profile.policies.iter().find(|p| self.accepted_policies.contains(p)).cloned().unwrap_or_default();
        Ok(VerifiedSignature {
            verification: Verification {
                statement: "signature and chain verified, revocation not checked".into(),
                signature_verified: true,
                chain_verified: true,
                revocation: "not_checked".into(),
                trust_anchor_sha256: anchor.sha256.clone(),
                certificate_sha256: hex::encode(Sha256::digest(certificate)),
                certificate_serial: serial,
                certificate_not_after: asn1_to_utc(cert.not_after()).unwrap_or(at),
                policy,
                verified_at: at,
            },
            holder: profile.holder,
        })
    }

    /// Checks a signing certificate alone (for registering it beforehand); returns its SHA-256.
    pub fn check_certificate(&self, certificate: &[u8], at: DateTime<Utc>) -> Result<CheckedCertificate, Refusal> {
        let checked = self.check(certificate, &[], at)?;
        Ok(CheckedCertificate { sha256: hex::encode(Sha256::digest(certificate)), holder: checked.profile.holder })
    }

    /// Every check of the certificate: algorithms, issuer, validity, profile.
    fn check(&self, certificate: &[u8], client_chain: &[Vec<u8>], at: DateTime<Utc>) -> Result<Checked<'_>, Refusal> {
        let cert = X509::from_der(certificate)
            .map_err(|_| Refusal::MalformedCertificate("not a DER X.509 certificate".into()))?;
        let profile = Profile::from_der(certificate).map_err(|e| Refusal::MalformedCertificate(e.to_string()))?;
        let key = cert.public_key().map_err(|_| Refusal::MalformedCertificate("unreadable public key".into()))?;
        check_algorithms(&cert, &key)?;
        let anchor = self.issuer_of(&cert, client_chain)?;
        check_validity(&cert, at)?;
        check_validity(&anchor.certificate, at)?;
        self.check_profile(&profile)?;
        Ok(Checked { cert, key, profile, anchor })
    }

    /// The pinned anchor whose key signed the certificate. JPKI has no intermediates: the leaf
    /// is signed directly by a J-LIS root, and all root generations share one DN, so the
    /// anchor is found by signature, not by name.
    fn issuer_of(&self, cert: &X509, client_chain: &[Vec<u8>]) -> Result<&TrustAnchor, Refusal> {
        if let Some(anchor) = self.anchors.iter().find(|a| cert.verify(&a.key).unwrap_or(false)) {
            return Ok(anchor);
        }
        let signed_by_client_cert = client_chain.iter().any(|der| {
            X509::from_der(der).and_then(|ca| ca.public_key()).is_ok_and(|key| cert.verify(&key).unwrap_or(false))
        });
        Err(if signed_by_client_cert { Refusal::ClientSuppliedRoot } else { Refusal::UntrustedIssuer })
    }

    fn check_profile(&self, profile: &Profile) -> Result<(), Refusal> {
        if let Some(oid) = profile.unknown_critical() {
            return Err(Refusal::UnknownCriticalExtension(oid.to_owned()));
        }
        match profile.key_usage {
            Some(ku) if ku.non_repudiation => {}
            _ => return Err(Refusal::KeyUsage),
        }
        if !profile.policies.iter().any(|p| self.accepted_policies.contains(p)) {
            return Err(Refusal::CertificatePolicy(profile.policies.clone()));
        }
        Ok(())
    }
}

fn read_anchor_file(file: &Path) -> Result<Vec<TrustAnchor>, String> {
    let pem = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    TrustAnchor::from_pem(&pem).map_err(|e| format!("{}: {e}", file.display()))
}

fn check_algorithms(cert: &X509, key: &PKey<Public>) -> Result<(), Refusal> {
    match cert.signature_algorithm().object().nid() {
        Nid::SHA256WITHRSAENCRYPTION | Nid::SHA384WITHRSAENCRYPTION | Nid::SHA512WITHRSAENCRYPTION => {}
        Nid::SHA1WITHRSAENCRYPTION | Nid::SHA1WITHRSA => {
            return Err(Refusal::WeakAlgorithm("the certificate is signed with SHA-1".into()))
        }
        other => {
            let name = other.long_name().unwrap_or("unknown");
            return Err(Refusal::WeakAlgorithm(format!("the certificate is signed with {name}")));
        }
    }
    let rsa = key.rsa().map_err(|_| Refusal::WeakAlgorithm("the key is not RSA".into()))?;
    let bits = rsa.n().num_bits();
    if bits < 2048 {
        return Err(Refusal::WeakAlgorithm(format!("an RSA key of {bits} bits")));
    }
    Ok(())
}

fn check_validity(cert: &X509, at: DateTime<Utc>) -> Result<(), Refusal> {
    let now = Asn1Time::from_unix(at.timestamp()).map_err(|e| Refusal::MalformedCertificate(e.to_string()))?;
    if cert.not_after() < now {
        return Err(Refusal::Expired);
    }
    if cert.not_before() > now {
        return Err(Refusal::NotYetValid);
    }
    Ok(())
}

/// RSASSA-PKCS1-v1_5: recover the DigestInfo with the public key, then compare. Reading it
/// (rather than only asking "valid or not") tells a SHA-1 signature and a signature over other
/// bytes apart from a wrong key.
fn check_signature(key: &PKey<Public>, document: &[u8], signature: &[u8]) -> Result<(), Refusal> {
    let rsa = key.rsa().map_err(|_| Refusal::WeakAlgorithm("the key is not RSA".into()))?;
    if signature.len() != rsa.size() as usize {
        return Err(Refusal::MalformedSignature(format!("{} bytes, the key needs {}", signature.len(), rsa.size())));
    }
    let mut recovered = vec![0u8; rsa.size() as usize];
    let len = rsa.public_decrypt(signature, &mut recovered, Padding::PKCS1).map_err(|_| Refusal::BadSignature)?;
    let recovered = &recovered[..len];
    if recovered.starts_with(&SHA1_DIGEST_INFO) {
        return Err(Refusal::WeakAlgorithm("the signature uses SHA-1".into()));
    }
    let Some(hash) = recovered.strip_prefix(&SHA256_DIGEST_INFO[..]) else {
        return Err(Refusal::BadSignature);
    };
    if hash[..] != Sha256::digest(document)[..] {
        return Err(Refusal::DocumentChanged);
    }
    // The standard check as well, so this never rests on the hand-written comparison alone.
    let mut verifier =
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), key).map_err(|_| Refusal::BadSignature)?;
    verifier.set_rsa_padding(Padding::PKCS1).map_err(|_| Refusal::BadSignature)?;
    match verifier.verify_oneshot(signature, document) {
        Ok(true) => Ok(()),
        _ => Err(Refusal::BadSignature),
    }
}

fn asn1_to_utc(time: &openssl::asn1::Asn1TimeRef) -> Option<DateTime<Utc>> {
    let epoch = Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(time).ok()?;
    DateTime::from_timestamp(i64::from(diff.days) * 86_400 + i64::from(diff.secs), 0)
}

/// What a printed submission says of its certificate, read again from the DER as stored.
#[derive(Debug, Clone)]
pub struct CertificateFacts {
    /// The subject's distinguished name, `C=JP, O=…, CN=…`.
    pub subject: String,
    pub issuer: String,
    pub not_before: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
}

fn distinguished_name(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_default();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The certificate's subject, issuer and validity, or `None` when the DER is not a certificate.
pub fn certificate_facts(der: &[u8]) -> Option<CertificateFacts> {
    let cert = X509::from_der(der).ok()?;
    Some(CertificateFacts {
        subject: distinguished_name(cert.subject_name()),
        issuer: distinguished_name(cert.issuer_name()),
        not_before: asn1_to_utc(cert.not_before()),
        not_after: asn1_to_utc(cert.not_after()),
    })
}

/// Two ways of writing one name: the same characters, spaces (half- or full-width) ignored.
pub fn same_name(a: &str, b: &str) -> bool {
    let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    squeeze(a) == squeeze(b)
}

/// Whether `full_name` can be the name the card writes: the same characters, spaces ignored,
/// except where the card substituted a character (代替文字: its flag is not `0`), which stands
/// for any one character. `None` when the card's name cannot be compared: it has none, or its
/// flags do not line up with it.
pub fn name_agrees(holder: &BasicFourInfo, full_name: &str) -> Option<bool> {
    let on_card = holder.name.as_deref()?;
    if !holder.name_has_substitutes() {
        return Some(same_name(on_card, full_name));
    }
    let flags = holder.name_substitutes.as_deref()?;
    if flags.chars().count() != on_card.chars().count() || !flags.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let card: Vec<(char, bool)> =
        on_card.chars().zip(flags.chars()).filter(|(c, _)| !c.is_whitespace()).map(|(c, f)| (c, f != '0')).collect();
    let given: Vec<char> = full_name.chars().filter(|c| !c.is_whitespace()).collect();
    Some(card.len() == given.len() && card.iter().zip(&given).all(|((c, substituted), g)| *substituted || c == g))
}

/// Whether a certificate's holder is this guardian: the same name (spaces ignored: the card
/// writes a full-width space between family and given name) and the same birth date.
pub fn holder_matches(holder: &BasicFourInfo, full_name: &str, birth_date: Option<chrono::NaiveDate>) -> bool {
    let same_name = holder.name.as_deref().is_some_and(|n| same_name(n, full_name));
    let same_birth = matches!((holder.birth_date(), birth_date), (Some(a), Some(b)) if a == b);
    !holder.name_has_substitutes() && same_name && same_birth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_root_is_the_one_jlis_publishes() {
        let anchors = TrustAnchor::from_pem(JLIS_SIGN_CA_2023.as_bytes()).unwrap();
        // https://www.jpki.go.jp/ca/pdf/sign_fingerprint.pdf (signca03), see jpki.md §1.3.
        assert_eq!(anchors[0].sha256, "d227f6cde11d35c5252178f106f843d24651944975413b539fa2fb68dbfa365f");
    }

    #[test]
    fn a_substituted_character_stands_for_any_one_character_and_no_more() {
        let holder = BasicFourInfo {
            name: Some("山田　〓子".into()),
            name_substitutes: Some("00010".into()),
            ..Default::default()
        };
        assert_eq!(name_agrees(&holder, "山田 花子"), Some(true));
        assert_eq!(name_agrees(&holder, "山田花子"), Some(true), "spaces ignored");
        assert_eq!(name_agrees(&holder, "佐藤 花子"), Some(false), "unsubstituted characters must agree");
        assert_eq!(name_agrees(&holder, "山田 花々子"), Some(false), "one character, not several");
        let misaligned = BasicFourInfo { name_substitutes: Some("010".into()), ..holder.clone() };
        assert_eq!(name_agrees(&misaligned, "山田 花子"), None, "flags that do not line up compare nothing");
        let plain = BasicFourInfo {
            name: Some("山田　花子".into()),
            name_substitutes: Some("00000".into()),
            ..Default::default()
        };
        assert_eq!(name_agrees(&plain, "山田 花子"), Some(true));
        assert_eq!(name_agrees(&plain, "山田 華子"), Some(false));
    }

    #[test]
    fn holder_matching_ignores_spaces_but_not_substituted_characters() {
        let holder = BasicFourInfo {
            name: Some("山田　花子".into()),
            name_substitutes: Some("0000".into()),
            birth_date: Some("419900401".into()),
            ..Default::default()
        };
        let born = chrono::NaiveDate::from_ymd_opt(1990, 4, 1);
        assert!(holder_matches(&holder, "山田 花子", born));
        assert!(!holder_matches(&holder, "山田 太郎", born));
        assert!(!holder_matches(&holder, "山田 花子", chrono::NaiveDate::from_ymd_opt(1990, 4, 2)));
        let substituted = BasicFourInfo { name_substitutes: Some("0100".into()), ..holder };
        assert!(!holder_matches(&substituted, "山田 花子", born));
    }
}
