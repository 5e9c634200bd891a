//! `stm32mp-imager inspect FILE...`: read back a GPT image (table, GUIDs, attributes, the boot headers inside), an
//! STM32 image (every header field, checksum verdict), a FIP (ToC), or lint a flash layout (`.tsv`) with U-Boot's
//! rules. Exit status 1 when anything is wrong.

use std::{
    fs::File,
    io::Read,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use clap::Args;

use super::print_problems;
use crate::{
    diag::{self, Problem},
    error::Error,
    flashlayout::{self, LintOptions},
    gpt, guid,
    inputs::{fip, stm32},
    plan::GPT_SECTORS,
    units::{SECTOR, human_bytes},
};

/// Arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Files to read: disk images, `.stm32` files, FIPs, flash layouts (`.tsv`).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Run `inspect`.
pub fn run(args: &InspectArgs) -> Result<(), Error> {
    let mut errors = 0usize;
    let mut io_errors = Vec::new();
    for (i, path) in args.files.iter().enumerate() {
        if i > 0 {
            println!();
        }
        match inspect_file(path) {
            Ok(problems) => {
                print_problems(&problems, None);
                errors += problems.iter().filter(|p| p.is_error()).count();
            }
            Err(e) => {
                eprintln!("error: {e}");
                io_errors.push(e);
            }
        }
    }
    if let Some(e) = io_errors.into_iter().next() {
        return Err(Error::Io(e));
    }
    if errors > 0 {
        return Err(Error::Invalid(format!("{errors} error{} found", if errors == 1 { "" } else { "s" })));
    }
    Ok(())
}

fn read_at(file: &File, offset: u64, len: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    buf.truncate(done);
    Ok(buf)
}

/// Inspect one file; returns its problems (errors make the exit status non-zero), or an I/O error message.
pub fn inspect_file(path: &Path) -> Result<Vec<Problem>, String> {
    let shown = path.display().to_string();
    let mut file = File::open(path).map_err(|e| format!("cannot open {shown}: {e}"))?;
    let len = file.metadata().map_err(|e| format!("cannot stat {shown}: {e}"))?.len();
    let head = read_at(&file, 0, 34 * 512).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let is_tsv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    if is_tsv {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| format!("cannot read {shown}: {e}"))?;
        return Ok(inspect_tsv(&shown, &bytes));
    }
    if head.len() >= 1024 && &head[512..520] == gpt::SIGNATURE {
        return inspect_gpt(&shown, &file, len, &head);
    }
    if stm32::has_magic(&head) {
        return Ok(inspect_stm32(&shown, &file, len, &head));
    }
    if fip::has_magic(&head) {
        return Ok(inspect_fip(&shown, len, &head));
    }
    if head.iter().all(|&b| b == b'\t' || b == b'\n' || b == b'\r' || (0x20..0x7f).contains(&b)) && head.contains(&b'\t') {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| format!("cannot read {shown}: {e}"))?;
        return Ok(inspect_tsv(&shown, &bytes));
    }
    println!("{shown}: {len} bytes, not a GPT image, STM32 image, FIP or flash layout");
    Ok(vec![
        Problem::error("inspect::unknown", format!("{shown}: unknown format"))
            .with_help("inspect reads GPT disk images, .stm32 files, FIPs and .tsv layouts"),
    ])
}

fn inspect_tsv(shown: &str, bytes: &[u8]) -> Vec<Problem> {
    let parsed = flashlayout::parse(shown, bytes);
    let mut problems = parsed.problems;
    problems.extend(flashlayout::lint(shown, &parsed.lines, &LintOptions::default()));
    println!("{shown}: flash layout, {} data line{}", parsed.lines.len(), if parsed.lines.len() == 1 { "" } else { "s" });
    for l in &parsed.lines {
        println!(
            "  line {:<3} {:<4} {:#04x}  {:<16} {:<10} {:<9} {:<12} {}",
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
        println!("  valid: U-Boot stm32prog accepts it");
    }
    problems
}

fn print_stm32_header(h: &stm32::Stm32Header) {
    println!("  header version   {} ({:#010x}), {} bytes", h.version, h.version_word, h.header_len);
    println!("  image_length     {:#x} ({} bytes)", h.image_length, h.image_length);
    println!("  image_checksum   {:#010x}", h.checksum);
    println!("  entry point      {:#010x}", h.entry_point);
    println!("  load address     {:#010x}", h.load_address);
    println!("  version number   {}", h.version_number);
    if h.version.major == 1 {
        println!("  option flags     {:#x}{}", h.option_flags, if h.option_flags & 1 == 1 { " (no signature check)" } else { "" });
        println!("  ecdsa algorithm  {}", h.algorithm_or_ext_len);
    } else {
        println!("  extension flags  {:#010x}", h.option_flags);
        println!("  extension length {:#x}", h.algorithm_or_ext_len);
    }
    println!("  binary type      {:#04x}{}", h.binary_type, if h.binary_type == 0x10 { " (TF-A BL2)" } else { "" });
    println!("  signature        {}", if h.unsigned { "none (unsigned image)" } else { "present" });
}

/// Check an STM32 image that starts at `offset` in `file` and may span at most `max` bytes.
fn stm32_verdict(shown: &str, file: &File, offset: u64, max: u64, head: &[u8]) -> Vec<Problem> {
    match stm32::parse_header(head) {
        Err(e) => vec![Problem::error("inspect::bad_stm32_header", format!("{shown}: {e}"))],
        Ok(h) => {
            print_stm32_header(&h);
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
                match read_at(file, pos, n) {
                    Ok(b) if b.len() == n => sum = sum.wrapping_add(stm32::payload_checksum(&b)),
                    _ => return vec![Problem::error("inspect::io", format!("{shown}: short read at {pos:#x}"))],
                }
                pos += n as u64;
            }
            if sum == h.checksum {
                println!("  checksum         ok");
                Vec::new()
            } else {
                println!("  checksum         MISMATCH (payload sums to {sum:#010x})");
                vec![Problem::error(
                    "inspect::bad_checksum",
                    format!("{shown}: field image_checksum (offset 0x44): payload bytes sum to {sum:#010x}, header says {:#010x}", h.checksum),
                )]
            }
        }
    }
}

