//! The rules of today's flows, each on a fixture that breaks it (`tests/fixtures/boards/st_*.toml`), run through
//! `check` on the committed sample inputs (`samples/`): the code, where it points (`file:line:column`) and what the
//! message says, with no other error for the same cause. Then the per-line controls (`opt`, `id`, `legacy_types`,
//! `auto`) as the layout U-Boot reads shows them.
mod common;

use std::{
    fs,
    path::{Path, PathBuf},
};

use common::*;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/boards").join(name)
}

/// `check` a fixture on the samples: `severity[code]` at `line:col` with `fragments`; the exit status is 1 when an
/// error is expected, 0 otherwise; no other error or warning than `code`.
fn reports(file: &str, severity: &str, code: &str, line_col: &str, fragments: &[&str]) -> String {
    let board = fixture(file);
    let out = run_imager([OsArg::from("check"), board.clone().into(), "--images".into(), repo().join("samples").into()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(if severity == "error" { 1 } else { 0 }), "exit status for {file}:\n{t}");
    let prefix = format!("{severity}[{code}]: {}:{line_col}: ", board.display());
    let line = t.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no `{prefix}` in:\n{t}"));
    for f in fragments {
        assert!(line.contains(f) || t.contains(f), "`{f}` missing from:\n{t}");
    }
    let others: Vec<&str> =
        t.lines().filter(|l| (l.starts_with("error[") || l.starts_with("warning[")) && !l.contains(&format!("[{code}]"))).collect();
    assert!(others.is_empty(), "{file}: one cause, one problem; also got {others:#?}");
    t
}

#[test]
fn fwu_needs_the_fip_chain() {
    reports("st_err_fwu_trusted.toml", "error", "board::conflicting_keys", "7:7", &["`fwu = true` needs `chain = \"fip\"`"]);
}

#[test]
fn fwu_needs_current_layout_types() {
    reports(
        "st_err_legacy_fwu.toml",
        "error",
        "board::conflicting_keys",
        "16:16",
        &["U-Boot before 2022.07 has no `FIP` or `FWU_MDATA` layout type", "remove `legacy_types`"],
    );
}

#[test]
fn a_boot_slot_cannot_fill() {
    reports(
        "st_err_fill_boot_slot.toml",
        "error",
        "board::bad_size",
        "10:12",
        &["`fip_size = \"fill\"`: only the last [[partition]] can fill the storage", "`\"auto\"`"],
    );
}

#[test]
fn a_layout_id_outside_the_partition_range() {
    reports(
        "st_err_bad_id.toml",
        "error",
        "board::bad_value",
        "21:6",
        &["`id` must be a layout Id from 0x04 to 0xF0", "0x01–0x03 are the programmer's RAM lines"],
    );
}

#[test]
fn mp25_needs_its_ddr_firmware_fip() {
    reports(
        "st_err_mp25_ddr_fip.toml",
        "error",
        "plan::mp25_ddr_fip",
        "3:7",
        &["loads the DDR firmware FIP on Id 0x02 (`fip-ddr`)", "fip_ddr = \"fip-<board>-ddr-optee-<medium>.bin\""],
    );
}

#[test]
fn only_mp25_has_a_ddr_firmware_fip() {
    reports("st_err_fip_ddr_soc.toml", "error", "plan::fip_ddr_soc", "12:11", &["stm32mp15 has no separate DDR firmware FIP"]);
}

#[test]
fn fill_needs_the_storage_size() {
    reports(
        "st_err_fill_needs_size.toml",
        "error",
        "plan::fill_needs_size",
        "17:8",
        &["`size = \"fill\"` but the storage's size is not given", "blockdev --getsize64"],
    );
}

#[test]
fn only_the_last_partition_fills() {
    reports(
        "st_err_fill_not_last.toml",
        "error",
        "plan::fill_not_last",
        "18:8",
        &["partition `rootfs` has `size = \"fill\"` but `userfs` comes after it"],
    );
}

#[test]
fn opt_agrees_with_the_content() {
    let t = reports(
        "st_err_bad_opt.toml",
        "error",
        "plan::bad_opt",
        "18:1",
        &["partition `rootfs` has `opt = \"PE\"` (left empty) but `image = \"rootfs.ext4\"`"],
    );
    assert!(t.contains("partition `data` has `opt = \"P\"` but no `image` to program"), "{t}");
}

#[test]
fn explicit_ids_are_unique() {
    reports("st_err_duplicate_id.toml", "error", "plan::duplicate_id", "27:6", &["partition `userfs` has `id = 0x20`, already the Id of `rootfs`"]);
}

#[test]
fn file_systems_keep_out_of_the_boot_loader_ids() {
    reports(
        "st_err_id_range.toml",
        "error",
        "plan::id_range",
        "21:6",
        &["partition `rootfs` is a `FileSystem` line with `id = 0x0b`", "use an Id from 0x10 to 0xF0"],
    );
}

#[test]
fn line_keys_do_nothing_in_raw_mode() {
    reports("st_warn_raw_mode_keys.toml", "warning", "plan::raw_mode_keys", "18:6", &["`id` has no effect in `raw` mode"]);
}

#[test]
fn a_last_partition_other_than_stm32progs_is_a_warning() {
    reports(
        "st_warn_last_partition_differs.toml",
        "warning",
        "plan::last_partition_differs",
        "19:1",
        &["partition `rootfs` ends at 0x4984400, but a USB flash in `partitions` mode runs it to 0x3fffba00", "write `size = \"fill\"`"],
    );
}

#[test]
fn legacy_types_cannot_express_env() {
    let t =
        reports("st_warn_legacy_types.toml", "warning", "plan::layout_type", "18:1", &["for U-Boot before 2022.07 (`legacy_types`) cannot express"]);
    // The fip itself is `binary` by default with legacy types: no warning for it.
    assert!(!t.contains("partition `fip` has type"), "{t}");
}

fn build(dir: &Path, name: &str, toml: &str) -> (String, String) {
    let board = dir.join(name);
    fs::write(&board, toml).unwrap();
    let out = dir.join(format!("out-{name}"));
    let run =
        run_imager([OsArg::from("build"), board.into(), "--images".into(), repo().join("samples").into(), "--output".into(), out.clone().into()]);
    assert!(run.status.success(), "{}", text(&run));
    (fs::read_to_string(out.join("flash.tsv")).unwrap(), text(&run))
}

/// `opt`, `id` and `auto` shape the layout as written; the counted Ids skip the explicit ones.
#[test]
fn line_controls_shape_the_layout() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "{}\n[[partition]]\nname = \"rootfs\"\nimage = \"rootfs.ext4\"\nsize = \"auto\"\nid = 0x11\nopt = \"PD\"\n\n[[partition]]\nname = \"data\"\nsize = \"1M\"\n\n[[partition]]\nname = \"esp\"\ntype = \"esp\"\nsize = \"1M\"\nid = 0x30\n",
        fs::read_to_string(fixture("st_err_fip_ddr_soc.toml"))
            .unwrap()
            .replace("[programmer]\nfip_ddr = \"fip-stm32mp257f-dk-ddr-optee-sdcard.bin\"\n", "[flash]\nmode = \"partitions\"\n")
    );
    let (tsv, _) = build(dir.path(), "controls.toml", &toml);
    let lines: Vec<&str> = tsv.lines().collect();
    assert!(lines.contains(&"PD\t0x11\trootfs\tFileSystem\tmmc0\t0x00984400\trootfs.ext4"), "{tsv}");
    // `auto`: rootfs.ext4 (8 MiB) rounded up to 512 bytes, so `data` starts right after it.
    assert!(lines.contains(&"PED\t0x10\tdata\tFileSystem\tmmc0\t0x01184400\tnone"), "{tsv}");
    assert!(lines.contains(&"PED\t0x30\tesp\tESP\tmmc0\t0x01284400\tnone"), "{tsv}");
    let parsed = stm32mp_imager::flashlayout::parse("t", tsv.as_bytes());
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
}

