//! Shared test support: inputs made by the real tools (mkimage, fiptool, mke2fs), the binary under test, and the
//! oracles (sgdisk, genimage, bmaptool). A missing oracle fails the test with the package to install; it never skips.
#![allow(dead_code)]

pub mod proc;

use std::{
    fs::{self, File},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use sha2::{Digest, Sha256};

/// Debian package providing each oracle.
const PACKAGES: &[(&str, &str)] = &[
    ("sgdisk", "gdisk"),
    ("genimage", "genimage"),
    ("mkimage", "u-boot-tools"),
    ("fiptool", "arm-trusted-firmware-tools"),
    ("mke2fs", "e2fsprogs"),
    ("e2fsck", "e2fsprogs"),
    ("bmaptool", "bmap-tools"),
    ("python3", "python3"),
];

/// Panic unless `tool` is on PATH (tests must fail, not skip, without their oracle).
pub fn require(tool: &str) {
    let found = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
    if !found {
        let pkg = PACKAGES.iter().find(|(t, _)| *t == tool).map_or("?", |(_, p)| *p);
        panic!("oracle `{tool}` is missing: install the Debian package `{pkg}` (scripts/test.sh does it)");
    }
}

/// Run a command, panicking with its output if it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}\n{}{}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

/// The binary under test.
pub fn imager() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stm32mp-imager"))
}

/// Run the binary under test with arguments.
pub fn run_imager<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    imager().args(args).output().expect("run stm32mp-imager")
}

/// stdout + stderr as one string, for assertions and failure messages.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A deterministic, non-trivial payload (text repeated, with the seed mixed in).
pub fn payload(seed: &str, len: usize) -> Vec<u8> {
    let line = format!("stm32mp-imager test payload {seed} ");
    line.bytes().cycle().take(len).collect()
}

/// A real `.stm32` file from `mkimage -T stm32image` (header v1.0) around a payload of `len` bytes.
pub fn make_stm32(path: &Path, len: usize, load: &str) {
    require("mkimage");
    let bin = path.with_extension("payload");
    fs::write(&bin, payload(&path.display().to_string(), len)).unwrap();
    run_ok(Command::new("mkimage").args(["-T", "stm32image", "-a", load, "-e", load, "-d"]).arg(&bin).arg(path));
    fs::remove_file(&bin).unwrap();
}

/// A real FIP from `fiptool create` with a BL32 and a BL33.
pub fn make_fip(path: &Path) {
    require("fiptool");
    let dir = path.parent().unwrap();
    let (bl32, bl33) = (dir.join("bl32.payload"), dir.join("bl33.payload"));
    fs::write(&bl32, payload("bl32", 20_000)).unwrap();
    fs::write(&bl33, payload("bl33", 90_000)).unwrap();
    let _ = fs::remove_file(path);
    run_ok(Command::new("fiptool").arg("create").arg("--tos-fw").arg(&bl32).arg("--nt-fw").arg(&bl33).arg(path));
    fs::remove_file(bl32).unwrap();
    fs::remove_file(bl33).unwrap();
}

/// A real ext4 image from `mke2fs -d` of `size` bytes holding `data_bytes` of files; made as `rootfs.ext2` with
/// `rootfs.ext4 -> rootfs.ext2` like Buildroot when `path` ends in `rootfs.ext4`.
pub fn make_ext4(path: &Path, size: u64, data_bytes: usize) {
    require("mke2fs");
    let dir = path.parent().unwrap();
    let root = dir.join(format!("{}.root", path.file_name().unwrap().to_string_lossy()));
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/hostname"), "test\n").unwrap();
    let mut left = data_bytes;
    let mut i = 0;
    while left > 0 {
        let n = left.min(1 << 20);
        fs::write(root.join(format!("file{i}")), payload(&format!("file{i}"), n)).unwrap();
        left -= n;
        i += 1;
    }
    let target = if path.file_name().is_some_and(|n| n == "rootfs.ext4") { dir.join("rootfs.ext2") } else { path.to_path_buf() };
    let _ = fs::remove_file(&target);
    run_ok(
        Command::new("mke2fs")
            .env("E2FSPROGS_FAKE_TIME", "1700000000")
            .args([
                "-q",
                "-F",
                "-t",
                "ext4",
                "-b",
                "4096",
                "-U",
                "5f2b1a7c-0d3e-4e5f-8a9b-0c1d2e3f4a5b",
                "-E",
                "hash_seed=6e1a2b3c-4d5e-4f60-8172-93a4b5c6d7e8",
                "-d",
            ])
            .arg(&root)
            .arg(&target)
            .arg(format!("{}k", size / 1024)),
    );
    fs::remove_dir_all(&root).unwrap();
    if target != path {
        let _ = fs::remove_file(path);
        std::os::unix::fs::symlink("rootfs.ext2", path).unwrap();
    }
}

