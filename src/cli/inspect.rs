//! `stm32mp-imager inspect FILE...`: read back a GPT image (table, GUIDs, attributes, the boot headers inside), an
//! STM32 image (every header field, checksum verdict), a FIP (ToC), or lint a flash layout (`.tsv`) with U-Boot's
//! rules. Exit status 1 when anything is wrong.
//!
//! The reading is done by [`inspect_source`], a pure function over a [`ReadAt`] source (a file, or bytes in memory for
//! tests and fuzzing) that returns the report text and the problems; [`run`] only opens files and prints.

use std::{
    fmt::Write as _,
    fs::File,
    io::{self, Seek, SeekFrom},
    os::unix::fs::{FileExt, FileTypeExt},
    path::{Path, PathBuf},
};

use clap::Args;

use crate::{
    diag::{self, Problem},
    error::{Error, Shown},
    flashlayout::{self, LintOptions},
    gpt, guid,
    inputs::{fip, stm32},
    units::{ByteSize, Offset, SECTOR},
};

/// Largest file `inspect` reads whole as a flash layout; a real one (at most 240 lines) is a few KiB.
pub const MAX_LAYOUT_BYTES: u64 = 1 << 20;

/// Random access to the bytes being inspected: a file, or bytes in memory.
pub trait ReadAt {
    /// Read up to `buf.len()` bytes at `offset`; 0 at the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl ReadAt for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }
}

impl ReadAt for &[u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.len());
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

/// What `inspect` found in one file: the report to print and the problems (errors make the exit status non-zero).
#[derive(Debug, Clone, Default)]
pub struct Inspection {
    /// The human-readable report (one or more lines, each ending in a newline).
    pub report: String,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

/// Arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Files to read: disk images, `.stm32` files, FIPs, flash layouts (`.tsv`).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Run `inspect`. Every file is read and judged even when the reader of stdout went away (`| head`): the exit
/// status still says whether one was wrong.
pub fn run(args: &InspectArgs, ctx: &super::Context) -> Result<(), Error> {
    let mut errors = 0usize;
    let mut unread = 0usize;
    let mut stdout_closed = false;
    for (i, path) in args.files.iter().enumerate() {
        match inspect_file(path) {
            Ok(inspection) => {
                if !stdout_closed {
                    let sep = if i > 0 { "\n" } else { "" };
                    match super::write_stdout(format_args!("{sep}{}", inspection.report)) {
                        Err(Error::StdoutClosed) => stdout_closed = true,
                        other => other?,
                    }
                }
                ctx.print_problems(&inspection.problems, None);
                errors += inspection.problems.iter().filter(|p| p.is_error()).count();
            }
            Err(e) => {
                // Shown here, in its place among the files; the summary only counts it.
                say!("error: {e}");
                unread += 1;
            }
        }
    }
    if unread > 0 {
        return Err(Error::Unread { count: unread });
    }
    if errors > 0 {
        return Err(Error::Problems { subject: None, errors, shown: Shown::Above, undone: None });
    }
    if stdout_closed { Err(Error::StdoutClosed) } else { Ok(()) }
}

/// Read `len` bytes at `offset` (fewer at the end of the source).
fn read_at(src: &dyn ReadAt, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        match src.read_at(&mut buf[done..], offset.saturating_add(done as u64)) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(done);
    Ok(buf)
}

/// Inspect one file: its report and its problems (the caller prints them), or why it could not be read.
pub fn inspect_file(path: &Path) -> Result<Inspection, Error> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(Error::file("open", path))?;
    let meta = file.metadata().map_err(Error::file("read the metadata of", path))?;
    if meta.is_dir() {
        return Err(Error::Refused { subject: shown, reason: "is a folder; name a file".to_string() });
    }
    let len = source_len(&mut &file, meta.file_type().is_block_device(), meta.len()).map_err(Error::file("find the size of", path))?;
    let is_tsv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    inspect_source(&shown, &file, len, is_tsv).map_err(Error::file("read", path))
}

/// The bytes readable from a file: its metadata length, except for a block device (an SD card just written), whose
/// metadata says 0 and which is measured by seeking to its end.
fn source_len(src: &mut impl Seek, is_block_device: bool, metadata_len: u64) -> io::Result<u64> {
    if is_block_device { src.seek(SeekFrom::End(0)) } else { Ok(metadata_len) }
}

