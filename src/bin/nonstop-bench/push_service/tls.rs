//! The push service's certificate: self-signed, for 127.0.0.1 and localhost, made at start.
//! nonstop trusts it through the operator's `push.extra_root_certificates`.

use std::sync::Arc;

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::extension::{ExtendedKeyUsage, SubjectAlternativeName};
use openssl::x509::{X509NameBuilder, X509};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate (PEM, for the client to trust) and the TLS acceptor that presents it with ALPN
/// `h2` then `http/1.1`, as the real push services do.
pub fn acceptor() -> anyhow::Result<(String, tokio_rustls::TlsAcceptor)> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", "nonstop-bench push service")?;
    let name = name.build();
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    let serial = BigNum::from_u32(rand::random::<u32>() >> 1)?.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    // Valid from 1970 to 2100: the certificate does not depend on the hour it is made at.
    let (not_before, not_after) = (Asn1Time::from_unix(0)?, Asn1Time::from_unix(4_102_444_800)?);
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    let names =
        SubjectAlternativeName::new().dns("localhost").ip("127.0.0.1").build(&builder.x509v3_context(None, None))?;
    builder.append_extension(names)?;
    builder.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    builder.sign(&key, MessageDigest::sha256())?;
    let certificate = builder.build();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(certificate.to_der()?)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.private_key_to_pkcs8()?)),
        )?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((String::from_utf8(certificate.to_pem()?)?, tokio_rustls::TlsAcceptor::from(Arc::new(config))))
}
