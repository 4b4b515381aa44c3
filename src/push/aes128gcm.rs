//! Message encryption for Web Push (RFC 8291): the `aes128gcm` content coding (RFC 8188) in one
//! record, keyed by an ECDH agreement between a fresh P-256 key and the subscription's.
//!
//! The `web-push` crate encrypts through `ece`, whose OpenSSL 3 path converts every key into
//! an EVP key and checks the subscriber's key with a second scalar multiplication: about 250 µs
//! of CPU per message on the benchmark machine, the largest cost of a notice's delivery. This
//! module makes the same bytes with OpenSSL's EC primitives directly (one fixed-base
//! multiplication for the fresh key, one for the agreement; the subscriber's point is checked to
//! be on the curve, which for P-256, cofactor 1, is the whole check), with the curve's group made
//! once per thread. VAPID signing stays with `web-push`. The tests hold it to the RFC's worked
//! example and to `ece`'s decryption.

use std::cell::RefCell;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Nonce};
use hkdf::Hkdf;
use openssl::bn::{BigNum, BigNumContext, BigNumRef};
use openssl::ec::{EcGroup, EcPoint, EcPointRef, PointConversionForm};
use openssl::nid::Nid;
use sha2::Sha256;

/// The record size written in the header: push services take one record of at most 4,096 bytes.
const RECORD_SIZE: u32 = 4_096;
/// Salt (16) + record size (4) + key id length (1) + the sender's public key (65).
const HEADER_LEN: usize = 86;
const TAG_LEN: usize = 16;
/// Plaintext is padded to a multiple of this, so that a message's length says little about it.
const PADDING_BLOCK: usize = 128;

/// Why a message could not be encrypted.
#[derive(Debug, PartialEq, Eq)]
pub enum EncryptError {
    /// The subscription's `p256dh` is not an uncompressed P-256 point, or `auth` is not 16 bytes.
    BadSubscriptionKeys,
    /// The plaintext does not fit one record.
    TooLarge,
    /// The cryptographic library failed.
    Crypto(String),
}

impl std::fmt::Display for EncryptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadSubscriptionKeys => {
                f.write_str("the subscription's keys are not a P-256 key and a 16-byte secret")
            }
            Self::TooLarge => f.write_str("the message does not fit one record"),
            Self::Crypto(e) => write!(f, "encryption failed: {e}"),
        }
    }
}

impl From<openssl::error::ErrorStack> for EncryptError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        Self::Crypto(e.to_string())
    }
}

/// The P-256 group, its order and a scratch context, made once per thread: building the group
/// (OpenSSL computes its Montgomery constants each time) cost about a quarter of a message's
/// encryption when it was made per message.
struct Curve {
    group: EcGroup,
    order: BigNum,
    ctx: BigNumContext,
}

impl Curve {
    fn new() -> Result<Self, EncryptError> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
        let mut ctx = BigNumContext::new()?;
        let mut order = BigNum::new()?;
        group.order(&mut order, &mut ctx)?;
        Ok(Self { group, order, ctx })
    }

    /// A fresh private scalar in [1, order) and its public point: the sender's one-time key.
    /// The scalar lives in a secure big number, cleared when dropped.
    fn fresh_key(&mut self) -> Result<(BigNum, EcPoint), EncryptError> {
        let mut private = BigNum::new_secure()?;
        while private.num_bits() == 0 {
            self.order.rand_range(&mut private)?;
        }
        let mut public = EcPoint::new(&self.group)?;
        public.mul_generator2(&self.group, &private, &mut self.ctx)?;
        Ok((private, public))
    }
}

thread_local! {
    static CURVE: RefCell<Option<Curve>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's curve, made on first use.
fn with_curve<T>(f: impl FnOnce(&mut Curve) -> Result<T, EncryptError>) -> Result<T, EncryptError> {
    CURVE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let curve = match slot.as_mut() {
            Some(curve) => curve,
            None => slot.insert(Curve::new()?),
        };
        f(curve)
    })
}

