//! The parts of a signing certificate (署名用電子証明書) the verifier checks, read from its DER.

use super::der::{self, DerError, Reader, Tlv};

pub const KEY_USAGE: &str = "2.5.29.15";
pub const SUBJECT_ALT_NAME: &str = "2.5.29.17";
pub const BASIC_CONSTRAINTS: &str = "2.5.29.19";
pub const CERTIFICATE_POLICIES: &str = "2.5.29.32";

/// Extensions a JPKI signing certificate may mark critical: the ones this verifier reads.
/// Any other critical extension is refused (RFC 5280 §4.2).
pub const UNDERSTOOD_CRITICAL: [&str; 4] = [KEY_USAGE, SUBJECT_ALT_NAME, BASIC_CONSTRAINTS, CERTIFICATE_POLICIES];

/// The 基本4情報 arc in subjectAltName `otherName` (jpki.md §1.2).
const NAME: &str = "1.2.392.200149.8.5.5.1";
const NAME_SUBSTITUTES: &str = "1.2.392.200149.8.5.5.2";
const SEX: &str = "1.2.392.200149.8.5.5.3";
const BIRTH_DATE: &str = "1.2.392.200149.8.5.5.4";
const ADDRESS: &str = "1.2.392.200149.8.5.5.5";
const ADDRESS_SUBSTITUTES: &str = "1.2.392.200149.8.5.5.6";

/// One extension as the certificate carries it.
#[derive(Debug, Clone)]
pub struct Extension {
    pub oid: String,
    pub critical: bool,
    pub value: Vec<u8>,
}

/// 基本4情報 as the certificate carries them, with the 代替文字 position flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BasicFourInfo {
    /// 氏名 (full-width space between family and given name, as 住民票 writes it).
    pub name: Option<String>,
    /// One digit per character of the name; anything but `0` marks a substituted character.
    pub name_substitutes: Option<String>,
    /// JIS X 0303: 1 男, 2 女, 9 適用不能.
    pub sex: Option<String>,
    /// `EYYYYMMDD`: the era digit, then the Gregorian date.
    pub birth_date: Option<String>,
    pub address: Option<String>,
    pub address_substitutes: Option<String>,
}

impl BasicFourInfo {
    /// The birth date, read past the era digit.
    pub fn birth_date(&self) -> Option<chrono::NaiveDate> {
        let text = self.birth_date.as_deref()?;
        let digits = text.get(text.len().checked_sub(8)?..)?;
        chrono::NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
    }

    /// Whether the card had to substitute characters of the name: then the name cannot be
    /// compared with the one the family registered.
    pub fn name_has_substitutes(&self) -> bool {
        self.name_substitutes.as_deref().is_some_and(|flags| flags.chars().any(|c| c != '0'))
    }
}

/// What the verifier reads from the certificate's extensions.
#[derive(Debug, Clone)]
pub struct Profile {
    pub extensions: Vec<Extension>,
    pub key_usage: Option<KeyUsage>,
    pub policies: Vec<String>,
    pub holder: BasicFourInfo,
}

#[derive(Debug, Clone, Copy)]
pub struct KeyUsage {
    pub critical: bool,
    pub digital_signature: bool,
    pub non_repudiation: bool,
}

impl Profile {
    /// Reads the extensions of a DER certificate.
    pub fn from_der(certificate: &[u8]) -> Result<Self, DerError> {
        let extensions = extensions(certificate)?;
        let mut profile =
            Profile { extensions: Vec::new(), key_usage: None, policies: Vec::new(), holder: BasicFourInfo::default() };
        for ext in &extensions {
            match ext.oid.as_str() {
                KEY_USAGE => profile.key_usage = Some(key_usage(&ext.value, ext.critical)?),
                CERTIFICATE_POLICIES => profile.policies = policies(&ext.value)?,
                SUBJECT_ALT_NAME => profile.holder = basic_four_info(&ext.value)?,
                _ => {}
            }
        }
        profile.extensions = extensions;
        Ok(profile)
    }

    /// The first critical extension this verifier does not understand.
    pub fn unknown_critical(&self) -> Option<&str> {
        self.extensions
            .iter()
            .find(|e| e.critical && !UNDERSTOOD_CRITICAL.contains(&e.oid.as_str()))
            .map(|e| e.oid.as_str())
    }
}