/// A test workspace: `images/` with inputs, `out/` for artifacts, board files in the root.
pub struct Workspace {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
}

impl Workspace {
    /// An empty workspace with `images/` and `out/`.
    pub fn new() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("images")).unwrap();
        fs::create_dir(dir.path().join("out")).unwrap();
        Workspace { dir }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    /// The images folder.
    pub fn images(&self) -> PathBuf {
        self.dir.path().join("images")
    }
    /// The output folder.
    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// The inputs every shipped board uses: TF-A for DK2 and EV1, u-boot.stm32, fip.bin, rootfs.ext4 (16 MiB ext4,
    /// 3 MiB of files).
    pub fn standard_inputs(&self) -> &Workspace {
        let i = self.images();
        make_stm32(&i.join("tf-a-stm32mp157c-dk2.stm32"), 120_000, "0x2ffc2500");
        make_stm32(&i.join("tf-a-stm32mp157c-ev1.stm32"), 110_000, "0x2ffc2500");
        make_stm32(&i.join("u-boot.stm32"), 700_000, "0xc0100000");
        make_fip(&i.join("fip.bin"));
        make_ext4(&i.join("rootfs.ext4"), 16 << 20, 3 << 20);
        self
    }

    /// Write a board description into the workspace root and return its path.
    pub fn board(&self, name: &str, toml: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        fs::write(&p, toml).unwrap();
        p
    }

    /// Run `build` for a board file into `out/`.
    pub fn build(&self, board: &Path) -> Output {
        self.build_with(board, &[])
    }

    /// `build` with more arguments (`--no-bmap`, …).
    pub fn build_with(&self, board: &Path, extra: &[&str]) -> Output {
        let mut args = vec![OsArg::from("build"), board.into(), "--images".into(), self.images().into(), "--output".into(), self.out().into()];
        args.extend(extra.iter().map(OsArg::from));
        run_imager(args)
    }
}

/// Argument helper: strings and paths in one list.
pub type OsArg = std::ffi::OsString;

/// The path of a board file shipped in the repo.
pub fn shipped_board(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("board").join(name)
}

/// The oracle: genimage 16 run on our `genimage-cfg` output for `board`, with the workspace's inputs; returns the
/// bytes of the image it wrote (`image_name`). For small images; [`genimage_image`] leaves a large one on disk.
pub fn genimage_write(ws: &Workspace, board: &Path, image_name: &str) -> Vec<u8> {
    fs::read(genimage_image(ws.root(), &ws.images(), board, image_name)).unwrap()
}

/// genimage 16 run on our `genimage-cfg` output for `board` with the inputs in `images`, working in `root` (its
/// own folder per call); returns the path of the image it wrote (`image_name`).
pub fn genimage_image(root: &Path, images: &Path, board: &Path, image_name: &str) -> PathBuf {
    require("genimage");
    let cfg = run_ok(imager().arg("genimage-cfg").arg(board).arg("--images").arg(images));
    fs::create_dir_all(root).unwrap();
    let cfg_path = root.join("genimage.cfg");
    fs::write(&cfg_path, &cfg.stdout).unwrap();
    let (gout, groot, gtmp) = (root.join("genimage-out"), root.join("genimage-root"), root.join("genimage-tmp"));
    fs::create_dir_all(&gout).unwrap();
    fs::create_dir_all(&groot).unwrap();
    run_ok(
        Command::new("genimage")
            .arg("--config")
            .arg(&cfg_path)
            .arg("--inputpath")
            .arg(images)
            .arg("--outputpath")
            .arg(&gout)
            .arg("--rootpath")
            .arg(&groot)
            .arg("--tmppath")
            .arg(&gtmp),
    );
    gout.join(image_name)
}

/// genimage 16 writes the first partition's LBA as the GPT's first usable LBA; U-Boot's `gpt write`, genimage ≥ 19
/// and this tool write 34. Set that field (both headers) to `value` and recompute the header CRCs, so the rest can
/// be compared byte for byte.
pub fn normalise_first_usable(image: &mut [u8], value: u64) {
    for at in [512, image.len() - 512] {
        normalise_header(&mut image[at..at + 92], value);
    }
}

fn normalise_header(h: &mut [u8], value: u64) {
    h[40..48].copy_from_slice(&value.to_le_bytes());
    h[16..20].fill(0);
    let crc = crc32fast::hash(h);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
}

