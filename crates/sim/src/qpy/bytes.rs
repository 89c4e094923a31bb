//! A cursor over the file's bytes: big-endian integers, length-prefixed slices and counts that
//! are checked against what is left before anything is allocated for them.

use super::error::{QpyError, Result};

/// Reads `bytes`, reporting offsets relative to the start of the file.
#[derive(Debug, Clone)]
pub(super) struct Bytes<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The file offset of `bytes[0]`.
    base: usize,
}

impl<'a> Bytes<'a> {
    /// A cursor over `bytes`, which start at file offset `base`.
    pub(super) fn new(bytes: &'a [u8], base: usize) -> Bytes<'a> {
        Bytes {
            bytes,
            pos: 0,
            base,
        }
    }

    /// The file offset of the next byte.
    pub(super) fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    /// How many bytes are left.
    pub(super) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// Whether every byte has been read.
    pub(super) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next `n` bytes.
    pub(super) fn take(&mut self, n: usize, reading: &'static str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n);
        match end.and_then(|end| self.bytes.get(self.pos..end)) {
            Some(slice) => {
                self.pos = self.pos.saturating_add(n);
                Ok(slice)
            }
            None => Err(QpyError::Truncated {
                offset: self.base.saturating_add(self.bytes.len()),
                reading,
            }),
        }
    }

    /// The next `n` bytes, `n` read from the file: refused before any conversion if fewer are
    /// left.
    pub(super) fn slice(&mut self, n: u64, reading: &'static str) -> Result<&'a [u8]> {
        match usize::try_from(n) {
            Ok(n) => self.take(n, reading),
            Err(_) => Err(QpyError::Truncated {
                offset: self.base.saturating_add(self.bytes.len()),
                reading,
            }),
        }
    }

    fn array<const N: usize>(&mut self, reading: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, reading)?);
        Ok(out)
    }

    pub(super) fn u8(&mut self, reading: &'static str) -> Result<u8> {
        Ok(u8::from_be_bytes(self.array(reading)?))
    }

    pub(super) fn u16(&mut self, reading: &'static str) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array(reading)?))
    }

    pub(super) fn u32(&mut self, reading: &'static str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array(reading)?))
    }

    pub(super) fn i32(&mut self, reading: &'static str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array(reading)?))
    }

    pub(super) fn u64(&mut self, reading: &'static str) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array(reading)?))
    }

    pub(super) fn i64(&mut self, reading: &'static str) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array(reading)?))
    }

    /// A count of items read from the file, each taking at least `min_size` bytes: refused as
    /// [`QpyError::TooLarge`] above `limit`, and as truncated if the items cannot fit in what is
    /// left. What the caller allocates for them is then bounded by the input's size.
    pub(super) fn count(
        &self,
        n: u64,
        min_size: usize,
        what: &'static str,
        limit: u64,
    ) -> Result<usize> {
        if n > limit {
            return Err(QpyError::TooLarge {
                what,
                count: n,
                limit,
            });
        }
        let fits = usize::try_from(n)
            .ok()
            .filter(|&n| n.saturating_mul(min_size.max(1)) <= self.remaining());
        fits.ok_or(QpyError::Truncated {
            offset: self.base.saturating_add(self.bytes.len()),
            reading: what,
        })
    }

    /// Skips a length-prefixed value (`u8` type key, `u64` length, data) and returns the key and
    /// the data.
    pub(super) fn typed_value(&mut self, reading: &'static str) -> Result<(u8, &'a [u8])> {
        let key = self.u8(reading)?;
        let len = self.u64(reading)?;
        Ok((key, self.slice(len, reading)?))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_big_endian_and_reports_file_offsets() {
        let data = [0, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xfe];
        let mut b = Bytes::new(&data, 100);
        assert_eq!(b.u16("a").unwrap(), 1);
        assert_eq!(b.u32("b").unwrap(), 2);
        assert_eq!(b.offset(), 106);
        assert_eq!(b.i32("c").unwrap(), -2);
        assert!(b.is_empty());
        assert_eq!(
            b.u8("d"),
            Err(QpyError::Truncated {
                offset: 110,
                reading: "d"
            })
        );
    }

    #[test]
    fn counts_and_lengths_are_checked_before_use() {
        let data = [0u8; 16];
        let mut b = Bytes::new(&data, 0);
        assert_eq!(b.count(4, 4, "items", 10).unwrap(), 4);
        assert!(matches!(
            b.count(5, 4, "items", 10),
            Err(QpyError::Truncated { .. })
        ));
        assert!(matches!(
            b.count(11, 0, "items", 10),
            Err(QpyError::TooLarge { count: 11, .. })
        ));
        assert!(matches!(
            b.slice(u64::MAX, "blob"),
            Err(QpyError::Truncated { .. })
        ));
        assert_eq!(b.remaining(), 16, "a refused read consumes nothing");
    }
}
