//! The JPKI verifier against a test CA generated here: a good signature passes, and each way a
//! signature can be wrong is refused with its own code.

use openssl::hash::MessageDigest;

use crate::jpki_ca::{Holder, Profile, TestCa, TEST_CARD_POLICY};
use nonstop::jpki::{TrustAnchor, Verifier, JPKI_SIGNING_POLICY};

const DOCUMENT: &[u8] =
    r#"{"fields":{"child.name":"山田 さくら"},"form":{"id":"child_allowance_claim","version":1}}"#.as_bytes();

fn verifier(ca: &TestCa) -> Verifier {
    let anchors = TrustAnchor::from_pem(&ca.root_pem()).expect("anchor");
    Verifier::new(anchors, vec![JPKI_SIGNING_POLICY.to_owned()])
}

/// The instant the certificates are issued and checked at.
fn now() -> chrono::DateTime<chrono::Utc> {
    crate::helpers::pinned_instant()
}

fn holder() -> Holder {
    Holder::new("山田 花子", "1990-04-01")
}

fn code(result: Result<nonstop::jpki::VerifiedSignature, nonstop::jpki::Refusal>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(refusal) => refusal.code(),
    }
}

#[test]
fn a_good_signature_is_verified_and_recorded_honestly() {
    let ca = TestCa::new("JPKI", now());
    let card = ca.issue(&holder());
    let signature = card.sign_raw(DOCUMENT, MessageDigest::sha256());
    let verified = verifier(&ca).verify(DOCUMENT, &signature, &card.der(), &[], now()).expect("verified");
    let v = &verified.verification;
    assert_eq!(v.statement, "signature and chain verified, revocation not checked");
    assert_eq!((v.signature_verified, v.chain_verified, v.revocation.as_str()), (true, true, "not_checked"));
    assert_eq!(v.policy, JPKI_SIGNING_POLICY);
    assert_eq!(v.trust_anchor_sha256, verifier(&ca).anchors()[0].sha256);
    assert_eq!(verified.holder.name.as_deref(), Some("山田\u{3000}花子"));
    assert_eq!(verified.holder.birth_date(), chrono::NaiveDate::from_ymd_opt(1990, 4, 1));
}

#[test]
fn each_wrong_signature_is_refused_with_its_own_code() {
    let ca = TestCa::new("JPKI", now());
    let card = ca.issue(&holder());
    let verifier = verifier(&ca);
    let now = crate::helpers::pinned_instant();
    let good = card.sign_raw(DOCUMENT, MessageDigest::sha256());

    // A signature made with another key (another card of the same CA).
    let other = ca.issue(&holder());
    let wrong_key = other.sign_raw(DOCUMENT, MessageDigest::sha256());
    assert_eq!(code(verifier.verify(DOCUMENT, &wrong_key, &card.der(), &[], now)), "bad_signature");

    // The document changed after signing.
    let tampered = String::from_utf8(DOCUMENT.to_vec()).unwrap().replace("さくら", "さくろ");
    assert_eq!(code(verifier.verify(tampered.as_bytes(), &good, &card.der(), &[], now)), "document_changed");

    // SHA-1, in the signature or in the certificate.
    let sha1 = card.sign_raw(DOCUMENT, MessageDigest::sha1());
    assert_eq!(code(verifier.verify(DOCUMENT, &sha1, &card.der(), &[], now)), "weak_algorithm");
    let sha1_cert = ca.issue_with(&holder(), Profile { digest: MessageDigest::sha1(), ..Profile::default() });
    let signed = sha1_cert.sign_raw(DOCUMENT, MessageDigest::sha256());
    assert_eq!(code(verifier.verify(DOCUMENT, &signed, &sha1_cert.der(), &[], now)), "weak_algorithm");

    // A key under 2048 bits.
    let small = ca.issue_with(&holder(), Profile { bits: 1024, ..Profile::default() });
    let signed = small.sign_raw(DOCUMENT, MessageDigest::sha256());
    assert_eq!(code(verifier.verify(DOCUMENT, &signed, &small.der(), &[], now)), "weak_algorithm");

    // Expired, and not yet valid, at the moment nonstop receives it.
    let expired = ca.issue_with(&holder(), Profile { not_before: -2000, not_after: -1, ..Profile::default() });
    let signed = expired.sign_raw(DOCUMENT, MessageDigest::sha256());
    assert_eq!(code(verifier.verify(DOCUMENT, &signed, &expired.der(), &[], now)), "certificate_expired");
    let early = ca.issue_with(&holder(), Profile { not_before: 2, ..Profile::default() });
    let signed = early.sign_raw(DOCUMENT, MessageDigest::sha256());
    assert_eq!(code(verifier.verify(DOCUMENT, &signed, &early.der(), &[], now)), "certificate_not_yet_valid");

    // Issued by a CA nonstop does not trust, with and without that CA's root sent along.
    let stranger = TestCa::new("JPKI", now);
    let forged = stranger.issue(&holder());
    let signed = forged.sign_raw(DOCUMENT, MessageDigest::sha256());
    assert_eq!(code(verifier.verify(DOCUMENT, &signed, &forged.der(), &[], now)), "untrusted_issuer");
    let chain = vec![stranger.root.to_der().unwrap()];
    assert_eq!(code(verifier.verify(DOCUMENT, &signed, &forged.der(), &chain, now)), "client_supplied_root");

    // Profile: no nonRepudiation (an authentication key), the test-card policy, an unknown
    // critical extension.
    let auth = ca.issue_with(&holder(), Profile { non_repudiation: false, ..Profile::default() });
    let signed = auth.sign_raw(DOCUMENT, MessageDigest::sha256());
    assert_eq!(code(verifier.verify(DOCUMENT, &signed, &auth.der(), &[], now)), "key_usage");
    let test_card = ca.issue_with(&holder(), Profile { policy: TEST_CARD_POLICY, ..Profile::default() });
    let signed = test_card.sign_raw(DOCUMENT, MessageDigest::sha256());
    assert_eq!(code(verifier.verify(DOCUMENT, &signed, &test_card.der(), &[], now)), "certificate_policy");
    let strange = ca.issue_with(&holder(), Profile { unknown_critical: true, ..Profile::default() });
    let signed = strange.sign_raw(DOCUMENT, MessageDigest::sha256());
    assert_eq!(code(verifier.verify(DOCUMENT, &signed, &strange.der(), &[], now)), "unknown_critical_extension");

    // Garbage.
    assert_eq!(code(verifier.verify(DOCUMENT, &good, b"not a certificate", &[], now)), "malformed_certificate");
    assert_eq!(code(verifier.verify(DOCUMENT, &good[..100], &card.der(), &[], now)), "malformed_signature");

    // And the good one still passes with the same verifier.
    assert_eq!(code(verifier.verify(DOCUMENT, &good, &card.der(), &[], now)), "ok");
}

#[test]
fn the_test_card_policy_is_accepted_only_when_configured() {
    let ca = TestCa::new("JPKI-TEST", now());
    let card = ca.issue_with(&holder(), Profile { policy: TEST_CARD_POLICY, ..Profile::default() });
    let signed = card.sign_raw(DOCUMENT, MessageDigest::sha256());
    let anchors = TrustAnchor::from_pem(&ca.root_pem()).unwrap();
    let configured = Verifier::new(anchors, vec![JPKI_SIGNING_POLICY.to_owned(), TEST_CARD_POLICY.to_owned()]);
    assert_eq!(code(configured.verify(DOCUMENT, &signed, &card.der(), &[], now())), "ok");
}