/// Encrypts `plaintext` for the subscription whose public key is `ua_public` (65 bytes,
/// uncompressed) and whose authentication secret is `auth` (16 bytes): the request body, header
/// included. A fresh key and salt each time, as RFC 8291 requires.
pub fn encrypt(ua_public: &[u8], auth: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, EncryptError> {
    with_curve(|curve| {
        let (private, public) = curve.fresh_key()?;
        let mut salt = [0u8; 16];
        openssl::rand::rand_bytes(&mut salt)?;
        // Room for at least the delimiter; the total stays within one record.
        let room = (RECORD_SIZE as usize - HEADER_LEN - TAG_LEN).saturating_sub(plaintext.len());
        let padded = plaintext.len() + 1;
        let pad = (padded.div_ceil(PADDING_BLOCK) * PADDING_BLOCK - padded).min(room.saturating_sub(1));
        encrypt_with(curve, (&private, &public), salt, pad, ua_public, auth, plaintext)
    })
}

/// `encrypt` with the sender's key (private scalar, public point), the salt and the padding
/// given: the RFC's example fixes all three.
fn encrypt_with(
    curve: &mut Curve,
    (private, public): (&BigNumRef, &EcPointRef),
    salt: [u8; 16],
    pad: usize,
    ua_public: &[u8],
    auth: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, EncryptError> {
    if ua_public.len() != 65 || auth.len() != 16 {
        return Err(EncryptError::BadSubscriptionKeys);
    }
    if HEADER_LEN + plaintext.len() + 1 + pad + TAG_LEN > RECORD_SIZE as usize {
        return Err(EncryptError::TooLarge);
    }
    let Curve { group, ctx, .. } = curve;
    // Decoding an uncompressed point checks that it lies on the curve.
    let peer = EcPoint::from_bytes(group, ua_public, ctx).map_err(|_| EncryptError::BadSubscriptionKeys)?;
    let as_public = public.to_bytes(group, PointConversionForm::UNCOMPRESSED, ctx)?;
    let mut shared = EcPoint::new(group)?;
    shared.mul2(group, &peer, private, ctx)?;
    let (mut x, mut y) = (BigNum::new()?, BigNum::new()?);
    shared.affine_coordinates(group, &mut x, &mut y, ctx)?;
    let ecdh_secret = x.to_vec_padded(32)?;

    // RFC 8291 §3.4: the input keying material binds both public keys and the auth secret.
    let mut key_info = Vec::with_capacity(14 + 65 + 65);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(&as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), &ecdh_secret)
        .expand(&key_info, &mut ikm)
        .map_err(|e| EncryptError::Crypto(e.to_string()))?;
    // RFC 8188 §2.2–2.3: the content-encryption key and the nonce of the first (only) record.
    let prk = Hkdf::<Sha256>::new(Some(&salt), &ikm);
    let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek).map_err(|e| EncryptError::Crypto(e.to_string()))?;
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce).map_err(|e| EncryptError::Crypto(e.to_string()))?;

    // The last record ends with the delimiter 0x02, then zeros.
    let mut record = Vec::with_capacity(plaintext.len() + 1 + pad);
    record.extend_from_slice(plaintext);
    record.push(2);
    record.resize(plaintext.len() + 1 + pad, 0);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|e| EncryptError::Crypto(e.to_string()))?;
    let sealed = cipher
        .encrypt(&Nonce::from(nonce), Payload { msg: &record, aad: &[] })
        .map_err(|e| EncryptError::Crypto(e.to_string()))?;

    let mut body = Vec::with_capacity(HEADER_LEN + sealed.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(as_public.len() as u8);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&sealed);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
    }

    /// RFC 8291 Appendix A: the application server's key, the salt and the subscription are
    /// given, so the body is known to the byte.
    #[test]
    fn the_rfc_8291_example_encrypts_to_its_bytes() {
        let mut curve = Curve::new().expect("curve");
        let d =
            BigNum::from_slice(&hex("c9f58f89813e9f8e872e71f42aa64e1757c9254dcc62b72ddc010bb4043ea11c")).expect("d");
        let public = EcPoint::from_bytes(
            &curve.group,
            &hex("04fe33f4ab0dea71914db55823f73b54948f41306d920732dbb9a59a53286482200e597a7b7bc260ba1c227998580992e93973002f3012a28ae8f06bbb78e5ec0f"),
            &mut curve.ctx,
        )
        .expect("public");
        let salt: [u8; 16] = hex("0c6bfaadad67958803092d454676f397").try_into().expect("salt");
        let ua_public = hex("042571b2becdfde360551aaf1ed0f4cd366c11cebe555f89bcb7b186a53339173168ece2ebe018597bd30479b86e3c8f8eced577ca59187e9246990db682008b0e");
        let auth = hex("05305932a1c7eabe13b6cec9fda48882");
        let body = encrypt_with(
            &mut curve,
            (&d, &public),
            salt,
            0,
            &ua_public,
            &auth,
            b"When I grow up, I want to be a watermelon",
        )
        .expect("encrypt");
        assert_eq!(
            body,
            hex("0c6bfaadad67958803092d454676f397000010004104fe33f4ab0dea71914db55823f73b54948f41306d920732dbb9a59a53286482200e597a7b7bc260ba1c227998580992e93973002f3012a28ae8f06bbb78e5ec0ff297de5b429bba7153d3a4ae0caa091fd425f3b4b5414add8ab37a19c1bbb05cf5cb5b2a2e0562d558635641ec52812c6c8ff42e95ccb86be7cd")
        );
    }

    #[test]
    fn a_subscriber_decrypts_it_with_ece_and_the_length_is_padded() {
        let (subscriber, auth) = ece::generate_keypair_and_auth_secret().expect("subscriber");
        let components = subscriber.raw_components().expect("components");
        let message = "出生届：期限まであと3日".as_bytes();
        let body = encrypt(components.public_key(), &auth, message).expect("encrypt");
        assert_eq!(ece::decrypt(&components, &auth, &body).expect("decrypt"), message);
        assert_eq!((body.len() - HEADER_LEN - TAG_LEN) % PADDING_BLOCK, 0, "padded to 128 bytes");
        let again = encrypt(components.public_key(), &auth, message).expect("encrypt");
        assert_ne!(body[..16], again[..16], "a fresh salt each time");
        assert_ne!(body[21..86], again[21..86], "a fresh key each time");
    }

    #[test]
    fn the_largest_payload_fits_one_record_and_one_byte_more_does_not() {
        let (subscriber, auth) = ece::generate_keypair_and_auth_secret().expect("subscriber");
        let components = subscriber.raw_components().expect("components");
        let largest = vec![b'a'; crate::templates::MAX_PUSH_PAYLOAD_BYTES];
        let body = encrypt(components.public_key(), &auth, &largest).expect("encrypt");
        assert_eq!(body.len(), RECORD_SIZE as usize);
        assert_eq!(ece::decrypt(&components, &auth, &body).expect("decrypt"), largest);
        let too_large = vec![b'a'; crate::templates::MAX_PUSH_PAYLOAD_BYTES + 1];
        assert_eq!(encrypt(components.public_key(), &auth, &too_large), Err(EncryptError::TooLarge));
    }

    #[test]
    fn keys_that_are_not_a_p256_point_are_refused() {
        let auth = [1u8; 16];
        let mut off_curve = vec![4u8];
        off_curve.extend_from_slice(&[1u8; 64]);
        assert_eq!(encrypt(&off_curve, &auth, b"x"), Err(EncryptError::BadSubscriptionKeys));
        assert_eq!(encrypt(&[4u8; 10], &auth, b"x"), Err(EncryptError::BadSubscriptionKeys));
        let (subscriber, _) = ece::generate_keypair_and_auth_secret().expect("subscriber");
        let public = subscriber.raw_components().expect("components").public_key().to_vec();
        assert_eq!(encrypt(&public, &[1u8; 8], b"x"), Err(EncryptError::BadSubscriptionKeys));
    }
}
