//! The checksum a download is verified with.
//!
//! Tasks carry CRC-64/ECMA-182 in the form object stores report it (OSS's
//! `x-oss-hash-crc64ecma`, the CRC-64/XZ parameters): an unsigned decimal.
//! It catches transfer and storage corruption and costs almost no CPU with
//! the carry-less multiply every x86-64 and ARMv8 server has, where SHA-256
//! would take a whole core of the database host at disk speed. The one-shot
//! CLI also accepts a SHA-256 for operators who hold one.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::crc64::Crc64;

/// A checksum value of one algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// CRC-64/ECMA-182 (CRC-64/XZ).
    Crc64(u64),
    /// SHA-256.
    Sha256([u8; 32]),
}

impl Checksum {
    /// A CRC64 given as an unsigned decimal (as object stores report it).
    pub fn parse_crc64(decimal: &str) -> Option<Self> {
        let digits = decimal.trim();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(Checksum::Crc64)
    }

    /// A SHA-256 given as 64 hex digits (either case).
    pub fn parse_sha256(hex_digits: &str) -> Option<Self> {
        let mut digest = [0u8; 32];
        hex::decode_to_slice(hex_digits.trim(), &mut digest).ok()?;
        Some(Checksum::Sha256(digest))
    }

    /// The algorithm's name, as shown beside the value.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Checksum::Crc64(_) => "crc64ecma",
            Checksum::Sha256(_) => "sha256",
        }
    }

    /// The value alone: decimal for CRC64, lower-case hex for SHA-256.
    pub fn value(&self) -> String {
        match self {
            Checksum::Crc64(crc) => crc.to_string(),
            Checksum::Sha256(digest) => hex::encode(digest),
        }
    }
}

/// `crc64ecma:VALUE` or `sha256:HEX`.
impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm(), self.value())
    }
}

/// A running checksum of the algorithm of an expected value.
pub enum Hasher {
    /// CRC-64/ECMA-182.
    Crc64(Box<Crc64>),
    /// SHA-256.
    Sha256(Box<Sha256>),
}

impl Hasher {
    /// A hasher of the same algorithm as `expected`; CRC64 when none is
    /// expected.
    pub fn for_expected(expected: Option<&Checksum>) -> Self {
        match expected {
            Some(Checksum::Sha256(_)) => Hasher::Sha256(Box::default()),
            Some(Checksum::Crc64(_)) | None => Hasher::Crc64(Box::default()),
        }
    }

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Crc64(crc) => crc.write(bytes),
            Hasher::Sha256(sha) => sha.update(bytes),
        }
    }

    /// Forgets everything added.
    pub fn reset(&mut self) {
        match self {
            Hasher::Crc64(crc) => **crc = Crc64::new(),
            Hasher::Sha256(sha) => sha.reset(),
        }
    }

    /// The checksum of everything added.
    pub fn finish(self) -> Checksum {
        match self {
            Hasher::Crc64(crc) => Checksum::Crc64(crc.sum64()),
            Hasher::Sha256(sha) => Checksum::Sha256(sha.finalize().into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(expected: Option<&Checksum>, bytes: &[u8]) -> Checksum {
        let mut hasher = Hasher::for_expected(expected);
        hasher.update(b"discarded");
        hasher.reset();
        hasher.update(&bytes[..4]);
        hasher.update(&bytes[4..]);
        hasher.finish()
    }

    #[test]
    fn crc64_is_the_ecma_182_xz_variant_object_stores_report() {
        // The catalogued check value of CRC-64/XZ.
        assert_eq!(
            of(None, b"123456789"),
            Checksum::Crc64(0x995D_C9BB_DF19_39FA)
        );
        assert_eq!(
            Checksum::Crc64(0x995D_C9BB_DF19_39FA).to_string(),
            "crc64ecma:11051210869376104954"
        );
    }

    #[test]
    fn sha256_is_used_when_expected() {
        let expected = Checksum::parse_sha256(
            "15E2B0D3C33891EBB0F1EF609EC419420C20E320CE94C65FBC8C3312448EB225",
        )
        .unwrap();
        assert_eq!(of(Some(&expected), b"123456789"), expected);
        assert_eq!(
            expected.to_string(),
            "sha256:15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"
        );
    }

    #[test]
    fn malformed_values_are_refused() {
        assert_eq!(Checksum::parse_crc64("42"), Some(Checksum::Crc64(42)));
        for bad in ["", "-1", "+1", "0x10", "18446744073709551616", "1 2"] {
            assert_eq!(Checksum::parse_crc64(bad), None, "{bad:?}");
        }
        assert_eq!(Checksum::parse_sha256("ab"), None);
        assert_eq!(Checksum::parse_sha256(&"g".repeat(64)), None);
    }
}
