//! Writing the disk image: sparse, zero-aware, bounded memory, with the block map (built by [`crate::bmap`])
//! computed in the same pass.
//!
//! Each input's data extents are found with `SEEK_DATA`/`SEEK_HOLE`; holes are never read. Data is read through
//! 1 MiB buffers and scanned in 4 KiB image blocks; all-zero blocks are not written (they stay holes in the image
//! file), the rest is written. The block map maps every block of an input's data extents, zero or not, as `bmaptool
//! create` maps a file's data: a zero block inside TF-A or an ext4 inode table is part of the content, and a card
//! written through the map must hold it even where the card held something else before. Erased firmware slots
//! ([`Source::Zeros`]) are mapped too. Hashing runs on a second thread. Memory stays flat whatever the image size.
//!
//! Copying: on file systems that can share or offload data (btrfs, XFS, bcachefs, ZFS, NFS, SMB) the non-zero runs
//! are copied with `copy_file_range`, falling back to `pwrite` if it is refused; elsewhere (ext4, tmpfs) they are
//! written with `pwrite` from the buffer already read for zero detection, which measured faster than letting the
//! kernel read them a second time (`scripts/bench.sh`: 0.055 s vs 0.064 s for the 4 GiB EV1 case on ext4).
use std::{
    fs::File,
    io,
    os::unix::fs::{FileExt, MetadataExt},
    path::{Path, PathBuf},
    sync::mpsc,
};

use rustix::{fs::SeekFrom, io::Errno};

use crate::{
    bmap::{BLOCK, BmapBuilder, BmapRange},
    cancel::Cancel,
    units::{ByteSize, Offset},
};

const BUF: usize = 1 << 20;

/// Where a piece's bytes come from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// Bytes in memory (the partition table).
    Bytes(&'a [u8]),
    /// An input file, expected to be `len` bytes.
    File {
        /// Path to read.
        path: &'a Path,
        /// Size the plan was made with.
        len: ByteSize,
    },
    /// An erased region (`fip-b`, an empty U-Boot environment): nothing is written (the image starts as zeros), but the block map
    /// maps it, so a card written through the map is erased there as a flash erases it.
    Zeros(ByteSize),
}

/// One piece of the image.
#[derive(Debug, Clone, Copy)]
pub struct Piece<'a> {
    /// Where it starts in the image.
    pub offset: Offset,
    /// Content.
    pub source: Source<'a>,
    /// Name for messages (`partition rootfs (rootfs.ext4)`, `primary GPT`).
    pub label: &'a str,
}

impl Piece<'_> {
    fn len(&self) -> ByteSize {
        match self.source {
            Source::Bytes(b) => ByteSize::new(b.len() as u64),
            Source::File { len, .. } | Source::Zeros(len) => len,
        }
    }
}

/// What writing did.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// Bytes actually written (non-zero blocks).
    pub bytes_written: ByteSize,
    /// Bytes of input data extents scanned.
    pub bytes_scanned: ByteSize,
    /// Mapped ranges with their SHA-256, when a block map was asked for.
    pub bmap: Option<Vec<BmapRange>>,
    /// Each input file copied, with its identity while it was copied (the same before and after the copy).
    pub inputs: Vec<(PathBuf, FileStamp)>,
}

/// What identifies a file's contents without reading them: device, inode, size, modification and change times.
/// Two equal stamps of one path, taken at two moments, mean the file was (as far as the file system tells) neither
/// replaced nor rewritten in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    /// The stamp of a file's metadata.
    #[must_use]
    pub fn of(m: &std::fs::Metadata) -> FileStamp {
        FileStamp { dev: m.dev(), ino: m.ino(), len: m.len(), mtime: (m.mtime(), m.mtime_nsec()), ctime: (m.ctime(), m.ctime_nsec()) }
    }
}