/// Inspect `len` bytes readable from `src`, named `shown` in the report. `is_tsv` reads it as a flash layout whatever
/// it holds (the file name ends in `.tsv`). Pure apart from reading `src`: the report is returned, not printed.
pub fn inspect_source(shown: &str, src: &dyn ReadAt, len: u64, is_tsv: bool) -> io::Result<Inspection> {
    let mut out = Inspection::default();
    let head_len = usize::try_from(gpt::HEAD_BYTES.get()).unwrap_or(0);
    let head = read_at(src, 0, head_len)?;
    let looks_like_text = head.iter().all(|&b| b == b'\t' || b == b'\n' || b == b'\r' || (0x20..0x7f).contains(&b)) && head.contains(&b'\t');
    let sector = usize::try_from(SECTOR.get()).unwrap_or(512);
    // A GPT is known by either header: the primary at LBA 1, or the backup in the last whole sector (the primary may
    // be damaged; U-Boot and TF-A then boot from the backup).
    let last_sector = (len - len % SECTOR.get()).checked_sub(SECTOR.get());
    let backup_signature = match last_sector {
        Some(at) if at > 0 => read_at(src, at, gpt::SIGNATURE.len())? == gpt::SIGNATURE,
        _ => false,
    };
    let is_gpt = head.get(sector..sector + gpt::SIGNATURE.len()) == Some(gpt::SIGNATURE.as_slice()) || backup_signature;
    if is_tsv || (!head.starts_with(&stm32::MAGIC) && !is_gpt && !fip::has_magic(&head) && looks_like_text) {
        if len > MAX_LAYOUT_BYTES {
            out.problems.push(
                Problem::error(
                    "inspect::too_large",
                    format!("{shown}: {len} bytes is too large for a flash layout (at most {MAX_LAYOUT_BYTES} bytes are read)"),
                )
                .with_help("a flash layout has at most 240 lines"),
            );
            return Ok(out);
        }
        let bytes = read_at(src, 0, usize::try_from(len).unwrap_or(0))?;
        inspect_tsv(&mut out, shown, &bytes);
        return Ok(out);
    }
    if is_gpt {
        inspect_gpt(&mut out, shown, src, len, &head)?;
        return Ok(out);
    }
    if stm32::has_magic(&head) {
        inspect_stm32(&mut out, shown, src, len, &head);
        return Ok(out);
    }
    if fip::has_magic(&head) {
        inspect_fip(&mut out, shown, len, &head);
        return Ok(out);
    }
    // Disks the STM32MP cannot boot from, said as such rather than "unknown". A GPT made for 4096-byte sectors has
    // its header at byte 4096 (and a protective MBR too: it is checked first).
    if head.get(4096..4096 + gpt::SIGNATURE.len()) == Some(gpt::SIGNATURE.as_slice()) {
        let _ = writeln!(out.report, "{shown}: {len} bytes, GPT disk image with 4096-byte sectors");
        out.problems.push(
            Problem::error("inspect::gpt_4k_sectors", format!("{shown}: GPT with 4096-byte sectors (\"EFI PART\" at 0x1000); STM32MP media use 512"))
                .with_help("write the table for 512-byte sectors (sgdisk and genimage do on an image file)"),
        );
        return Ok(out);
    }
    if head.get(510..512) == Some([0x55, 0xAA].as_slice()) {
        let _ = writeln!(out.report, "{shown}: {len} bytes, MBR-partitioned disk image");
        out.problems.push(
            Problem::error(
                "inspect::mbr_only",
                format!("{shown}: MBR partition table (0x55AA at 0x1fe), no GPT: the STM32MP boot ROM and TF-A need a GPT"),
            )
            .with_help("partition the card with a GPT (a protective MBR only)"),
        );
        return Ok(out);
    }
    let _ = writeln!(out.report, "{shown}: {len} bytes, not a GPT image, STM32 image, FIP or flash layout");
    out.problems.push(
        Problem::error("inspect::unknown", format!("{shown}: unknown format"))
            .with_help("inspect reads GPT disk images, .stm32 files, FIPs and .tsv layouts"),
    );
    Ok(out)
}