/// Certificate → TBSCertificate → `[3]` extensions.
fn extensions(certificate: &[u8]) -> Result<Vec<Extension>, DerError> {
    let mut outer = Reader::new(certificate);
    let cert = outer.expect(der::SEQUENCE, "certificate is not a SEQUENCE")?;
    outer.finish("bytes after the certificate")?;
    let mut tbs = cert.contents().expect(der::SEQUENCE, "TBSCertificate is not a SEQUENCE")?.contents();
    tbs.optional(der::CONTEXT_0)?; // version
    tbs.expect(der::INTEGER, "serialNumber expected")?;
    for what in [
        "signature algorithm expected",
        "issuer expected",
        "validity expected",
        "subject expected",
        "subjectPublicKeyInfo expected",
    ] {
        tbs.expect(der::SEQUENCE, what)?;
    }
    let mut out = Vec::new();
    while !tbs.is_empty() {
        let field = tbs.read()?;
        match field.tag {
            0x81 | 0x82 => {} // issuerUniqueID, subjectUniqueID
            der::CONTEXT_3 => {
                let mut list = field.contents().expect(der::SEQUENCE, "extensions are not a SEQUENCE")?.contents();
                while !list.is_empty() {
                    out.push(extension(list.expect(der::SEQUENCE, "extension is not a SEQUENCE")?)?);
                }
            }
            _ => return Err(DerError("unexpected field in TBSCertificate")),
        }
    }
    Ok(out)
}

fn extension(tlv: Tlv<'_>) -> Result<Extension, DerError> {
    let mut r = tlv.contents();
    let oid = der::oid_to_string(r.expect(der::OID, "extension OID expected")?.value)?;
    let critical = match r.optional(der::BOOLEAN)? {
        Some(b) if b.value == [0xFF] => true,
        // DER never encodes the DEFAULT FALSE, but tolerate it.
        Some(b) if b.value == [0x00] => false,
        Some(_) => return Err(DerError("critical flag is not a DER BOOLEAN")),
        None => false,
    };
    let value = r.expect(der::OCTET_STRING, "extnValue expected")?.value.to_vec();
    r.finish("bytes after extnValue")?;
    Ok(Extension { oid, critical, value })
}

fn key_usage(value: &[u8], critical: bool) -> Result<KeyUsage, DerError> {
    let bits = Reader::new(value).expect(der::BIT_STRING, "keyUsage is not a BIT STRING")?.value;
    let first = bits.get(1).copied().unwrap_or(0);
    Ok(KeyUsage { critical, digital_signature: first & 0x80 != 0, non_repudiation: first & 0x40 != 0 })
}

fn policies(value: &[u8]) -> Result<Vec<String>, DerError> {
    let mut list = Reader::new(value).expect(der::SEQUENCE, "certificatePolicies is not a SEQUENCE")?.contents();
    let mut out = Vec::new();
    while !list.is_empty() {
        let mut info = list.expect(der::SEQUENCE, "PolicyInformation is not a SEQUENCE")?.contents();
        out.push(der::oid_to_string(info.expect(der::OID, "policy OID expected")?.value)?);
    }
    Ok(out)
}

/// The `otherName` entries under 1.2.392.200149.8.5.5 (each `[0] EXPLICIT UTF8String`).
fn basic_four_info(value: &[u8]) -> Result<BasicFourInfo, DerError> {
    let mut names = Reader::new(value).expect(der::SEQUENCE, "subjectAltName is not a SEQUENCE")?.contents();
    let mut info = BasicFourInfo::default();
    while !names.is_empty() {
        let name = names.read()?;
        if name.tag != der::CONTEXT_0 {
            continue; // rfc822Name, dNSName, … carry nothing we read
        }
        let mut other = name.contents();
        let oid = der::oid_to_string(other.expect(der::OID, "otherName OID expected")?.value)?;
        let explicit = other.expect(der::CONTEXT_0, "otherName value expected")?;
        let text = explicit.contents().read()?;
        if !matches!(text.tag, 0x0C | 0x13 | 0x16) {
            return Err(DerError("otherName value is not a string"));
        }
        let text = String::from_utf8(text.value.to_vec()).map_err(|_| DerError("otherName value is not UTF-8"))?;
        let slot = match oid.as_str() {
            NAME => &mut info.name,
            NAME_SUBSTITUTES => &mut info.name_substitutes,
            SEX => &mut info.sex,
            BIRTH_DATE => &mut info.birth_date,
            ADDRESS => &mut info.address,
            ADDRESS_SUBSTITUTES => &mut info.address_substitutes,
            _ => continue,
        };
        *slot = Some(text);
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_birth_date_past_the_era_digit() {
        let info = BasicFourInfo { birth_date: Some("319800217".into()), ..Default::default() };
        assert_eq!(info.birth_date(), chrono::NaiveDate::from_ymd_opt(1980, 2, 17));
        let info = BasicFourInfo { name_substitutes: Some("00100".into()), ..Default::default() };
        assert!(info.name_has_substitutes());
        assert!(!BasicFourInfo { name_substitutes: Some("00000".into()), ..Default::default() }.name_has_substitutes());
    }
}