/// Why writing failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// An input could not be opened or read.
    #[error("cannot read {label} from {}: {source}", path.display())]
    Read {
        /// Piece label.
        label: String,
        /// Input path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The image could not be written.
    #[error("cannot write {label} at offset {offset} of the image: {source}")]
    Write {
        /// Piece label.
        label: String,
        /// Image offset.
        offset: Offset,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An input changed between planning and copying, or while being copied.
    #[error("{label} ({}) changed while being read: {detail}; nothing was replaced, run the build again once it is stable", path.display())]
    Changed {
        /// Piece label.
        label: String,
        /// Input path.
        path: PathBuf,
        /// What changed.
        detail: String,
    },
    /// Pieces overlap or leave the image (a planner bug).
    #[error("internal error: {0}")]
    Layout(String),
    /// The command was cancelled (Ctrl-C, SIGTERM, SIGHUP) while writing.
    #[error("interrupted")]
    Cancelled,
}

/// Progress of a long write; implemented by the CLI with a bar on terminals and plain lines in logs.
pub trait Progress {
    /// Total bytes that will be scanned.
    fn start(&self, total: u64);
    /// A piece begins.
    fn piece(&self, label: &str);
    /// More bytes scanned.
    fn advance(&self, bytes: u64);
    /// Done.
    fn finish(&self);
}

/// A progress sink that shows nothing.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: u64) {}
    fn piece(&self, _: &str) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// A run of bytes inside a chunk: image offset, and its byte range in the chunk's buffer.
type Run = (u64, usize, usize);

/// A buffer of data that was written, with the runs the block map must hash.
struct Chunk {
    buf: Vec<u8>,
    runs: Vec<Run>,
}

/// Hashing for the block map happens on a second thread, fed the buffers the writer has finished with, so the
/// SHA-256 work overlaps the copy. Buffers come back through `free`, so memory stays at a few buffers.
struct HashPipe {
    tx: mpsc::SyncSender<Chunk>,
    free: mpsc::Receiver<Vec<u8>>,
}

/// Buffers in flight between the writer and the hasher.
const PIPE_BUFFERS: usize = 3;

struct Writer<'a> {
    out: &'a File,
    written: u64,
    copy_range_works: bool,
    hashing: Option<HashPipe>,
    spare: Option<Vec<u8>>,
    inputs: Vec<(PathBuf, FileStamp)>,
}

impl Writer<'_> {
    /// A buffer to read into: the spare one if the last chunk had nothing to hash, else one back from the hasher.
    /// Invariant: at most one buffer is ever out of the pool here, so the pool never runs dry (no deadlock).
    fn buffer(&mut self) -> Vec<u8> {
        if let Some(buf) = self.spare.take() {
            return buf;
        }
        self.hashing.as_ref().and_then(|p| p.free.recv().ok()).unwrap_or_else(|| vec![0u8; BUF])
    }

    /// Hand a written buffer to the hasher, or keep it as the spare when there is nothing to hash.
    fn done(&mut self, buf: Vec<u8>, runs: Vec<Run>) {
        match &self.hashing {
            Some(p) if !runs.is_empty() => {
                if let Err(mpsc::SendError(chunk)) = p.tx.send(Chunk { buf, runs }) {
                    self.spare = Some(chunk.buf);
                }
            }
            Some(_) | None => self.spare = Some(buf),
        }
    }

    /// Write the non-zero 4 KiB image blocks of `data`, which belongs at image offset `offset` and (for files) at
    /// input offset `in_offset` of `input`. Returns the run the block map maps: all of `data`, zero blocks included.
    fn emit(&mut self, offset: u64, data: &[u8], input: Option<(&File, u64)>, label: &str) -> Result<Vec<Run>, ImageError> {
        let mut i = 0usize;
        let mut run_start: Option<usize> = None;
        while i < data.len() {
            let abs = offset + i as u64;
            let seg_end = usize::try_from(((abs / BLOCK + 1) * BLOCK - offset).min(data.len() as u64)).unwrap_or(data.len());
            let zero = is_zero(&data[i..seg_end]);
            match (zero, run_start) {
                (false, None) => run_start = Some(i),
                (true, Some(s)) => {
                    self.write_run(offset, data, s, i, input, label)?;
                    run_start = None;
                }
                _ => {}
            }
            i = seg_end;
        }
        if let Some(s) = run_start {
            self.write_run(offset, data, s, data.len(), input, label)?;
        }
        Ok(if data.is_empty() { Vec::new() } else { vec![(offset, 0, data.len())] })
    }

    /// Map `len` zero bytes at image offset `offset` (an erased region): nothing is written.
    fn erased(&mut self, offset: u64, len: u64, progress: &dyn Progress, cancel: &Cancel) -> Result<(), ImageError> {
        let mut at = 0u64;
        while at < len {
            let n = usize::try_from(len - at).unwrap_or(BUF).min(BUF);
            if self.hashing.is_some() {
                cancel.check().map_err(|_| ImageError::Cancelled)?;
                let mut buf = self.buffer();
                buf[..n].fill(0);
                self.done(buf, vec![(offset + at, 0, n)]);
            }
            progress.advance(n as u64);
            at += n as u64;
        }
        Ok(())
    }

    fn write_run(&mut self, offset: u64, data: &[u8], s: usize, e: usize, input: Option<(&File, u64)>, label: &str) -> Result<(), ImageError> {
        let at = offset + s as u64;
        let run = &data[s..e];
        let mut done = 0usize;
        if let (true, Some((file, in_off))) = (self.copy_range_works, input) {
            done = self.copy_range(file, in_off + s as u64, at, run.len());
        }
        if done < run.len() {
            self.out.write_all_at(&run[done..], at + done as u64).map_err(|source| ImageError::Write {
                label: label.to_string(),
                offset: Offset::new(at),
                source,
            })?;
        }
        self.written += run.len() as u64;
        Ok(())
    }

    /// Copy with `copy_file_range`; returns how many bytes it copied. On a file system that refuses it, remembers
    /// that and returns what was done so far, for the caller to finish with `pwrite`.
    fn copy_range(&mut self, input: &File, in_off: u64, out_off: u64, len: usize) -> usize {
        let mut done = 0usize;
        while done < len {
            let (mut off_in, mut off_out) = (in_off + done as u64, out_off + done as u64);
            match rustix::fs::copy_file_range(input, Some(&mut off_in), self.out, Some(&mut off_out), len - done) {
                Ok(0) => break, // Unexpected end of input; the read/write path reports the real situation.
                Ok(n) => done += n,
                Err(Errno::INTR) => {}
                Err(_) => {
                    // ENOSYS, EXDEV, EOPNOTSUPP, EINVAL…: stop using it.
                    self.copy_range_works = false;
                    break;
                }
            }
        }
        done
    }
}