/// `[flash] legacy_types`: the FIP is written as `Binary` (the RAM line too), as ST's dunfell layouts have it, and its
/// GPT type is then stm32prog's for `Binary`, so a `partitions` flash by an older U-Boot writes this GPT.
#[test]
fn legacy_types_write_the_fip_as_binary() {
    let dir = tempfile::tempdir().unwrap();
    let toml = fs::read_to_string(fixture("st_warn_legacy_types.toml"))
        .unwrap()
        .replace("[[partition]]\nname = \"u-boot-env\"\ntype = \"u-boot-env\"\nsize = \"512K\"\n\n", "");
    let (tsv, log) = build(dir.path(), "legacy.toml", &toml);
    assert!(!log.contains("warning["), "{log}");
    let dunfell = fs::read_to_string(repo().join("tests/fixtures/st-flashlayouts/dunfell/FlashLayout_sdcard_stm32mp157c-ev1_sample.tsv")).unwrap();
    assert!(dunfell.contains("-\t0x03\tfip-boot\tBinary\tnone\t0x0\t"));
    assert!(tsv.contains("-\t0x03\tfip-boot\tBinary\tnone\t0x0\tfip-stm32mp157f-dk2-optee.bin\n"), "{tsv}");
    assert!(tsv.contains("P\t0x06\tfip\tBinary\tmmc0\t0x00084400\tfip-stm32mp157f-dk2-optee.bin\n"), "{tsv}");
    let image = dir.path().join("out-legacy.toml/sdcard.img");
    assert_eq!(sgdisk_info(&image, 3).type_guid, "8DA63339-0007-60C0-C436-083AC8230908", "stm32prog's type for `Binary`");
}

#[test]
fn nand_and_nor_keep_a_clear_error() {
    reports(
        "st_err_nand.toml",
        "error",
        "board::bad_value",
        "12:9",
        &["`media = \"nand\"`: NAND and NOR flash are not supported", "they have no GPT"],
    );
}

/// Review 6: the trusted chain on STM32MP25 also drew the DDR FIP requirement and a header-version error on
/// `u-boot.stm32`, both consequences of the refused chain.
#[test]
fn a_refused_chain_draws_nothing_that_depends_on_it() {
    reports("st_err_trusted_on_mp25.toml", "error", "plan::chain_soc", "6:9", &["`chain = \"trusted\"` does not exist on stm32mp25"]);
}

/// Review 5: a gap after the fip said "set `size = …` on `fip`"; the fip is sized by `fip_size` in [boot].
#[test]
fn a_gap_after_a_boot_slot_names_its_key() {
    let t = reports(
        "st_warn_layout_gap_boot_slot.toml",
        "warning",
        "plan::layout_gap",
        "8:7",
        &["partition `fip` ends at 0x484400", "set `fip_size = \"0xf7bc00\"` in [boot]"],
    );
    assert!(!t.contains("`size = \"0xf7bc00\"` on `fip`"), "{t}");
}
