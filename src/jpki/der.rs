//! Just enough DER to read the parts of an X.509 certificate OpenSSL's Rust binding does not
//! expose: every extension with its critical flag, keyUsage bits, certificatePolicies OIDs and
//! the subjectAltName `otherName` entries where JPKI carries the 基本4情報.
//!
//! Strict DER only: definite lengths in their shortest form, nothing left over.

use std::fmt;

pub const SEQUENCE: u8 = 0x30;
pub const OID: u8 = 0x06;
pub const BOOLEAN: u8 = 0x01;
pub const OCTET_STRING: u8 = 0x04;
pub const BIT_STRING: u8 = 0x03;
pub const INTEGER: u8 = 0x02;
/// `[0]` constructed: the version of a TBSCertificate, an `otherName`, its explicit value.
pub const CONTEXT_0: u8 = 0xA0;
/// `[3]` constructed: the extensions of a TBSCertificate.
pub const CONTEXT_3: u8 = 0xA3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerError(pub &'static str);

impl fmt::Display for DerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// One tag-length-value.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// A reader over the contents of a constructed value.
    pub fn contents(&self) -> Reader<'a> {
        Reader { rest: self.value }
    }
}

/// Reads consecutive TLVs.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    pub fn read(&mut self) -> Result<Tlv<'a>, DerError> {
        let (&tag, rest) = self.rest.split_first().ok_or(DerError("truncated: tag expected"))?;
        if tag & 0x1F == 0x1F {
            return Err(DerError("multi-byte tags are not used in certificates"));
        }
        let (&first, mut rest) = rest.split_first().ok_or(DerError("truncated: length expected"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7F);
            if count == 0 {
                return Err(DerError("indefinite length is not DER"));
            }
            if count > 4 || rest.len() < count {
                return Err(DerError("length out of range"));
            }
            let (bytes, after) = rest.split_at(count);
            rest = after;
            if bytes[0] == 0 {
                return Err(DerError("length not in its shortest form"));
            }
            let len = bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return Err(DerError("length not in its shortest form"));
            }
            len
        };
        if rest.len() < len {
            return Err(DerError("truncated: value shorter than its length"));
        }
        let (value, after) = rest.split_at(len);
        self.rest = after;
        Ok(Tlv { tag, value })
    }

    /// The next TLV, which must carry `tag`.
    pub fn expect(&mut self, tag: u8, what: &'static str) -> Result<Tlv<'a>, DerError> {
        let tlv = self.read()?;
        if tlv.tag == tag {
            Ok(tlv)
        } else {
            Err(DerError(what))
        }
    }

    /// The next TLV if it carries `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) {
            self.read().map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn finish(&self, what: &'static str) -> Result<(), DerError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DerError(what))
        }
    }
}

/// Dotted decimal form of an OBJECT IDENTIFIER's contents.
pub fn oid_to_string(bytes: &[u8]) -> Result<String, DerError> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    let mut in_arc = false;
    for &b in bytes {
        if !in_arc && b == 0x80 {
            return Err(DerError("OID arc not in its shortest form"));
        }
        value = value.checked_mul(128).ok_or(DerError("OID arc too large"))? | u64::from(b & 0x7F);
        in_arc = b & 0x80 != 0;
        if !in_arc {
            arcs.push(value);
            value = 0;
        }
    }
    if in_arc || arcs.is_empty() {
        return Err(DerError("OID truncated"));
    }
    let first = arcs[0];
    let (a, b) = if first < 40 {
        (0, first)
    } else if first < 80 {
        (1, first - 40)
    } else {
        (2, first - 80)
    };
    let mut out = format!("{a}.{b}");
    for arc in &arcs[1..] {
        out.push('.');
        out.push_str(&arc.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7u8, 0x80));
        let mut reader = Reader::new(&long);
        let tlv = reader.read().unwrap();
        assert_eq!((tlv.tag, tlv.value.len()), (0x04, 0x80));
        assert!(reader.is_empty());
        let tlv = Reader::new(&[0x02, 0x01, 0x05]).read().unwrap();
        assert_eq!(tlv.value, &[5]);
    }

    #[test]
    fn refuses_what_is_not_der() {
        assert_eq!(Reader::new(&[0x30, 0x80, 0, 0]).read().unwrap_err().0, "indefinite length is not DER");
        assert_eq!(
            Reader::new(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).read().unwrap_err().0,
            "length not in its shortest form"
        );
        assert_eq!(Reader::new(&[0x04, 0x03, 1]).read().unwrap_err().0, "truncated: value shorter than its length");
        assert!(Reader::new(&[0x04]).read().is_err());
    }

    #[test]
    fn decodes_object_identifiers() {
        // 2.5.29.32 certificatePolicies; 1.2.392.200149.8.5.1.1.20 the JPKI signing policy.
        assert_eq!(oid_to_string(&[0x55, 0x1D, 0x20]).unwrap(), "2.5.29.32");
        assert_eq!(
            oid_to_string(&[0x2A, 0x83, 0x08, 0x8C, 0x9B, 0x55, 0x08, 0x05, 0x01, 0x01, 0x14]).unwrap(),
            "1.2.392.200149.8.5.1.1.20"
        );
        assert!(oid_to_string(&[0x2A, 0x83]).is_err());
    }
}
