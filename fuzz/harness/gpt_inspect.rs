//! `inspect` of a disk image (GPT, the boot headers in its partitions) and of any other file it may meet, through the
//! same pure function the command uses, on a virtual sparse disk.
//!
//! Input: `len` (u64 LE), `split` (u32 LE), then bytes: `bytes[..split]` sit at offset 0 and `bytes[split..]` at the
//! end of a disk of `len` bytes (capped at 4 MiB so one run stays fast; `gpt::decode` also sees the raw length),
//! zeros elsewhere. Bit 31 of `split` reads it as a `.tsv`.
use stm32mp_imager::{
    cli::inspect::{ReadAt, inspect_source},
    gpt,
};

struct Sparse<'a> {
    len: u64,
    head: &'a [u8],
    tail: &'a [u8],
}

impl ReadAt for Sparse<'_> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let n = usize::try_from((self.len - offset).min(buf.len() as u64)).unwrap_or(buf.len());
        let buf = &mut buf[..n];
        buf.fill(0);
        let tail_at = self.len.saturating_sub(self.tail.len() as u64);
        for (at, bytes) in [(0u64, self.head), (tail_at, self.tail)] {
            let (start, end) = (offset.max(at), (offset + n as u64).min(at + bytes.len() as u64));
            if start < end {
                let (s, e) = ((start - offset) as usize, (end - offset) as usize);
                buf[s..e].copy_from_slice(&bytes[(start - at) as usize..(end - at) as usize]);
            }
        }
        Ok(n)
    }
}

/// Run one input.
pub fn run(data: &[u8]) {
    let (raw_len, split, bytes) = match data {
        [a, b, c, d, e, f, g, h, s0, s1, s2, s3, rest @ ..] => {
            (u64::from_le_bytes([*a, *b, *c, *d, *e, *f, *g, *h]), u32::from_le_bytes([*s0, *s1, *s2, *s3]), rest)
        }
        _ => (data.len() as u64, 0, data),
    };
    let is_tsv = split & 0x8000_0000 != 0;
    let split = (split & 0x7FFF_FFFF) as usize;
    let (head, tail) = bytes.split_at(split.min(bytes.len()));
    let _ = gpt::decode(head, tail, stm32mp_imager::units::ByteSize::new(raw_len));
    let len = raw_len.min(4 << 20).max((head.len() + tail.len()) as u64);
    let disk = Sparse { len, head, tail };
    let _ = inspect_source("fuzz.img", &disk, len, is_tsv);
}
