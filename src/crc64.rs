//! CRC-64/ECMA-182 with the CRC-64/XZ parameters, as object stores report
//! it (OSS's `x-oss-hash-crc64ecma`): the checksum every set carries. Carry-
//! less multiply (VPCLMULQDQ where the CPU has it) makes it cost a fraction
//! of a copy.

use crc_fast::{CrcAlgorithm, Digest};

/// A running CRC64 of the bytes written to it.
#[derive(Clone, Debug)]
pub struct Crc64(Digest);

impl Crc64 {
    /// The CRC64 of no bytes yet.
    pub fn new() -> Self {
        Crc64(Digest::new(CrcAlgorithm::Crc64Xz))
    }

    /// The CRC64 of `bytes` alone.
    pub fn of(bytes: &[u8]) -> u64 {
        let mut crc = Crc64::new();
        crc.write(bytes);
        crc.sum64()
    }

    /// Adds `bytes`.
    pub fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Adds the bytes `next` was computed over, without reading them again.
    pub fn append(&mut self, next: &Crc64) {
        self.0.combine(&next.0);
    }

    /// The CRC64 of every byte added.
    pub fn sum64(&self) -> u64 {
        self.0.finalize()
    }
}

impl Default for Crc64 {
    fn default() -> Self {
        Crc64::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_is_crc64_xz() {
        // The CRC-64/XZ check value, and OSS's CRC64 of "hello world".
        assert_eq!(Crc64::of(b"123456789"), 0x995d_c9bb_df19_39fa);
        assert_eq!(Crc64::of(b"hello world"), 5981764153023615706);
    }

    #[test]
    fn appended_parts_equal_the_whole() {
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (mut whole, mut tail) = (Crc64::new(), Crc64::new());
        whole.write(&bytes[..12_345]);
        tail.write(&bytes[12_345..]);
        whole.append(&tail);
        assert_eq!(whole.sum64(), Crc64::of(&bytes));
        let mut empty = Crc64::new();
        empty.append(&Crc64::new());
        assert_eq!(empty.sum64(), Crc64::of(b""));
    }
}