/// Whether a slice is all zero bytes (vectorizes: no early exit inside a 4 KiB block).
#[must_use]
pub fn is_zero(data: &[u8]) -> bool {
    let (words, rest) = data.split_at(data.len() - data.len() % 16);
    let mut acc = 0u128;
    for w in words.chunks_exact(16) {
        acc |= u128::from_ne_bytes(w.try_into().unwrap_or([0; 16]));
    }
    acc == 0 && rest.iter().all(|&b| b == 0)
}

/// A data extent of a file (`Data(start, end)`), or the end of its data.
pub(crate) enum Extent {
    Data(u64, u64),
    End,
}

/// The next data extent at or after `pos`, or the end (`SEEK_DATA`/`SEEK_HOLE`; a file system without them is
/// one extent).
pub(crate) fn next_extent(file: &File, pos: u64, len: u64) -> io::Result<Extent> {
    if pos >= len {
        return Ok(Extent::End);
    }
    let data = match rustix::fs::seek(file, SeekFrom::Data(pos)) {
        Ok(data) => data,
        Err(Errno::NXIO) => return Ok(Extent::End),
        Err(Errno::INVAL | Errno::OPNOTSUPP) => return Ok(Extent::Data(pos, len)),
        Err(e) => return Err(e.into()),
    };
    let hole = rustix::fs::seek(file, SeekFrom::Hole(data)).map_or(len, |h| h.min(len));
    if data >= len {
        return Ok(Extent::End);
    }
    Ok(Extent::Data(data, hole.max(data)))
}