fn inspect_stm32(shown: &str, file: &File, len: u64, head: &[u8]) -> Vec<Problem> {
    println!("{shown}: STM32 image, {len} bytes");
    let mut problems = stm32_verdict(shown, file, 0, len, head);
    if let Ok(h) = stm32::parse_header(head) {
        if let Err(e) = stm32::verify_payload(&h, len, h.checksum) {
            problems.push(Problem::error("inspect::bad_stm32_header", format!("{shown}: {e}")));
        }
        if h.version.major == 1 && u64::from(h.image_length) > stm32::MP15_FSBL_MAX_PAYLOAD && h.binary_type == 0x10 {
            problems.push(Problem::warning(
                "inspect::fsbl_too_large",
                format!("{shown}: TF-A payload {:#x} bytes exceeds the STM32MP15 ROM's 247 KiB", h.image_length),
            ));
        }
    }
    problems
}

fn inspect_fip(shown: &str, len: u64, head: &[u8]) -> Vec<Problem> {
    println!("{shown}: FIP, {len} bytes");
    match fip::parse_toc(head, len) {
        Ok(toc) => {
            println!("  ToC serial {:#010x}, flags {:#x}, {} entries", toc.serial, toc.flags, toc.entries.len());
            for e in &toc.entries {
                println!("  {e}");
            }
            Vec::new()
        }
        Err(e) => vec![Problem::error("inspect::bad_fip", format!("{shown}: {e}"))],
    }
}

fn inspect_gpt(shown: &str, file: &File, len: u64, head: &[u8]) -> Result<Vec<Problem>, String> {
    let tail_len = GPT_SECTORS * SECTOR;
    let tail =
        read_at(file, len.saturating_sub(tail_len), usize::try_from(tail_len).unwrap_or(0)).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let decoded = gpt::decode(head, &tail, len);
    println!("{shown}: GPT disk image, {len} bytes ({}, {} sectors)", human_bytes(len), len / SECTOR);
    if let Some(mbr) = decoded.mbr {
        println!(
            "  MBR: {}",
            match mbr {
                gpt::MbrKind::Protective => "protective",
                gpt::MbrKind::Hybrid => "HYBRID",
                gpt::MbrKind::None => "none",
            }
        );
    }
    if let (Some(g), Some(f), Some(l)) = (decoded.disk_guid, decoded.first_usable, decoded.last_usable) {
        println!("  disk GUID {g}, usable LBA {f}..{l}");
    }
    println!("  {:<3} {:>10} {:>10} {:>12}  {:<16} {:<38} {:<36} attrs", "#", "start LBA", "end LBA", "size", "name", "type", "unique GUID");
    for e in &decoded.entries {
        let ty = match guid::type_name(e.type_guid) {
            Some(n) => format!("{} ({n})", e.type_guid),
            None => e.type_guid.to_string(),
        };
        let size = (e.last_lba + 1).saturating_sub(e.first_lba) * SECTOR;
        println!(
            "  {:<3} {:>10} {:>10} {:>12}  {:<16} {:<38} {:<36} {:#x}{}",
            e.number,
            e.first_lba,
            e.last_lba,
            format!("{size:#x}"),
            e.name,
            ty,
            e.unique_guid.to_string(),
            e.attributes,
            if e.attributes & 4 != 0 { " (bootable)" } else { "" }
        );
    }
    let mut problems = decoded.problems.clone();
    for e in &decoded.entries {
        let start = e.first_lba * SECTOR;
        let size = (e.last_lba + 1).saturating_sub(e.first_lba) * SECTOR;
        if start >= len {
            continue;
        }
        let part_head = read_at(file, start, 4096).map_err(|err| format!("cannot read {shown}: {err}"))?;
        let label = format!("{shown} partition {} `{}`", e.number, e.name);
        if stm32::has_magic(&part_head) {
            println!("  partition {} `{}` holds an STM32 image:", e.number, e.name);
            problems.extend(stm32_verdict(&label, file, start, size, &part_head));
        } else if fip::has_magic(&part_head) {
            match fip::parse_toc(&part_head, size) {
                Ok(toc) => {
                    println!("  partition {} `{}` holds a FIP with {} entries:", e.number, e.name, toc.entries.len());
                    for t in &toc.entries {
                        println!("    {t}");
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
            println!("  partition {} `{}` holds an ext2/3/4 file system", e.number, e.name);
        }
    }
    Ok(problems)
}
