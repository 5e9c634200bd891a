//! Reading input files: size, first bytes, STM32 payload checksum and SHA-256, in one streaming pass per file.

use std::{
    fs::File,
    io::{self, Read},
    path::Path,
};

use sha2::{Digest, Sha256};

use crate::{
    board::BoardFile,
    inputs::{HEAD_LEN, InputFacts, stm32},
    plan::InputSet,
};

/// When to compute an input's SHA-256 (it costs a full read: ~1.5 s for a 3 GiB sparse ext4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashPolicy {
    /// Every input (`check`, `flash`).
    All,
    /// Files up to this many bytes (boot stages always qualify); larger ones are left unhashed (`build`).
    UpTo(u64),
}

const CHUNK: usize = 1 << 20;

/// Read one input: follow symlinks, classify, checksum and hash as the policy says.
pub fn read_input(name: &str, path: &Path, policy: HashPolicy) -> io::Result<InputFacts> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let size = meta.len();
    let hash = match policy {
        HashPolicy::All => true,
        HashPolicy::UpTo(limit) => size <= limit,
    };
    let mut head = Vec::with_capacity(HEAD_LEN);
    let mut buf = vec![0u8; CHUNK];
    let mut hasher = hash.then(Sha256::new);
    let mut stm32_sum: Option<u32> = None;
    let mut header_len = 0usize;
    let mut pos = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..n];
        if head.len() < HEAD_LEN {
            let take = (HEAD_LEN - head.len()).min(n);
            head.extend_from_slice(&chunk[..take]);
            if pos == 0 && stm32::has_magic(&head) {
                stm32_sum = Some(0);
                header_len = stm32::parse_header(&head).map_or(stm32::V1_HEADER_LEN, |h| h.header_len as usize);
            }
        }
        if let Some(sum) = stm32_sum.as_mut() {
            let skip = usize::try_from((header_len as u64).saturating_sub(pos)).unwrap_or(usize::MAX).min(n);
            *sum = sum.wrapping_add(stm32::payload_checksum(&chunk[skip..]));
        } else if hasher.is_none() {
            // Neither a checksum nor a hash needs the rest of the file.
            if head.len() >= HEAD_LEN {
                break;
            }
        }
        if let Some(h) = hasher.as_mut() {
            h.update(chunk);
        }
        pos += n as u64;
    }
    if hasher.is_some() && pos != size {
        return Err(io::Error::other(format!("changed size while being read ({size} bytes, then {pos})")));
    }
    let sha256 = hasher.map(|h| h.finalize().into());
    Ok(InputFacts::classify(name, path.to_path_buf(), size, &head, stm32_sum, sha256))
}

fn describe_io(e: &io::Error, path: &Path) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => format!("not found at {}", path.display()),
        io::ErrorKind::PermissionDenied => format!("permission denied reading {}", path.display()),
        _ => format!("cannot read {}: {e}", path.display()),
    }
}

/// Read every input a board description names, from `images_dir`.
#[must_use]
pub fn read_inputs(board: &BoardFile, images_dir: &Path, policy: HashPolicy) -> InputSet {
    let mut set = InputSet::default();
    for name in board.input_names() {
        let name = &name.value;
        if set.facts.contains_key(name) || set.missing.contains_key(name) || crate::plan::rules::ensure_input_paths_safe_name(name).is_some() {
            continue;
        }
        let path = images_dir.join(name);
        let boot_stage = board.boot_stage_inputs().into_iter().map(|(s, _)| s).chain(board.boot.metadata.iter()).any(|s| &s.value == name);
        let policy = if boot_stage { HashPolicy::All } else { policy };
        match read_input(name, &path, policy) {
            Ok(facts) => {
                set.facts.insert(name.clone(), facts);
            }
            Err(e) => {
                set.missing.insert(name.clone(), describe_io(&e, &path));
            }
        }
    }
    set
}
