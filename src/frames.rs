//! Bytes held as the frames they arrived in: shared with whoever made them,
//! never copied into one buffer. The agent's upload holds a chunk so, and
//! dbs-control gathers an upload's frames so for its writer and its hash.

use bytes::Bytes;

use crate::crc64::Crc64;

/// Frames in order, with their total length.
#[derive(Debug, Clone, Default)]
pub struct Frames {
    frames: Vec<Bytes>,
    len: usize,
}

impl Frames {
    /// Adds `frame` after the others.
    pub fn push(&mut self, frame: Bytes) {
        self.len += frame.len();
        self.frames.push(frame);
    }

    /// Bytes in all the frames.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The frames, in order.
    pub fn as_slice(&self) -> &[Bytes] {
        &self.frames
    }

    /// The bytes from `skip` on (shared, not copied).
    pub fn skip(&self, mut skip: usize) -> Frames {
        let mut rest = Frames::default();
        for frame in &self.frames {
            if skip >= frame.len() {
                skip -= frame.len();
            } else {
                rest.push(frame.slice(skip..));
                skip = 0;
            }
        }
        rest
    }

    /// The CRC64 of all the bytes.
    pub fn crc64(&self) -> u64 {
        let mut crc = Crc64::new();
        self.frames.iter().for_each(|frame| crc.write(frame));
        crc.sum64()
    }

    /// The frames, taken out.
    pub fn into_vec(self) -> Vec<Bytes> {
        self.frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_from_a_byte_within_a_frame_has_those_bytes_and_their_crc() {
        let mut frames = Frames::default();
        for frame in [&b"abc"[..], b"", b"defg", b"h"] {
            frames.push(Bytes::copy_from_slice(frame));
        }
        assert_eq!(frames.len(), 8);
        for skip in 0..=8 {
            let rest = frames.skip(skip);
            let bytes: Vec<u8> = rest.as_slice().iter().flat_map(|f| f.to_vec()).collect();
            assert_eq!(bytes, &b"abcdefgh"[skip..], "skip {skip}");
            assert_eq!(rest.len(), 8 - skip);
            assert_eq!(rest.crc64(), Crc64::of(&b"abcdefgh"[skip..]));
        }
    }
}