fn copy_file(w: &mut Writer, piece: &Piece, path: &Path, len: ByteSize, progress: &dyn Progress, cancel: &Cancel) -> Result<u64, ImageError> {
    let label = piece.label;
    let (len, piece_offset) = (len.get(), piece.offset.get());
    let read_err = |source| ImageError::Read { label: label.to_string(), path: path.to_path_buf(), source };
    let changed = |detail: String| ImageError::Changed { label: label.to_string(), path: path.to_path_buf(), detail };
    let file = File::open(path).map_err(read_err)?;
    let before = file.metadata().map_err(read_err)?;
    if before.len() != len {
        return Err(changed(format!("it was {len:#x} bytes when planned and is {:#x} now", before.len())));
    }
    let mut scanned = 0u64;
    let mut pos = 0u64;
    while let Extent::Data(start, end) = next_extent(&file, pos, len).map_err(read_err)? {
        let mut at = start;
        while at < end {
            cancel.check().map_err(|_| ImageError::Cancelled)?;
            let mut buf = w.buffer();
            // Chunk boundaries fall on image block boundaries so zero detection sees whole blocks.
            let image_at = piece_offset + at;
            let limit = ((image_at + buf.len() as u64) / BLOCK * BLOCK).saturating_sub(piece_offset);
            let chunk_end = end.min(if limit > at { limit } else { at + buf.len() as u64 });
            let n = usize::try_from(chunk_end - at).unwrap_or(buf.len()).min(buf.len());
            read_exact_at(&file, &mut buf[..n], at).map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof { changed(format!("it ended before {:#x} bytes", at + n as u64)) } else { read_err(e) }
            })?;
            let runs = w.emit(image_at, &buf[..n], Some((&file, at)), label)?;
            w.done(buf, runs);
            progress.advance(n as u64);
            scanned += n as u64;
            at += n as u64;
        }
        pos = end;
    }
    let after = file.metadata().map_err(read_err)?;
    if after.len() != before.len() || after.mtime() != before.mtime() || after.mtime_nsec() != before.mtime_nsec() {
        return Err(changed("its size or modification time changed during the copy".to_string()));
    }
    w.inputs.push((path.to_path_buf(), FileStamp::of(&after)));
    Ok(scanned)
}

fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, offset) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// How non-zero runs reach the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMode {
    /// `copy_file_range` from the input (with a `pwrite` fallback): lets reflink/offload file systems share data.
    CopyFileRange,
    /// `pwrite` from the buffer read for zero detection.
    Pwrite,
}

impl CopyMode {
    /// The better mode for the file system `out` lives on.
    #[must_use]
    pub fn for_output(out: &File) -> CopyMode {
        // statfs f_type magics (linux/magic.h) of file systems where copy_file_range can avoid copying data.
        const OFFLOAD: [i64; 8] = [0x9123_683E, 0x5846_5342, 0xCA45_1A4E, 0x2FC1_2FC1, 0x6969, 0xFE53_4D42, 0xFF53_4D42, 0x0102_1997];
        match rustix::fs::fstatfs(out) {
            #[allow(clippy::useless_conversion)]
            Ok(st) if OFFLOAD.contains(&i64::from(st.f_type)) => CopyMode::CopyFileRange,
            _ => CopyMode::Pwrite,
        }
    }
}

