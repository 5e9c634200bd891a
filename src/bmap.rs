//! Block maps (bmaptool's `.bmap`, format 2.0): the mapped ranges of an image with their SHA-256, built from the
//! non-zero runs the image writer emits in offset order.
//!
//! Pure: runs of bytes in, ranges out; the file's text is [`crate::render::bmap_file`]'s.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::units::{ByteSize, Offset};

/// Block size of the block map and of the writer's zero detection (bmaptool's default).
pub const BLOCK: u64 = 4096;
static ZEROS: [u8; BLOCK as usize] = [0u8; BLOCK as usize];

/// One mapped range of a block map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BmapRange {
    /// First block.
    pub first: u64,
    /// Last block (inclusive).
    pub last: u64,
    /// SHA-256 of the range's bytes, hex.
    pub sha256: String,
}

/// Builds block-map ranges from the non-zero runs written, which must arrive in increasing offset order; the gaps
/// inside a range are hashed as zeros, as bmaptool reads them.
#[derive(Debug)]
pub struct BmapBuilder {
    size: u64,
    current: Option<OpenRange>,
    ranges: Vec<BmapRange>,
}

#[derive(Debug)]
struct OpenRange {
    first: u64,
    last: u64,
    fed_until: u64,
    hasher: Sha256,
}

fn feed_zeros(hasher: &mut Sha256, mut n: u64) {
    while n > 0 {
        let k = n.min(BLOCK);
        hasher.update(&ZEROS[..usize::try_from(k).unwrap_or(0)]);
        n -= k;
    }
}

impl BmapBuilder {
    /// A builder for an image of `size` bytes.
    #[must_use]
    pub fn new(size: ByteSize) -> BmapBuilder {
        BmapBuilder { size: size.get(), current: None, ranges: Vec::new() }
    }

    /// Bytes `data` were written at image offset `offset` (after every earlier run).
    pub fn feed(&mut self, offset: Offset, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let offset = offset.get();
        let end = offset + data.len() as u64;
        let first = offset / BLOCK;
        let last = (end - 1) / BLOCK;
        match &mut self.current {
            Some(r) if first <= r.last + 1 && offset >= r.fed_until => {
                feed_zeros(&mut r.hasher, offset - r.fed_until);
                r.hasher.update(data);
                r.fed_until = end;
                r.last = r.last.max(last);
            }
            _ => {
                self.close();
                let mut hasher = Sha256::new();
                feed_zeros(&mut hasher, offset - first * BLOCK);
                hasher.update(data);
                self.current = Some(OpenRange { first, last, fed_until: end, hasher });
            }
        }
    }

    fn close(&mut self) {
        if let Some(mut r) = self.current.take() {
            let range_end = ((r.last + 1) * BLOCK).min(self.size);
            feed_zeros(&mut r.hasher, range_end.saturating_sub(r.fed_until));
            self.ranges.push(BmapRange { first: r.first, last: r.last, sha256: hex::encode(r.hasher.finalize()) });
        }
    }

    /// The ranges, once every run was fed.
    #[must_use]
    pub fn finish(mut self) -> Vec<BmapRange> {
        self.close();
        self.ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_partial_blocks_and_merge_neighbours() {
        let mut b = BmapBuilder::new(ByteSize::new(5 * BLOCK + 100));
        b.feed(Offset::new(10), &[1, 2, 3]);
        b.feed(Offset::new(BLOCK + 5), &[4]);
        b.feed(Offset::new(3 * BLOCK), &[5]);
        b.feed(Offset::new(5 * BLOCK + 99), &[6]);
        let r = b.finish();
        assert_eq!(r.iter().map(|r| (r.first, r.last)).collect::<Vec<_>>(), vec![(0, 1), (3, 3), (5, 5)]);
        let mut img = vec![0u8; 2 * BLOCK as usize];
        img[10..13].copy_from_slice(&[1, 2, 3]);
        img[BLOCK as usize + 5] = 4;
        assert_eq!(r[0].sha256, hex::encode(Sha256::digest(&img)));
        let mut last = vec![0u8; 100];
        last[99] = 6;
        assert_eq!(r[2].sha256, hex::encode(Sha256::digest(&last)), "the last block is cut at the image end");
    }
}
