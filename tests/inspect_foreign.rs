//! `inspect` on files this tool did not write. Disk images: tables made by `sgdisk` on a blank file, then damaged the way
//! cards are (a zeroed sector, a flipped bit). `sgdisk` is the oracle: it reads a damaged primary from the backup,
//! as U-Boot and TF-A do.

mod common;

use std::{
    fs::{self, OpenOptions},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    process::Command,
};

use common::{require, run_imager, run_ok, text};

/// A 64 MiB blank file partitioned by sgdisk: `bootfs` (256 KiB at LBA 2048) and `rootfs` (8 MiB).
fn sgdisk_image(dir: &Path, extra: &[&str]) -> PathBuf {
    require("sgdisk");
    let img = dir.join("sg.img");
    fs::File::create(&img).unwrap().set_len(64 << 20).unwrap();
    let mut cmd = Command::new("sgdisk");
    cmd.args(extra).args(["-n", "1:2048:+256K", "-c", "1:bootfs", "-n", "2:0:+8M", "-c", "2:rootfs", "-t", "2:8300"]).arg(&img);
    run_ok(&mut cmd);
    img
}

fn sgdisk(args: &[&str], img: &Path) -> String {
    String::from_utf8_lossy(&run_ok(Command::new("sgdisk").args(args).arg(img)).stdout).into_owned()
}

/// The value after `label` on sgdisk's output line that holds it.
fn field(out: &str, label: &str) -> String {
    let line = out.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("no `{label}` in\n{out}"));
    line.split(label).nth(1).unwrap().split_whitespace().next().unwrap().to_string()
}

fn flip(img: &Path, at: u64) {
    let f = OpenOptions::new().read(true).write(true).open(img).unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x01], at).unwrap();
}