/// Write `pieces` (sorted by offset, disjoint) into `out`, an empty file, making it `size` bytes long.
/// The token is polled between chunks: once raised, the write stops with [`ImageError::Cancelled`].
pub fn write_image(
    out: &File,
    size: ByteSize,
    pieces: &[Piece],
    bmap: bool,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<Written, ImageError> {
    write_image_with(out, size, pieces, bmap, progress, cancel, CopyMode::for_output(out))
}

/// [`write_image`] with the copy mode chosen by the caller.
pub fn write_image_with(
    out: &File,
    size: ByteSize,
    pieces: &[Piece],
    bmap: bool,
    progress: &dyn Progress,
    cancel: &Cancel,
    mode: CopyMode,
) -> Result<Written, ImageError> {
    let copy_range = mode == CopyMode::CopyFileRange;
    let mut prev_end = Offset::ZERO;
    let end = Offset::ZERO.saturating_add(size);
    for p in pieces {
        if p.offset < prev_end || p.offset.checked_add(p.len()).is_none_or(|e| e > end) {
            return Err(ImageError::Layout(format!("{} at {} overlaps the previous piece or leaves the image", p.label, p.offset)));
        }
        prev_end = p.offset + p.len();
    }
    out.set_len(size.get()).map_err(|source| ImageError::Write { label: "the image".into(), offset: end, source })?;
    progress.start(pieces.iter().map(|p| p.len().get()).sum());
    let done = |written: u64, scanned: u64, bmap, inputs| Written {
        bytes_written: ByteSize::new(written),
        bytes_scanned: ByteSize::new(scanned),
        bmap,
        inputs,
    };
    if !bmap {
        let mut w = Writer { out, written: 0, copy_range_works: copy_range, hashing: None, spare: None, inputs: Vec::new() };
        let scanned = write_pieces(&mut w, pieces, progress, cancel)?;
        progress.finish();
        return Ok(done(w.written, scanned, None, w.inputs));
    }
    let (tx, rx) = mpsc::sync_channel::<Chunk>(PIPE_BUFFERS);
    let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
    for _ in 0..PIPE_BUFFERS {
        let _ = free_tx.send(vec![0u8; BUF]);
    }
    std::thread::scope(|scope| {
        let hasher = scope.spawn(move || {
            let mut builder = BmapBuilder::new(size);
            for chunk in rx {
                for &(offset, s, e) in &chunk.runs {
                    builder.feed(Offset::new(offset), &chunk.buf[s..e]);
                }
                let _ = free_tx.send(chunk.buf);
            }
            builder.finish()
        });
        let mut w =
            Writer { out, written: 0, copy_range_works: copy_range, hashing: Some(HashPipe { tx, free: free_rx }), spare: None, inputs: Vec::new() };
        let result = write_pieces(&mut w, pieces, progress, cancel);
        let (written, inputs) = (w.written, std::mem::take(&mut w.inputs));
        drop(w);
        let ranges = hasher.join().map_err(|_| ImageError::Layout("the block-map hasher thread panicked".to_string()))?;
        let scanned = result?;
        progress.finish();
        Ok(done(written, scanned, Some(ranges), inputs))
    })
}

fn write_pieces(w: &mut Writer, pieces: &[Piece], progress: &dyn Progress, cancel: &Cancel) -> Result<u64, ImageError> {
    let mut scanned = 0u64;
    for piece in pieces {
        cancel.check().map_err(|_| ImageError::Cancelled)?;
        match piece.source {
            Source::Bytes(bytes) => {
                let runs = w.emit(piece.offset.get(), bytes, None, piece.label)?;
                if !runs.is_empty() {
                    let mut buf = w.buffer();
                    if buf.len() < bytes.len() {
                        buf.resize(bytes.len(), 0);
                    }
                    buf[..bytes.len()].copy_from_slice(bytes);
                    w.done(buf, runs);
                }
                progress.advance(bytes.len() as u64);
            }
            Source::File { path, len } => {
                progress.piece(piece.label);
                scanned += copy_file(w, piece, path, len, progress, cancel)?;
            }
            Source::Zeros(len) => w.erased(piece.offset.get(), len.get(), progress, cancel)?,
        }
    }
    Ok(scanned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_detection() {
        assert!(is_zero(&[0u8; 4096]));
        assert!(is_zero(&[]));
        let mut v = vec![0u8; 4099];
        v[4098] = 1;
        assert!(!is_zero(&v));
        v[4098] = 0;
        v[17] = 1;
        assert!(!is_zero(&v));
    }

    /// Allocated all-zero chunks (ext4 journals, inode tables) are not written but are mapped; the writer must not run
    /// out of buffers (this deadlocked once), and the result must match a plain copy.
    #[test]
    fn many_allocated_zero_chunks_with_bmap() {
        use sha2::{Digest, Sha256};
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        let mut data = vec![0u8; 12 * BUF + 5];
        data[3 * BUF + 7] = 1;
        data[12 * BUF + 4] = 2;
        std::fs::write(&input, &data).unwrap();
        for mode in [CopyMode::Pwrite, CopyMode::CopyFileRange] {
            let out = tempfile::tempfile().unwrap();
            let at = Offset::new(0x4400);
            let pieces = [Piece { offset: at, source: Source::File { path: &input, len: ByteSize::new(data.len() as u64) }, label: "in" }];
            let size = ByteSize::new(0x4400 + data.len() as u64 + 100);
            let w = write_image_with(&out, size, &pieces, true, &NoProgress, &Cancel::new(), mode).unwrap();
            let ranges = w.bmap.unwrap();
            // One range: every block of the input's data, zero or not.
            assert_eq!(ranges.len(), 1);
            assert_eq!((ranges[0].first, ranges[0].last), (0x4400 / BLOCK, (0x4400 + data.len() as u64 - 1) / BLOCK));
            assert!(w.bytes_written.get() <= 2 * BLOCK, "only the two non-zero blocks were written: {:?}", w.bytes_written);
            let mut img = vec![0u8; usize::try_from(size.get()).unwrap()];
            img[0x4400..0x4400 + data.len()].copy_from_slice(&data);
            let mut back = Vec::new();
            std::io::Read::read_to_end(&mut &out, &mut back).unwrap();
            assert!(back == img);
            for r in &ranges {
                let (a, b) = (usize::try_from(r.first * BLOCK).unwrap(), usize::try_from((r.last + 1) * BLOCK).unwrap().min(img.len()));
                assert_eq!(r.sha256, hex::encode(Sha256::digest(&img[a..b])));
            }
        }
    }

    /// A zero block inside an input (a TF-A with a zeroed buffer) and an erased slot are mapped; a hole of an input
    /// and the space between pieces are not.
    #[test]
    fn zero_blocks_of_inputs_and_erased_slots_are_mapped_holes_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let tfa = dir.path().join("tf-a.stm32");
        let mut data = vec![0xA5u8; 6 * BLOCK as usize];
        data[2 * BLOCK as usize..4 * BLOCK as usize].fill(0);
        std::fs::write(&tfa, &data).unwrap();
        let sparse = dir.path().join("sparse.ext4");
        let f = File::create(&sparse).unwrap();
        f.set_len(8 << 20).unwrap();
        f.write_all_at(b"superblock", 0).unwrap();
        f.write_all_at(b"tail", (8 << 20) - 4).unwrap();
        drop(f);
        let pieces = [
            Piece { offset: Offset::new(0x10_0000), source: Source::File { path: &tfa, len: ByteSize::new(data.len() as u64) }, label: "fsbl1" },
            Piece { offset: Offset::new(0x20_0000), source: Source::Zeros(ByteSize::new(0x8_0000)), label: "u-boot-env" },
            Piece { offset: Offset::new(0x40_0000), source: Source::File { path: &sparse, len: ByteSize::new(8 << 20) }, label: "rootfs" },
        ];
        let out = tempfile::tempfile().unwrap();
        let w = write_image(&out, ByteSize::new(16 << 20), &pieces, true, &NoProgress, &Cancel::new()).unwrap();
        let mapped: Vec<(u64, u64)> = w.bmap.unwrap().iter().map(|r| (r.first * BLOCK, (r.last + 1) * BLOCK)).collect();
        let covered = |a: u64, b: u64| mapped.iter().any(|&(s, e)| s <= a && b <= e);
        assert!(covered(0x10_0000, 0x10_0000 + data.len() as u64), "the whole TF-A, its zero blocks too: {mapped:x?}");
        assert!(covered(0x20_0000, 0x28_0000), "the erased slot: {mapped:x?}");
        assert!(covered(0x40_0000, 0x40_1000) && covered(0xC0_0000 - 0x1000, 0xC0_0000), "the ext4's data: {mapped:x?}");
        let hole = |a: u64, b: u64| mapped.iter().all(|&(s, e)| e <= a || b <= s);
        assert!(hole(0x11_0000, 0x20_0000) && hole(0x28_0000, 0x40_0000), "nothing between pieces: {mapped:x?}");
        let mut at = 0x40_1000;
        // Where the file system supports SEEK_DATA the ext4's hole stays unmapped (tmpfs, ext4, btrfs, XFS do).
        if let Extent::Data(s, _) = next_extent(&File::open(&sparse).unwrap(), 0x1000, 8 << 20).unwrap() {
            at = 0x40_0000 + s;
        }
        assert!(at == 0x40_1000 || hole(0x40_1000, at.min(0xC0_0000 - 0x1000)), "{mapped:x?}");
        let mut image = vec![0u8; 16 << 20];
        std::io::Read::read_exact(&mut &out, &mut image).unwrap();
        assert_eq!(&image[0x10_0000..0x10_0000 + data.len()], &data[..]);
        assert!(image[0x20_0000..0x28_0000].iter().all(|&b| b == 0));
    }

    #[test]
    fn extents_skip_holes() {
        let file = tempfile::tempfile().unwrap();
        file.set_len(8 << 20).unwrap();
        file.write_all_at(b"data", 4 << 20).unwrap();
        let mut found = Vec::new();
        let mut pos = 0;
        while let Extent::Data(start, end) = next_extent(&file, pos, 8 << 20).unwrap() {
            found.push((start, end));
            pos = end;
        }
        // A file system without SEEK_DATA reports one extent; every one with it reports the data alone.
        assert!(found.iter().any(|&(s, e)| s <= 4 << 20 && e > 4 << 20), "{found:?}");
        assert!(found.iter().all(|&(s, e)| s < e && e <= 8 << 20), "{found:?}");
    }
}