fn inspect_tsv(out: &mut Inspection, shown: &str, bytes: &[u8]) {
    let parsed = flashlayout::parse(shown, bytes);
    let mut problems = parsed.problems;
    problems.extend(flashlayout::lint(shown, &parsed.lines, &LintOptions::default()));
    let r = &mut out.report;
    let _ = writeln!(r, "{shown}: flash layout, {} data line{}", parsed.lines.len(), if parsed.lines.len() == 1 { "" } else { "s" });
    for l in &parsed.lines {
        let _ = writeln!(
            r,
            "  line {:<3} {:<4} 0x{:02X}  {:<16} {:<10} {:<9} {:<12} {}",
            l.line,
            l.opt.to_string(),
            l.id,
            l.name,
            l.part_type.to_string(),
            l.ip.to_string(),
            l.offset.to_string(),
            l.binary.as_deref().unwrap_or("none")
        );
    }
    if !diag::has_errors(&problems) {
        let _ = writeln!(r, "  valid: U-Boot stm32prog accepts it");
    }
    out.problems.extend(problems);
}

fn print_stm32_header(r: &mut String, h: &stm32::Stm32Header) {
    let _ = writeln!(r, "  header version   {} ({:#010x}), {} bytes", h.version, h.version_word, h.header_len);
    let _ = writeln!(r, "  image_length     {:#x} ({} bytes)", h.image_length, h.image_length);
    let _ = writeln!(r, "  image_checksum   {:#010x}", h.checksum);
    let _ = writeln!(r, "  entry point      {:#010x}", h.entry_point);
    let _ = writeln!(r, "  load address     {:#010x}", h.load_address);
    let _ = writeln!(r, "  version number   {}", h.version_number);
    if h.version.major == 1 {
        let _ = writeln!(r, "  option flags     {:#x}{}", h.option_flags, if h.option_flags & 1 == 1 { " (no signature check)" } else { "" });
        let _ = writeln!(r, "  ecdsa algorithm  {}", h.algorithm_or_ext_len);
    } else {
        let _ = writeln!(r, "  extension flags  {:#010x}", h.option_flags);
        let _ = writeln!(r, "  extension length {:#x}", h.algorithm_or_ext_len);
    }
    let _ = writeln!(r, "  binary type      {:#04x}{}", h.binary_type, if h.binary_type == 0x10 { " (TF-A BL2)" } else { "" });
    let _ = writeln!(r, "  signature        {}", if h.unsigned { "none (unsigned image)" } else { "present" });
}

/// Check an STM32 image that starts at `offset` in `src` and may span at most `max` bytes.
fn stm32_verdict(r: &mut String, shown: &str, src: &dyn ReadAt, offset: u64, max: u64, head: &[u8]) -> Vec<Problem> {
    match stm32::parse_header(head) {
        Err(e) => vec![Problem::error("inspect::bad_stm32_header", format!("{shown}: {e}"))],
        Ok(h) => {
            print_stm32_header(r, &h);
            let payload_len = u64::from(h.image_length);
            let total = u64::from(h.header_len) + payload_len;
            if total > max {
                return vec![Problem::error("inspect::bad_stm32_header", format!("{shown}: header says {total:#x} bytes, only {max:#x} available"))];
            }
            let mut sum = 0u32;
            let mut pos = offset + u64::from(h.header_len);
            let end = pos + payload_len;
            while pos < end {
                let n = usize::try_from((end - pos).min(1 << 20)).unwrap_or(1 << 20);
                match read_at(src, pos, n) {
                    Ok(b) if b.len() == n => sum = sum.wrapping_add(stm32::payload_checksum(&b)),
                    _ => return vec![Problem::error("inspect::io", format!("{shown}: short read at {pos:#x}"))],
                }
                pos += n as u64;
            }
            if sum == h.checksum {
                let _ = writeln!(r, "  checksum         ok");
                Vec::new()
            } else {
                let _ = writeln!(r, "  checksum         MISMATCH (payload sums to {sum:#010x})");
                vec![Problem::error(
                    "inspect::bad_checksum",
                    format!("{shown}: field image_checksum (offset 0x44): payload bytes sum to {sum:#010x}, header says {:#010x}", h.checksum),
                )]
            }
        }
    }
}

