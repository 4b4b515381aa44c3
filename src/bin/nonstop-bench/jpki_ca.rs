//! A JPKI-shaped test certificate authority, generated at run time (no key is committed):
//! an RSA-2048 self-signed root, and signing certificates ("cards") issued directly by it
//! with critical keyUsage (digitalSignature, nonRepudiation), critical certificatePolicies
//! (1.2.392.200149.8.5.1.1.20 and the CPS URI) and the 基本4情報 as subjectAltName otherNames.
//!
//! Shared by the `sign` benchmark and the integration tests (`tests/api/main.rs` includes this
//! file), so not every item is used by both.
#![allow(dead_code)]

use base64::Engine;
use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509Extension, X509NameBuilder, X509};

pub const PRODUCTION_POLICY: &str = "1.2.392.200149.8.5.1.1.20";
pub const TEST_CARD_POLICY: &str = "1.2.392.200149.8.5.1.0.20";

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').map(|a| a.parse().expect("arc")).collect();
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &arc in &arcs[2..] {
        let mut bytes = vec![(arc & 0x7F) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            bytes.push(0x80 | (rest & 0x7F) as u8);
            rest >>= 7;
        }
        bytes.reverse();
        body.extend(bytes);
    }
    tlv(0x06, &body)
}

fn extension(dotted: &str, critical: bool, value: &[u8]) -> X509Extension {
    let object = Asn1Object::from_str(dotted).expect("oid");
    let contents = Asn1OctetString::new_from_bytes(value).expect("octets");
    X509Extension::new_from_der(&object, critical, &contents).expect("extension")
}

fn policies(policy: &str) -> Vec<u8> {
    let cps = tlv(0x30, &[oid("1.3.6.1.5.5.7.2.1"), tlv(0x16, b"http://www.jpki.go.jp/cps.html")].concat());
    let info = tlv(0x30, &[oid(policy), tlv(0x30, &cps)].concat());
    tlv(0x30, &info)
}

/// The 基本4情報 of a card holder.
#[derive(Clone)]
pub struct Holder {
    /// 氏名 as the card writes it (a full-width space between family and given name).
    pub name: String,
    /// One flag per character of the name; anything but 0 marks a substituted character.
    pub name_flags: String,
    /// `EYYYYMMDD`.
    pub birth: String,
    pub address: String,
}

impl Holder {
    pub fn new(name: &str, birth_date: &str) -> Self {
        let flags = "0".repeat(name.chars().count());
        let era = if birth_date < "1989-01-08" { "3" } else { "4" };
        Self {
            name: name.replace(' ', "\u{3000}"),
            name_flags: flags,
            birth: format!("{era}{}", birth_date.replace('-', "")),
            address: "東京都千代田区千代田１－１".into(),
        }
    }

    fn subject_alt_name(&self) -> Vec<u8> {
        let entry = |n: u8, text: &str| {
            let value = tlv(0xA0, &tlv(0x0C, text.as_bytes()));
            tlv(0xA0, &[oid(&format!("1.2.392.200149.8.5.5.{n}")), value].concat())
        };
        let sex = "2";
        let flags_address = "0".repeat(self.address.chars().count());
        let names = [
            entry(1, &self.name),
            entry(2, &self.name_flags),
            entry(3, sex),
            entry(4, &self.birth),
            entry(5, &self.address),
            entry(6, &flags_address),
        ];
        tlv(0x30, &names.concat())
    }
}

/// How a card's certificate departs from the JPKI profile, for the negative tests.
#[derive(Clone)]
pub struct Profile {
    pub digest: MessageDigest,
    pub policy: &'static str,
    pub non_repudiation: bool,
    /// Days from the CA's instant.
    pub not_before: i64,
    pub not_after: i64,
    pub unknown_critical: bool,
    pub bits: u32,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            digest: MessageDigest::sha256(),
            policy: PRODUCTION_POLICY,
            non_repudiation: true,
            not_before: -30,
            not_after: 365 * 4,
            unknown_critical: false,
            bits: 2048,
        }
    }
}

pub struct TestCa {
    key: PKey<Private>,
    pub root: X509,
    /// The instant validity periods are counted from: the clock of the test or benchmark.
    at: chrono::DateTime<chrono::Utc>,
}

fn time(at: chrono::DateTime<chrono::Utc>, days: i64) -> Asn1Time {
    Asn1Time::from_unix(at.timestamp() + days * 86_400).expect("time")
}

fn serial() -> Asn1Integer {
    let mut bn = BigNum::new().expect("bn");
    bn.rand(63, openssl::bn::MsbOption::MAYBE_ZERO, false).expect("rand");
    bn.to_asn1_integer().expect("serial")
}