/// Give `theirs` (an image genimage wrote from a configuration without UUIDs, so with random ones) the disk GUID and the
/// partitions' unique GUIDs of `ours`, in both GPT copies, and recompute the entry-array and header CRCs: every other
/// byte (MBR, offsets, sizes, types, attributes, names, data) can then be compared as it is. Both images must have
/// the same length and entry count.
pub fn adopt_guids(theirs: &Path, ours: &Path) {
    let t = fs::OpenOptions::new().read(true).write(true).open(theirs).unwrap();
    let o = File::open(ours).unwrap();
    let len = t.metadata().unwrap().len();
    assert_eq!(len, o.metadata().unwrap().len(), "adopt_guids: the images differ in length");
    for at in [512, len - 512] {
        let (mut th, mut oh) = ([0u8; 92], [0u8; 92]);
        t.read_exact_at(&mut th, at).unwrap();
        o.read_exact_at(&mut oh, at).unwrap();
        th[56..72].copy_from_slice(&oh[56..72]);
        let entries_at = u64::from_le_bytes(th[72..80].try_into().unwrap()) * 512;
        let count = u32::from_le_bytes(th[80..84].try_into().unwrap()) as usize;
        let size = u32::from_le_bytes(th[84..88].try_into().unwrap()) as usize;
        let (mut te, mut oe) = (vec![0u8; count * size], vec![0u8; count * size]);
        t.read_exact_at(&mut te, entries_at).unwrap();
        o.read_exact_at(&mut oe, entries_at).unwrap();
        for i in 0..count {
            te[i * size + 16..i * size + 32].copy_from_slice(&oe[i * size + 16..i * size + 32]);
        }
        th[88..92].copy_from_slice(&crc32fast::hash(&te).to_le_bytes());
        th[16..20].fill(0);
        let crc = crc32fast::hash(&th);
        th[16..20].copy_from_slice(&crc.to_le_bytes());
        t.write_all_at(&te, entries_at).unwrap();
        t.write_all_at(&th, at).unwrap();
    }
}

/// What `sgdisk -i N` says about a partition.
#[derive(Debug, PartialEq, Eq)]
pub struct SgdiskPart {
    /// Type GUID.
    pub type_guid: String,
    /// Unique GUID.
    pub unique_guid: String,
    /// First sector.
    pub first: u64,
    /// Last sector (inclusive).
    pub last: u64,
    /// Attribute bits.
    pub attrs: u64,
    /// Name.
    pub name: String,
}

impl SgdiskPart {
    /// What `sgdisk -i` must show for a partition of the plan.
    pub fn planned(p: &stm32mp_imager::plan::PlannedPartition) -> Self {
        SgdiskPart {
            type_guid: p.type_guid.to_string(),
            unique_guid: p.unique_guid.to_string(),
            first: p.first_lba().get(),
            last: p.last_lba().get(),
            attrs: p.attributes(),
            name: p.name.clone(),
        }
    }
}

/// `sgdisk -i N IMAGE`, parsed.
pub fn sgdisk_info(image: &Path, n: u32) -> SgdiskPart {
    require("sgdisk");
    let out = run_ok(Command::new("sgdisk").arg("-i").arg(n.to_string()).arg(image));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |prefix: &str| -> String {
        text.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("no `{prefix}` in sgdisk -i {n}:\n{text}")).trim().to_string()
    };
    let first_word = |s: String| s.split_whitespace().next().unwrap_or("").to_string();
    SgdiskPart {
        type_guid: first_word(field("Partition GUID code:")),
        unique_guid: field("Partition unique GUID:"),
        first: first_word(field("First sector:")).parse().unwrap(),
        last: first_word(field("Last sector:")).parse().unwrap(),
        attrs: u64::from_str_radix(&field("Attribute flags:"), 16).unwrap(),
        name: field("Partition name:").trim_matches('\'').to_string(),
    }
}

/// [`normalise_first_usable`] on an image file, in place (only its two header sectors are read and written).
pub fn normalise_first_usable_file(image: &Path, value: u64) {
    let f = fs::OpenOptions::new().read(true).write(true).open(image).unwrap();
    let len = f.metadata().unwrap().len();
    for at in [512, len - 512] {
        let mut h = [0u8; 92];
        f.read_exact_at(&mut h, at).unwrap();
        normalise_header(&mut h, value);
        f.write_all_at(&h, at).unwrap();
    }
}

/// The little-endian u64 at `at` in a file.
pub fn read_u64_at(path: &Path, at: u64) -> u64 {
    let mut b = [0u8; 8];
    File::open(path).unwrap().read_exact_at(&mut b, at).unwrap();
    u64::from_le_bytes(b)
}

/// The byte ranges a `.bmap` maps (`<Range …> a-b </Range>` blocks of `<BlockSize>` bytes), as `(start, end)`.
pub fn bmap_mapped(bmap: &Path) -> Vec<(u64, u64)> {
    let text = fs::read_to_string(bmap).unwrap();
    let tag = |name: &str| text.split(&format!("<{name}>")).nth(1).and_then(|r| r.split(&format!("</{name}>")).next()).map(str::trim);
    let block: u64 = tag("BlockSize").expect("a BlockSize").parse().unwrap();
    text.split("<Range")
        .skip(1)
        .map(|r| {
            let blocks = r.split('>').nth(1).and_then(|b| b.split('<').next()).unwrap().trim();
            let (a, b) = blocks.split_once('-').unwrap_or((blocks, blocks));
            (a.parse::<u64>().unwrap() * block, (b.parse::<u64>().unwrap() + 1) * block)
        })
        .collect()
}