fn inspect_stm32(out: &mut Inspection, shown: &str, src: &dyn ReadAt, len: u64, head: &[u8]) {
    let _ = writeln!(out.report, "{shown}: STM32 image, {len} bytes");
    let problems = stm32_verdict(&mut out.report, shown, src, 0, len, head);
    out.problems.extend(problems);
    if let Ok(h) = stm32::parse_header(head) {
        if let Err(e) = stm32::verify_payload(&h, len, h.checksum) {
            out.problems.push(Problem::error("inspect::bad_stm32_header", format!("{shown}: {e}")));
        }
        if h.version.major == 1 && u64::from(h.image_length) > stm32::MP15_FSBL_MAX_PAYLOAD && h.binary_type == 0x10 {
            out.problems.push(Problem::warning(
                "inspect::fsbl_too_large",
                format!("{shown}: TF-A payload {:#x} bytes exceeds the STM32MP15 ROM's 247 KiB", h.image_length),
            ));
        }
    }
}

fn inspect_fip(out: &mut Inspection, shown: &str, len: u64, head: &[u8]) {
    let _ = writeln!(out.report, "{shown}: FIP, {len} bytes");
    match fip::parse_toc(head, len) {
        Ok(toc) => {
            let _ = writeln!(out.report, "  ToC serial {:#010x}, flags {:#x}, {} entries", toc.serial, toc.flags, toc.entries.len());
            for e in &toc.entries {
                let _ = writeln!(out.report, "  {e}");
            }
        }
        Err(e) => out.problems.push(Problem::error("inspect::bad_fip", format!("{shown}: {e}"))),
    }
}

/// An entry's first byte and length (0 when it ends before it starts), or `None` when its first byte lies past 2^64.
/// The LBAs come from the file, so nothing about them is trusted.
fn entry_bytes(e: &gpt::DecodedEntry) -> Option<(Offset, ByteSize)> {
    let start = e.first_lba.checked_offset()?;
    Some((start, ByteSize::new(e.sectors().saturating_mul(SECTOR.get()))))
}