#[test]
fn damaged_primary_gpt_is_read_from_the_backup() {
    let dir = tempfile::tempdir().unwrap();
    let clean = sgdisk_image(dir.path(), &[]);
    let disk_guid = field(&sgdisk(&["-p"], &clean), "Disk identifier (GUID): ");
    let rootfs_guid = field(&sgdisk(&["-i", "2"], &clean), "Partition unique GUID: ");
    let pristine = fs::read(&clean).unwrap();
    // (what is damaged, how, where the error says it is)
    type Damage = fn(&Path);
    let cases: [(&str, Damage, &str); 3] = [
        ("signature", |p| OpenOptions::new().write(true).open(p).unwrap().write_all_at(&[0u8; 512], 512).unwrap(), "at 0x200"),
        ("header CRC32", |p| flip(p, 512 + 56), "at 0x200"),
        ("entry array CRC32", |p| flip(p, 1024 + 128 + 16), "at 0x400"),
    ];
    for (why, damage, at) in cases {
        fs::write(&clean, &pristine).unwrap();
        damage(&clean);
        // The oracle still lists both partitions and the clean GUIDs.
        let sg = sgdisk(&["-p"], &clean);
        assert!(sg.contains("rootfs") && sg.contains(&disk_guid), "{why}: sgdisk -p\n{sg}");
        let out = run_imager(["inspect".as_ref(), clean.as_os_str()]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{why}: {t}");
        assert!(t.contains(&format!("disk GUID {disk_guid}")), "{why}: {t}");
        assert!(t.contains(&rootfs_guid) && t.contains("bootfs"), "{why}: {t}");
        let errors: Vec<&str> = t.lines().filter(|l| l.starts_with("error[")).collect();
        assert!(
            t.contains("primary GPT damaged") && t.contains(why) && t.contains(at) && t.contains("showing the backup at LBA 131071"),
            "{why}: {t}"
        );
        assert!(!t.contains("disagrees") && !t.contains("differs"), "{why}: the backup is blamed: {t}");
        assert_eq!(errors.len(), 1, "{why}: one cause, one error: {t}");
        assert!(errors[0].starts_with(&format!("error[gpt::primary_damaged]: {}: ", clean.display())), "{why}: the file is named: {t}");
    }
}

#[test]
fn entry_array_away_from_lba_2_is_read() {
    let dir = tempfile::tempdir().unwrap();
    // `sgdisk -j 1024`: the primary entry array at LBA 1024 (genimage's `gpt-location = 512K` does the same).
    let img = sgdisk_image(dir.path(), &["-j", "1024"]);
    let sg = sgdisk(&["-v"], &img);
    assert!(sg.contains("No problems found"), "sgdisk -v\n{sg}");
    let rootfs_guid = field(&sgdisk(&["-i", "2"], &img), "Partition unique GUID: ");
    let out = run_imager(["inspect".as_ref(), img.as_os_str()]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("bootfs") && t.contains("rootfs") && t.contains(&rootfs_guid), "{t}");
}

#[test]
fn image_with_a_partial_last_sector_keeps_its_backup() {
    let dir = tempfile::tempdir().unwrap();
    let img = sgdisk_image(dir.path(), &[]);
    // 100 bytes past the last whole sector: the backup header is still the last whole sector.
    OpenOptions::new().append(true).open(&img).unwrap().write_all_at(&[0xA5; 100], 64 << 20).unwrap();
    let out = run_imager(["inspect".as_ref(), img.as_os_str()]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("warning[gpt::partial_sector]") && t.contains("rootfs"), "{t}");
    assert!(!t.contains("backup"), "{t}");
}

#[test]
fn an_unreadable_file_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.img");
    let out = run_imager(["inspect".as_ref(), missing.as_os_str()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "the OS error is said once:\n{err}");
    assert!(err.contains("1 file could not be read"), "{err}");
}

/// A FIP from `fiptool create` with more entries than a build ever packs.
#[test]
fn fip_with_70_blobs() {
    require("fiptool");
    let dir = tempfile::tempdir().unwrap();
    let blob = dir.path().join("blob.bin");
    fs::write(&blob, b"payload").unwrap();
    let many = dir.path().join("many.fip");
    let mut cmd = Command::new("fiptool");
    cmd.arg("create");
    for i in 0..70 {
        cmd.arg("--blob").arg(format!("uuid={i:08x}-1111-2222-3333-444455556666,file={}", blob.display()));
    }
    run_ok(cmd.arg(&many));
    let out = run_imager(["inspect".as_ref(), many.as_os_str()]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("70 entries") && t.contains("uuid 00000045-1111-2222-3333-444455556666"), "{t}");
}

/// A FIP from `fiptool create` with one image per option fiptool lists: each is shown under fiptool's name.
#[test]
fn fip_entries_carry_every_fiptool_name() {
    require("fiptool");
    let dir = tempfile::tempdir().unwrap();
    let blob = dir.path().join("blob.bin");
    fs::write(&blob, b"payload").unwrap();
    let help = Command::new("fiptool").args(["help", "create"]).output().unwrap();
    let help = format!("{}{}", String::from_utf8_lossy(&help.stdout), String::from_utf8_lossy(&help.stderr));
    let options: Vec<&str> = help
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .filter(|l| l.contains("FILENAME"))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(options.len() >= 30, "fiptool help create:\n{help}");
    let all = dir.path().join("all.fip");
    let mut cmd = Command::new("fiptool");
    cmd.arg("create");
    for o in &options {
        cmd.arg(format!("--{o}")).arg(&blob);
    }
    run_ok(cmd.arg(&all));
    let out = run_imager(["inspect".as_ref(), all.as_os_str()]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(!t.contains("(unknown)"), "{t}");
    for o in &options {
        assert!(t.lines().any(|l| l.trim_start().starts_with(&format!("{o} ")) || l.trim_start().starts_with(&format!("{o}\t"))), "no `{o}` in\n{t}");
    }
}

/// genimage's `partition-table-type = "mbr"`: an MBR-only disk is named, not "unknown".
#[test]
fn mbr_only_disk_is_named() {
    require("genimage");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("data.bin"), b"data").unwrap();
    let cfg = d.join("genimage.cfg");
    fs::write(
        &cfg,
        "image mbr.img {\n hdimage { partition-table-type = \"mbr\" }\n size = 4M\n partition data {\n  image = \"data.bin\"\n  offset = 1M\n  size = 1M\n  partition-type = 0x83\n }\n}\n",
    )
    .unwrap();
    for sub in ["out", "root"] {
        fs::create_dir_all(d.join(sub)).unwrap();
    }
    run_ok(
        Command::new("genimage")
            .arg("--config")
            .arg(&cfg)
            .arg("--inputpath")
            .arg(d)
            .arg("--outputpath")
            .arg(d.join("out"))
            .arg("--rootpath")
            .arg(d.join("root"))
            .arg("--tmppath")
            .arg(d.join("tmp")),
    );
    let img = d.join("out/mbr.img");
    let out = run_imager(["inspect".as_ref(), img.as_os_str()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!(
            "error[inspect::mbr_only]: {}: MBR partition table (0x55AA at 0x1fe), no GPT: the STM32MP boot ROM and TF-A need a GPT",
            img.display()
        )),
        "{t}"
    );
    assert!(!t.contains("unknown format"), "{t}");
}

/// A GPT laid out for 4096-byte sectors (its header at byte 4096) is named, not "unknown".
#[test]
fn gpt_with_4096_byte_sectors_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("4k.img");
    let mut bytes = vec![0u8; 1 << 20];
    bytes[510..512].copy_from_slice(&[0x55, 0xAA]);
    bytes[446 + 4] = 0xEE;
    bytes[4096..4104].copy_from_slice(b"EFI PART");
    fs::write(&img, &bytes).unwrap();
    let out = run_imager(["inspect".as_ref(), img.as_os_str()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("error[inspect::gpt_4k_sectors]") && t.contains("GPT with 4096-byte sectors") && t.contains("STM32MP media use 512"), "{t}");
}

/// The listings print what the files print: a layout's Id in upper hex (ST's FlashLayout files, this tool's template),
/// a partition's first byte in hex (as `check`'s table and flash.tsv give it).
#[test]
fn listings_use_the_files_hex() {
    let tsv = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/st-flashlayouts/scarthgap/FlashLayout_sdcard_stm32mp157f-ev1_sample.tsv");
    let layout = fs::read_to_string(&tsv).unwrap();
    assert!(layout.contains("\t0x0A\t"), "the fixture holds Id 0x0A");
    let t = text(&run_imager(["inspect".as_ref(), tsv.as_os_str()]));
    assert!(t.contains(" 0x0A ") && !t.contains(" 0x0a "), "{t}");

    let dir = tempfile::tempdir().unwrap();
    let img = sgdisk_image(dir.path(), &[]);
    let start = field(&sgdisk(&["-i", "2"], &img), "First sector: ").parse::<u64>().unwrap();
    let t = text(&run_imager(["inspect".as_ref(), img.as_os_str()]));
    assert!(t.contains("byte start"), "{t}");
    let row = t.lines().find(|l| l.contains("rootfs")).unwrap();
    assert!(row.contains(&format!(" {:#010x} ", start * 512)), "{t}");
}