/// The data extents of a file in `from..to` (`SEEK_DATA`/`SEEK_HOLE`; where they are not supported, the whole
/// range). Holes read as zeros and are never read.
pub fn data_extents(file: &File, from: u64, to: u64) -> Vec<(u64, u64)> {
    use rustix::{fs::SeekFrom, io::Errno};
    let mut out = Vec::new();
    let mut pos = from;
    while pos < to {
        let data = match rustix::fs::seek(file, SeekFrom::Data(pos)) {
            Ok(d) => d,
            Err(Errno::NXIO) => break,
            Err(_) => {
                out.push((pos, to));
                break;
            }
        };
        if data >= to {
            break;
        }
        let hole = rustix::fs::seek(file, SeekFrom::Hole(data)).map_or(to, |h| h.min(to));
        out.push((data, hole));
        pos = hole;
    }
    out
}

/// Content digest independent of how a file is stored: its length, then every non-zero 4 KiB block with its offset
/// (holes and zero blocks alike are skipped). Two files with the same bytes get the same digest; reading it costs
/// only the data, never the holes of a sparse image, and memory stays at one buffer.
pub fn content_digest(path: &Path) -> String {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let len = file.metadata().unwrap().len();
    let mut h = Sha256::new();
    h.update(len.to_le_bytes());
    let mut buf = vec![0u8; 1 << 20];
    // Blocks at 4 KiB-aligned offsets, each hashed once however the extents fall.
    let mut next = 0u64;
    for (start, end) in data_extents(&file, 0, len) {
        let mut at = (start / 4096 * 4096).max(next);
        let end = end.div_ceil(4096).saturating_mul(4096).min(len);
        while at < end {
            let n = usize::try_from((end - at).min(buf.len() as u64)).unwrap();
            file.read_exact_at(&mut buf[..n], at).unwrap();
            for (i, block) in buf[..n].chunks(4096).enumerate() {
                if block.iter().any(|&b| b != 0) {
                    h.update((at + i as u64 * 4096).to_le_bytes());
                    h.update(block);
                }
            }
            at += n as u64;
        }
        next = at;
    }
    hex::encode(h.finalize())
}

/// The first offset where two files differ (a longer file differs at the shorter one's end), read in chunks.
pub fn first_difference(a: &Path, b: &Path) -> Option<u64> {
    let (fa, fb) = (File::open(a).unwrap(), File::open(b).unwrap());
    let (la, lb) = (fa.metadata().unwrap().len(), fb.metadata().unwrap().len());
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut at = 0u64;
    while at < la.min(lb) {
        let n = usize::try_from((la.min(lb) - at).min(1 << 20)).unwrap();
        fa.read_exact_at(&mut ba[..n], at).unwrap();
        fb.read_exact_at(&mut bb[..n], at).unwrap();
        if ba[..n] != bb[..n] {
            let i = ba[..n].iter().zip(&bb[..n]).position(|(x, y)| x != y).unwrap();
            return Some(at + i as u64);
        }
        at += n as u64;
    }
    (la != lb).then_some(la.min(lb))
}

/// Whether `image` holds exactly the bytes of `input` at `offset` (read in chunks).
pub fn holds_at(image: &Path, offset: u64, input: &Path) -> bool {
    let (fi, fo) = (File::open(image).unwrap(), File::open(input).unwrap());
    let len = fo.metadata().unwrap().len();
    let (mut a, mut b) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut at = 0u64;
    while at < len {
        let n = usize::try_from((len - at).min(1 << 20)).unwrap();
        if fi.read_exact_at(&mut a[..n], offset + at).is_err() {
            return false;
        }
        fo.read_exact_at(&mut b[..n], at).unwrap();
        if a[..n] != b[..n] {
            return false;
        }
        at += n as u64;
    }
    true
}

/// Whether `from..to` of a file reads as zeros (only its data extents are read).
pub fn zero_between(path: &Path, from: u64, to: u64) -> bool {
    let file = File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    for (start, end) in data_extents(&file, from, to) {
        let mut at = start.max(from);
        while at < end {
            let n = usize::try_from((end - at).min(1 << 20)).unwrap();
            file.read_exact_at(&mut buf[..n], at).unwrap();
            if buf[..n].iter().any(|&b| b != 0) {
                return false;
            }
            at += n as u64;
        }
    }
    true
}