impl TestCa {
    /// A root valid from a year before `at` to ten years after.
    pub fn new(organization: &str, at: chrono::DateTime<chrono::Utc>) -> Self {
        let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_text("C", "JP").expect("C");
        name.append_entry_by_text("O", organization).expect("O");
        name.append_entry_by_text("OU", "JPKI for digital signature").expect("OU");
        name.append_entry_by_text("OU", "Japan Agency for Local Authority Information Systems").expect("OU");
        let name = name.build();
        let mut builder = X509::builder().expect("builder");
        builder.set_version(2).expect("v3");
        builder.set_serial_number(&serial()).expect("serial");
        builder.set_subject_name(&name).expect("subject");
        builder.set_issuer_name(&name).expect("issuer");
        builder.set_pubkey(&key).expect("key");
        builder.set_not_before(&time(at, -365)).expect("nb");
        builder.set_not_after(&time(at, 365 * 10)).expect("na");
        builder.append_extension(BasicConstraints::new().critical().ca().build().expect("bc")).expect("bc");
        builder
            .append_extension(KeyUsage::new().critical().key_cert_sign().crl_sign().build().expect("ku"))
            .expect("ku");
        builder.sign(&key, MessageDigest::sha256()).expect("sign root");
        Self { key, root: builder.build(), at }
    }

    /// The root as PEM, for `signatures.trust_anchor_files` or `TrustAnchor::from_pem`.
    pub fn root_pem(&self) -> Vec<u8> {
        self.root.to_pem().expect("pem")
    }

    pub fn issue(&self, holder: &Holder) -> Card {
        self.issue_with(holder, Profile::default())
    }

    pub fn issue_with(&self, holder: &Holder, profile: Profile) -> Card {
        let key = PKey::from_rsa(Rsa::generate(profile.bits).expect("rsa")).expect("pkey");
        let mut subject = X509NameBuilder::new().expect("name");
        subject.append_entry_by_text("C", "JP").expect("C");
        subject.append_entry_by_text("L", "Tokyo-to").expect("L");
        subject.append_entry_by_text("L", "Chiyoda-ku").expect("L");
        subject.append_entry_by_text("CN", "20261122000000000000001A").expect("CN");
        let mut builder = X509::builder().expect("builder");
        builder.set_version(2).expect("v3");
        builder.set_serial_number(&serial()).expect("serial");
        builder.set_subject_name(&subject.build()).expect("subject");
        builder.set_issuer_name(self.root.subject_name()).expect("issuer");
        builder.set_pubkey(&key).expect("key");
        builder.set_not_before(&time(self.at, profile.not_before)).expect("nb");
        builder.set_not_after(&time(self.at, profile.not_after)).expect("na");
        let mut usage = KeyUsage::new();
        usage.critical().digital_signature();
        if profile.non_repudiation {
            usage.non_repudiation();
        }
        builder.append_extension(usage.build().expect("ku")).expect("ku");
        builder.append_extension(extension("2.5.29.32", true, &policies(profile.policy))).expect("policies");
        builder.append_extension(extension("2.5.29.17", false, &holder.subject_alt_name())).expect("san");
        if profile.unknown_critical {
            builder.append_extension(extension("1.2.3.4.5.6.7", true, &tlv(0x05, &[]))).expect("unknown");
        }
        builder.sign(&self.key, profile.digest).expect("sign leaf");
        Card { key, certificate: builder.build() }
    }
}

/// A card: its private key and its signing certificate.
pub struct Card {
    key: PKey<Private>,
    pub certificate: X509,
}

impl Card {
    pub fn certificate_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.der())
    }

    pub fn der(&self) -> Vec<u8> {
        self.certificate.to_der().expect("der")
    }

    /// RSASSA-PKCS1-v1_5 over `bytes` with `digest`, as the card computes it.
    pub fn sign_raw(&self, bytes: &[u8], digest: MessageDigest) -> Vec<u8> {
        let mut signer = Signer::new(digest, &self.key).expect("signer");
        signer.set_rsa_padding(openssl::rsa::Padding::PKCS1).expect("padding");
        signer.sign_oneshot_to_vec(bytes).expect("sign")
    }

    /// The private key as PKCS#8 PEM, for signing outside this process (`openssl dgst -sign`).
    pub fn key_pem(&self) -> Vec<u8> {
        self.key.private_key_to_pem_pkcs8().expect("pem")
    }

    pub fn sign(&self, bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.sign_raw(bytes, MessageDigest::sha256()))
    }
}