fn inspect_gpt(out: &mut Inspection, shown: &str, src: &dyn ReadAt, len: u64, head: &[u8]) -> io::Result<()> {
    let tail_len = gpt::TAIL_BYTES.get();
    // The backup table ends at the last whole sector: bytes past it (an image not a multiple of 512) are not read.
    let aligned = len - len % SECTOR.get();
    let tail = read_at(src, aligned.saturating_sub(tail_len), usize::try_from(tail_len).unwrap_or(0))?;
    let size = ByteSize::new(len);
    // Each entry array is read where its header says (`sgdisk -j`, genimage's `gpt-location` move the primary's).
    let mut arrays = [None, None];
    for (slot, lba) in arrays.iter_mut().zip(gpt::entries_lbas(head, &tail)) {
        let Some(at) = lba.and_then(|l| l.checked_offset()).map(|o| o.get()) else { continue };
        if at >= SECTOR.get() && at.checked_add(gpt::ENTRIES_BYTES as u64).is_some_and(|end| end <= aligned) {
            *slot = Some(read_at(src, at, gpt::ENTRIES_BYTES)?);
        }
    }
    let [primary, backup] = &arrays;
    let arrays = gpt::Arrays { primary: primary.as_deref(), backup: backup.as_deref() };
    let decoded = gpt::decode_with_arrays(head, &tail, arrays, size);
    let r = &mut out.report;
    let _ = writeln!(r, "{shown}: GPT disk image, {len} bytes ({}, {} sectors)", size.human(), size.whole_sectors());
    if let Some(mbr) = decoded.mbr {
        let _ = writeln!(
            r,
            "  MBR: {}",
            match mbr {
                gpt::MbrKind::Protective => "protective",
                gpt::MbrKind::Hybrid => "HYBRID",
                gpt::MbrKind::None => "none",
            }
        );
    }
    if let (Some(g), Some(f), Some(l)) = (decoded.disk_guid, decoded.first_usable, decoded.last_usable) {
        let _ = writeln!(r, "  disk GUID {g}, usable LBA {}..{}", f.get(), l.get());
    }
    let _ = writeln!(
        r,
        "  {:<3} {:>10} {:>10} {:>10} {:>12}  {:<16} {:<38} {:<36} attrs",
        "#", "start LBA", "end LBA", "byte start", "size", "name", "type", "unique GUID"
    );
    for e in &decoded.entries {
        let ty = match guid::type_name(e.type_guid) {
            Some(n) => format!("{} ({n})", e.type_guid),
            None => e.type_guid.to_string(),
        };
        let size = entry_bytes(e).map_or_else(|| "-".to_string(), |(_, size)| size.to_string());
        // The byte start as `check`'s table and flash.tsv give it.
        let start = entry_bytes(e).map_or_else(|| "-".to_string(), |(start, _)| format!("{:#010x}", start.get()));
        let _ = writeln!(
            r,
            "  {:<3} {:>10} {:>10} {:>10} {:>12}  {:<16} {:<38} {:<36} {:#x}{}",
            e.number,
            e.first_lba.get(),
            e.last_lba.get(),
            start,
            size,
            e.name,
            ty,
            e.unique_guid.to_string(),
            e.attributes,
            if e.attributes & 4 != 0 { " (bootable)" } else { "" }
        );
    }
    // The decoder does not know the file's name: each problem is prefixed with it, as inspect's own are.
    let mut problems: Vec<Problem> = decoded
        .problems
        .iter()
        .cloned()
        .map(|mut p| {
            p.message = format!("{shown}: {}", p.message);
            p
        })
        .collect();
    // Only entries that lie inside the usable range and overlap no other are read: the others are already errors,
    // and reading them could cost far more than the image (128 entries over one partition: its payload summed 128
    // times). Read this way, no byte of the image is checked twice.
    let usable = decoded.first_usable.zip(decoded.last_usable);
    let sane = |e: &gpt::DecodedEntry| {
        usable.is_some_and(|(f, l)| f <= e.first_lba && e.first_lba <= e.last_lba && e.last_lba <= l)
            && !decoded.entries.iter().any(|o| o.number != e.number && o.first_lba <= e.last_lba && e.first_lba <= o.last_lba)
    };
    for e in decoded.entries.iter().filter(|e| sane(e)) {
        // Entries whose bytes lie past 2^64 (or past the file) are reported by `gpt::decode` as outside the usable
        // range; there is nothing to read in them.
        let Some((start, size)) = entry_bytes(e) else { continue };
        let (start, size) = (start.get(), size.get());
        if start >= len {
            continue;
        }
        let part_head = read_at(src, start, 4096)?;
        let label = format!("{shown} partition {} `{}`", e.number, e.name);
        if stm32::has_magic(&part_head) {
            let _ = writeln!(out.report, "  partition {} `{}` holds an STM32 image:", e.number, e.name);
            problems.extend(stm32_verdict(&mut out.report, &label, src, start, size, &part_head));
        } else if fip::has_magic(&part_head) {
            match fip::parse_toc(&part_head, size) {
                Ok(toc) => {
                    let _ = writeln!(out.report, "  partition {} `{}` holds a FIP with {} entries:", e.number, e.name, toc.entries.len());
                    for t in &toc.entries {
                        let _ = writeln!(out.report, "    {t}");
                    }
                }
                Err(err) => problems.push(Problem::error("inspect::bad_fip", format!("{label}: {err}"))),
            }
        } else if e.name.starts_with("fsbl") {
            problems.push(
                Problem::error("inspect::fsbl_empty", format!("{label}: no STM32 header; the boot ROM will not boot from it"))
                    .with_help("write TF-A's .stm32 file to this partition"),
            );
        } else if part_head.len() >= 1082 && part_head[1080] == 0x53 && part_head[1081] == 0xEF {
            let _ = writeln!(out.report, "  partition {} `{}` holds an ext2/3/4 file system", e.number, e.name);
        }
    }
    out.problems.extend(problems);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_device_is_measured_by_seeking() {
        // A block device's metadata length is 0; its size is where a seek to the end lands.
        let mut card = io::Cursor::new(vec![0u8; 8192]);
        assert_eq!(source_len(&mut card, true, 0).unwrap(), 8192);
        assert_eq!(source_len(&mut card, false, 100).unwrap(), 100);
    }
}
