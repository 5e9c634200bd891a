//! The layouts ST's generator makes (`tests/fixtures/st-generated/`, derived from meta-st-stm32mp): U-Boot's rules
//! accept each, and the derivation reproduces ST's own scarthgap samples in every column U-Boot reads.
mod common;

use std::{fs, path::PathBuf};

use common::*;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn columns_1_to_6(text: &str) -> Vec<String> {
    text.lines().map(|line| line.split('\t').take(6).collect::<Vec<_>>().join("\t")).collect()
}

#[test]
fn derived_ev1_layouts_equal_st_samples_in_columns_1_to_6() {
    for medium in ["sdcard", "emmc"] {
        let ours = fs::read_to_string(fixtures().join(format!("st-generated/FlashLayout_{medium}_stm32mp157f-ev1-optee.tsv"))).unwrap();
        let st = fs::read_to_string(fixtures().join(format!("st-flashlayouts/scarthgap/FlashLayout_{medium}_stm32mp157f-ev1_sample.tsv"))).unwrap();
        assert_eq!(columns_1_to_6(&ours), columns_1_to_6(&st), "{medium}");
    }
}

#[test]
fn generated_layouts_are_valid_for_stm32prog() {
    let mut files: Vec<_> = fs::read_dir(fixtures().join("st-generated"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "tsv"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 7);
    for f in &files {
        let out = run_imager([OsArg::from("inspect"), f.into()]);
        let t = text(&out);
        assert!(out.status.success(), "{}:\n{t}", f.display());
        assert!(t.contains("valid: U-Boot stm32prog accepts it"), "{}:\n{t}", f.display());
    }
}
