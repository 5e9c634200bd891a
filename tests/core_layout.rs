//! The flash layouts: snapshots of each shipped board's `flash.tsv`, the DK2 raw layout against the guide's, every
//! emitted layout through U-Boot's rules, `partitions` mode against the GPT, ST's own layouts through `inspect`.
mod common;

use std::{fs, path::Path, process::Command};

use common::*;
use stm32mp_imager::{
    flashlayout::{self, Ip, LintOptions, TsvOffset},
    gpt,
    units::{ByteSize, Offset},
};

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

/// Build `board` with the outputs next to the inputs (the default `--output`), return the workspace.
fn build_in_place(board: &Path) -> Workspace {
    let ws = Workspace::new();
    ws.standard_inputs();
    let out = run_imager([OsArg::from("build"), board.into(), "--images".into(), ws.images().into()]);
    assert!(out.status.success(), "{}", text(&out));
    ws
}

fn parse_clean(name: &str, bytes: &[u8]) -> Vec<flashlayout::LayoutLine> {
    let parsed = flashlayout::parse(name, bytes);
    let mut problems = parsed.problems;
    problems.extend(flashlayout::lint(name, &parsed.lines, &LintOptions::default()));
    assert!(problems.is_empty(), "{name} breaks U-Boot's rules: {problems:#?}");
    parsed.lines
}

/// Lines without their line numbers, for comparing layouts that differ only in comments and TAB runs.
fn strip(lines: &[flashlayout::LayoutLine]) -> Vec<flashlayout::LayoutLine> {
    lines
        .iter()
        .cloned()
        .map(|mut l| {
            l.line = 0;
            l
        })
        .collect()
}

#[test]
fn shipped_layouts_match_their_snapshots_and_u_boot_rules() {
    for board in ["stm32mp157c-dk2", "stm32mp157c-ev1", "stm32mp157c-dk2-fip"] {
        let ws = build_in_place(&shipped_board(&format!("{board}.toml")));
        let tsv = fs::read_to_string(ws.images().join("flash.tsv")).unwrap();
        let snapshot = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/snapshots/{board}.flash.tsv"));
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            fs::write(&snapshot, &tsv).unwrap();
        }
        let want = fs::read_to_string(&snapshot).unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_SNAPSHOTS=1 to create it)", snapshot.display()));
        assert_eq!(tsv, want, "{board}: flash.tsv differs from its snapshot");
        assert!(!tsv.lines().any(|l| l.ends_with('\t') || l.contains("\t\t") || l.contains(' ')), "{board}: stray whitespace:\n{tsv}");
        parse_clean(board, tsv.as_bytes());
    }
}

#[test]
fn dk2_raw_layout_is_exactly_the_guides() {
    let ws = build_in_place(&shipped_board("stm32mp157c-dk2.toml"));
    let tsv = fs::read_to_string(ws.images().join("flash.tsv")).unwrap();
    let data: Vec<&str> = tsv.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        data,
        [
            "-\t0x01\tfsbl1-boot\tBinary\tnone\t0x0\ttf-a-stm32mp157c-dk2.stm32",
            "-\t0x03\tssbl-boot\tBinary\tnone\t0x0\tu-boot.stm32",
            "P\t0x10\tsdcard\tRawImage\tmmc0\t0x0\tsdcard.img",
        ]
    );
    let guide = fs::read(fixtures().join("guide-dk2-flash.tsv")).unwrap();
    assert_eq!(strip(&parse_clean("guide", &guide)), strip(&parse_clean("ours", tsv.as_bytes())), "U-Boot reads ours as it reads the guide's");
}

#[test]
fn ev1_raw_layout_writes_tf_a_to_the_boot_partitions() {
    let ws = build_in_place(&shipped_board("stm32mp157c-ev1.toml"));
    let tsv = fs::read_to_string(ws.images().join("flash.tsv")).unwrap();
    let data: Vec<&str> = tsv.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        data,
        [
            "-\t0x01\tfsbl1-boot\tBinary\tnone\t0x0\ttf-a-stm32mp157c-ev1.stm32",
            "-\t0x03\tssbl-boot\tBinary\tnone\t0x0\tu-boot.stm32",
            "P\t0x04\tfsbl1\tBinary\tmmc1\tboot1\ttf-a-stm32mp157c-ev1.stm32",
            "P\t0x05\tfsbl2\tBinary\tmmc1\tboot2\ttf-a-stm32mp157c-ev1.stm32",
            "P\t0x10\temmc\tRawImage\tmmc1\t0x0\temmc.img",
        ]
    );
}

/// In `partitions` mode U-Boot builds the GPT from the layout: offsets, order and types must give our GPT.
fn assert_partitions_layout_matches_gpt(board_toml: &str, image: &str) {
    let ws = Workspace::new();
    ws.standard_inputs();
    let board = ws.board("b.toml", board_toml);
    let out = run_imager([OsArg::from("build"), board.into(), "--images".into(), ws.images().into()]);
    assert!(out.status.success(), "{}", text(&out));
    let tsv = fs::read(ws.images().join("flash.tsv")).unwrap();
    let lines = parse_clean("partitions", &tsv);
    let bytes = fs::read(ws.images().join(image)).unwrap();
    let decoded = gpt::decode(&bytes[..34 * 512], &bytes[bytes.len() - 33 * 512..], ByteSize::new(bytes.len() as u64));
    assert!(decoded.problems.is_empty(), "{:?}", decoded.problems);
    let mut on_device: Vec<_> = lines.iter().filter(|l| matches!(l.offset, TsvOffset::Addr(_)) && l.ip != Ip::None).collect();
    on_device.sort_by_key(|l| match l.offset {
        TsvOffset::Addr(a) => a,
        _ => Offset::ZERO,
    });
    assert_eq!(on_device.len(), decoded.entries.len(), "one layout line per GPT entry");
    for (line, entry) in on_device.iter().zip(&decoded.entries) {
        assert_eq!(line.offset, TsvOffset::Addr(entry.first_lba.offset()), "{}: layout offset = GPT start", line.name);
        assert_eq!(line.name, entry.name);
        assert_eq!(line.part_type.gpt_type(), Some(entry.type_guid), "{}: stm32prog would create type {:?}", line.name, line.part_type);
        assert_eq!(line.part_type == flashlayout::TsvType::System, entry.attributes & 4 != 0, "{}: bootable only on System", line.name);
        match line.binary.as_deref() {
            Some(binary) => assert!(ws.images().join(binary).exists(), "{binary} is relative to the layout's folder"),
            None => assert!(line.opt.empty && line.opt.delete, "{}: a partition without content is erased and left empty (PED)", line.name),
        }
    }
    // Ids: 0x01/0x03 programmer stages, 0x04-0x0F binary partitions, 0x10+ the rest, all distinct.
    for l in &lines {
        let binary_type = l.part_type.is_binary_range();
        match l.ip {
            Ip::None => assert!(l.id == 1 || l.id == 3),
            _ if binary_type => assert!((0x04..=0x0F).contains(&l.id), "{}: {:#x}", l.name, l.id),
            _ => assert!(l.id >= 0x10, "{}: {:#x}", l.name, l.id),
        }
    }
}

/// The FIP-chain DK2 (upstream Buildroot's image, all partitions Linux-typed) flashed partition by partition.
#[test]
fn fip_board_partitions_layout_builds_the_same_gpt() {
    let toml = fs::read_to_string(shipped_board("stm32mp157c-dk2-fip.toml")).unwrap().replace("mode = \"raw\"", "mode = \"partitions\"");
    assert!(toml.contains("mode = \"partitions\""));
    assert_partitions_layout_matches_gpt(&toml, "sdcard.img");
}

#[test]
fn dk2_trusted_partitions_layout_builds_the_same_gpt() {
    let toml = fs::read_to_string(shipped_board("stm32mp157c-dk2.toml")).unwrap().replace("mode = \"raw\"", "mode = \"partitions\"");
    assert_partitions_layout_matches_gpt(&toml, "sdcard.img");
}

#[test]
fn ev1_partitions_layout_uses_boot1_boot2_and_512k_offsets() {
    let toml = fs::read_to_string(shipped_board("stm32mp157c-ev1.toml")).unwrap().replace("mode = \"raw\"", "mode = \"partitions\"")
        + "\n[[partition]]\nname = \"u-boot-env\"\ntype = \"u-boot-env\"\nsize = \"512K\"\n";
    assert_partitions_layout_matches_gpt(&toml, "emmc.img");
}

/// Every binary a layout names, as a path relative to the layout's folder.
fn named_binaries(layout: &Path) -> Vec<String> {
    let lines = parse_clean("layout", &fs::read(layout).unwrap());
    let mut names: Vec<String> = lines.into_iter().filter_map(|l| l.binary).collect();
    names.sort();
    names.dedup();
    names
}

/// Issue 9: with `--output out`, `flash.tsv` pointed at `../images/…`, so copying `out/` elsewhere broke `flash`. Now
/// the output folder holds every binary its layout names, under plain file names, and can be moved.
#[test]
fn an_output_folder_is_self_contained_and_movable() {
    let ws = Workspace::new();
    ws.standard_inputs();
    let out = ws.build(&shipped_board("stm32mp157c-dk2.toml"));
    assert!(out.status.success(), "{}", text(&out));
    let tsv = fs::read_to_string(ws.out().join("flash.tsv")).unwrap();
    assert!(tsv.contains("\ttf-a-stm32mp157c-dk2.stm32\n") && !tsv.contains("../"), "{tsv}");
    assert!(tsv.contains("\tsdcard.img\n"), "{tsv}");
    assert!(text(&out).contains(&format!("wrote {}", ws.out().join("u-boot.stm32").display())), "{}", text(&out));
    for name in ["tf-a-stm32mp157c-dk2.stm32", "u-boot.stm32"] {
        let (placed, input) = (ws.out().join(name), ws.images().join(name));
        let built = fs::read(&input).unwrap();
        assert_eq!(fs::read(&placed).unwrap(), built, "{name} next to the layout is not the input");
        // A copy (or reflink), not a link: an input rebuilt in place (`cp` over it) leaves this build's set alone.
        fs::write(&input, b"rebuilt in place").unwrap();
        assert_eq!(fs::read(&placed).unwrap(), built, "{name} changed with its input");
    }
    // Moved elsewhere (the images folder out of reach), the layout still names only files beside it.
    let moved = ws.root().join("elsewhere");
    fs::rename(ws.out(), &moved).unwrap();
    fs::rename(ws.images(), ws.root().join("images-gone")).unwrap();
    for name in named_binaries(&moved.join("flash.tsv")) {
        assert!(!name.contains('/'), "{name} is not a plain file name");
        assert!(moved.join(&name).is_file(), "{name} is missing from the moved folder");
    }
    let inspect = run_imager([OsArg::from("inspect"), moved.join("flash.tsv").into()]);
    assert!(inspect.status.success(), "{}", text(&inspect));
}

/// Inputs in sub-folders (ST's `fip/fip-….bin`) are placed under their flattened path, in a separate output folder
/// and in the images folder itself, where a top-level file of the same base name is left alone.
#[test]
fn inputs_in_sub_folders_get_flattened_plain_names() {
    let ws = Workspace::new();
    ws.standard_inputs();
    fs::create_dir(ws.images().join("fip")).unwrap();
    make_fip(&ws.images().join("fip/fip.bin"));
    fs::write(ws.images().join("fip.bin"), b"another board's fip, not an input here").unwrap();
    let toml = fs::read_to_string(shipped_board("stm32mp157c-dk2-fip.toml")).unwrap().replace("fip = \"fip.bin\"", "fip = \"fip/fip.bin\"");
    assert!(toml.contains("fip/fip.bin"), "{toml}");
    let board = ws.board("b.toml", &toml);
    for (output, tsv) in [(Some(ws.out()), ws.out().join("flash.tsv")), (None, ws.images().join("flash.tsv"))] {
        let mut args = vec![OsArg::from("build"), board.clone().into(), "--images".into(), ws.images().into()];
        if let Some(o) = &output {
            args.extend(["--output".into(), o.into()]);
        }
        let out = run_imager(args);
        assert!(out.status.success(), "{}", text(&out));
        let folder = tsv.parent().unwrap();
        assert!(named_binaries(&tsv).contains(&"fip-fip.bin".to_string()), "{:?}", named_binaries(&tsv));
        assert_eq!(fs::read(folder.join("fip-fip.bin")).unwrap(), fs::read(ws.images().join("fip/fip.bin")).unwrap());
        for name in named_binaries(&tsv) {
            assert!(!name.contains('/') && folder.join(&name).is_file(), "{name} in {}", folder.display());
        }
    }
    assert_eq!(fs::read(ws.images().join("fip.bin")).unwrap(), b"another board's fip, not an input here", "a file that is no input was replaced");
}

/// Two inputs that would get one name next to the layout refuse the build, before anything is written.
#[test]
fn a_placed_name_taken_twice_is_refused() {
    let ws = Workspace::new();
    ws.standard_inputs();
    fs::create_dir(ws.images().join("fip")).unwrap();
    fs::copy(ws.images().join("fip.bin"), ws.images().join("fip/fip.bin")).unwrap();
    fs::copy(ws.images().join("fip.bin"), ws.images().join("fip-fip.bin")).unwrap();
    let toml = fs::read_to_string(shipped_board("stm32mp157c-dk2-fip.toml")).unwrap().replace("fip = \"fip.bin\"", "fip = \"fip/fip.bin\"")
        + "\n[[partition]]\nname = \"spare\"\nimage = \"fip-fip.bin\"\n";
    let out = run_imager([
        OsArg::from("build"),
        ws.board("b.toml", &toml).into(),
        "--images".into(),
        ws.images().into(),
        "--output".into(),
        ws.out().into(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out)
            .contains("input `fip/fip.bin` would be placed next to the layout as `fip-fip.bin`, which is already the name of input `fip-fip.bin`"),
        "{}",
        text(&out)
    );
    assert_eq!(fs::read_dir(ws.out()).unwrap().count(), 0, "something was written");
}

/// `build --dry-run` prints the job planned in the library — every piece of the image at its offset, the layout, the
/// binaries to place — and writes nothing, not even the missing output folder.
#[test]
fn build_dry_run_prints_the_job_and_writes_nothing() {
    let ws = Workspace::new();
    ws.standard_inputs();
    let before: Vec<_> = fs::read_dir(ws.images()).unwrap().map(|e| e.unwrap().file_name()).collect();
    let fresh = ws.root().join("fresh");
    let out = run_imager([
        OsArg::from("build"),
        shipped_board("stm32mp157c-dk2.toml").into(),
        "--images".into(),
        ws.images().into(),
        "--output".into(),
        fresh.clone().into(),
        "--dry-run".into(),
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for want in [
        "build job (nothing written)",
        "0x00000000  0x200      protective MBR",
        "0x00004400  ",
        "partition fsbl1 (tf-a-stm32mp157c-dk2.stm32)",
        "0x00284400  ",
        "partition rootfs (rootfs.ext4)",
        "backup GPT header",
        "P     0x10  sdcard      RawImage  mmc0  0x0     sdcard.img",
        "sdcard.img.bmap: block map",
        "u-boot.stm32: ",
    ] {
        assert!(t.contains(want), "`{want}` missing:\n{t}");
    }
    assert!(!fresh.exists(), "--dry-run created the output folder");
    let after: Vec<_> = fs::read_dir(ws.images()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(before, after, "--dry-run wrote into the images folder");
}

/// `check --json` (issue 9), parsed by serde_json and by `python3 -m json.tool`, against what `build` writes from the
/// same description: the GPT it encodes (read back with the decoder `inspect` uses), the layout, the inputs' SHA-256.
#[test]
fn check_json_is_the_plan_build_writes() {
    use serde_json::Value;
    use sha2::{Digest, Sha256};
    require("python3");
    for board in ["stm32mp157c-dk2.toml", "stm32mp157c-ev1.toml"] {
        let ws = build_in_place(&shipped_board(board));
        let out = run_imager([OsArg::from("check"), shipped_board(board).into(), "--images".into(), ws.images().into(), "--json".into()]);
        assert!(out.status.success(), "{}", text(&out));
        let tool = Command::new("python3")
            .args(["-m", "json.tool"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .and_then(|mut c| {
                std::io::Write::write_all(c.stdin.as_mut().unwrap(), &out.stdout)?;
                drop(c.stdin.take());
                c.wait()
            })
            .unwrap();
        assert!(tool.success(), "python3 -m json.tool refuses it");
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        assert_eq!(doc["schema"], 1);
        assert_eq!(doc["ok"], true);
        assert_eq!(doc["problems"], Value::Array(vec![]));
        let plan = &doc["plan"];
        let image = ws.images().join(plan["image"]["file"].as_str().unwrap());
        let bytes = fs::read(&image).unwrap();
        assert_eq!(plan["image"]["size"], bytes.len() as u64);
        let decoded = gpt::decode(&bytes[..34 * 512], &bytes[bytes.len() - 33 * 512..], ByteSize::new(bytes.len() as u64));
        assert_eq!(plan["image"]["disk_guid"], decoded.disk_guid.unwrap().to_string());
        assert_eq!(plan["image"]["first_usable_lba"], decoded.first_usable.unwrap().get());
        assert_eq!(plan["image"]["last_usable_lba"], decoded.last_usable.unwrap().get());
        let parts = plan["partitions"].as_array().unwrap();
        assert_eq!(parts.len(), decoded.entries.len());
        for (p, e) in parts.iter().zip(&decoded.entries) {
            assert_eq!(p["number"], e.number);
            assert_eq!(p["name"], e.name.as_str());
            assert_eq!(p["start"], e.first_lba.get() * 512);
            assert_eq!(p["end"], (e.last_lba.get() + 1) * 512);
            assert_eq!(p["size"], (e.last_lba.get() + 1 - e.first_lba.get()) * 512);
            assert_eq!((p["first_lba"].as_u64(), p["last_lba"].as_u64()), (Some(e.first_lba.get()), Some(e.last_lba.get())));
            assert_eq!(p["type_guid"], e.type_guid.to_string());
            assert_eq!(p["unique_guid"], e.unique_guid.to_string());
            assert_eq!(p["attributes"], e.attributes);
            assert_eq!(p["bootable"], e.attributes & 4 != 0);
            if let Some(file) = p["source"]["file"].as_str() {
                let content = fs::read(ws.images().join(file)).unwrap();
                assert_eq!(p["source"]["size"], content.len() as u64);
                assert_eq!(p["source"]["sha256"], hex::encode(Sha256::digest(&content)), "{file}");
            }
        }
        assert_eq!(plan["emmc_boot_partitions"].as_array().unwrap().len(), if board.contains("ev1") { 2 } else { 0 });
        // The layout lines are the ones `build` wrote into the images folder.
        let written = parse_clean("flash.tsv", &fs::read(ws.images().join("flash.tsv")).unwrap());
        let lines = plan["layout"]["lines"].as_array().unwrap();
        assert_eq!(lines.len(), written.len());
        for (j, l) in lines.iter().zip(&written) {
            assert_eq!(
                (j["opt"].as_str(), j["id"].as_u64(), j["name"].as_str()),
                (Some(l.opt.to_string().as_str()), Some(u64::from(l.id)), Some(l.name.as_str()))
            );
            assert_eq!((j["type"].as_str(), j["ip"].as_str()), (Some(l.part_type.to_string().as_str()), Some(l.ip.to_string().as_str())));
            match l.offset {
                TsvOffset::Addr(a) => assert_eq!((j["offset"].as_u64(), &j["hw_partition"]), (Some(a.get()), &Value::Null)),
                other => assert_eq!((&j["offset"], j["hw_partition"].as_str()), (&Value::Null, Some(other.to_string().as_str()))),
            }
            assert_eq!(j["binary"].as_str(), l.binary.as_deref());
        }
    }
}

/// A description with errors: exit status 1, and still one JSON document on stdout, with every problem placed.
#[test]
fn check_json_lists_every_problem_with_its_place() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/boards/err_many_problems.toml");
    let ws = Workspace::new();
    let out = run_imager([OsArg::from("check"), fixture.clone().into(), "--images".into(), ws.images().into(), "--json".into()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((doc["ok"].as_bool(), doc["plan"].is_null()), (Some(false), true));
    let problems = doc["problems"].as_array().unwrap();
    let unknown = problems.iter().find(|p| p["code"] == "board::unknown_key").expect("board::unknown_key");
    assert_eq!((unknown["severity"].as_str(), unknown["line"].as_u64(), unknown["column"].as_u64()), (Some("error"), Some(4), Some(1)));
    assert_eq!(unknown["file"].as_str(), Some(fixture.display().to_string().as_str()));
    assert!(unknown["message"].as_str().unwrap().contains("unknown key `colour` in [board]"));
    assert!(problems.iter().any(|p| p["code"] == "input::missing"), "{problems:?}");
    assert!(problems.iter().all(|p| p["code"].is_string() && p["message"].is_string() && p["severity"].is_string()));
}

/// A file that is not a description at all (not UTF-8, or over 1 MiB) still gets its JSON document, with one
/// problem: scripts piping `check --json` to a JSON reader never see an empty stdout. Regression: nothing was printed.
#[test]
fn check_json_documents_a_file_that_is_not_text() {
    let ws = Workspace::new();
    let not_utf8 = ws.root().join("binary.toml");
    fs::write(&not_utf8, b"x = \"\xff\"\n").unwrap();
    let huge = ws.root().join("huge.toml");
    fs::write(&huge, vec![b'#'; (1 << 20) + 1]).unwrap();
    for (file, words) in [(&not_utf8, "not UTF-8 text (byte 0x5)"), (&huge, "more than 1048576 bytes")] {
        let out = run_imager([OsArg::from("check"), file.into(), "--images".into(), ws.images().into(), "--json".into()]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!((doc["ok"].as_bool(), doc["plan"].is_null()), (Some(false), true));
        let problems = doc["problems"].as_array().unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0]["code"], "board::not_text");
        assert!(problems[0]["message"].as_str().unwrap().contains(words), "{problems:?}");
    }
}

#[test]
fn st_sample_layouts_are_all_valid() {
    let mut files: Vec<_> = walkdir::WalkDir::new(fixtures().join("st-flashlayouts"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "tsv"))
        .map(|e| e.path().to_path_buf())
        .collect();
    files.sort();
    assert_eq!(files.len(), 8);
    for f in &files {
        let out = run_imager([OsArg::from("inspect"), f.into()]);
        let t = text(&out);
        assert!(out.status.success(), "{}:\n{t}", f.display());
        assert!(t.contains("valid: U-Boot stm32prog accepts it"), "{t}");
        assert!(!t.contains("warning["), "{t}");
    }
}

#[test]
fn inspect_names_the_line_of_a_broken_layout() {
    let ws = Workspace::new();
    let bad = ws.root().join("bad.tsv");
    fs::write(&bad, "#Opt\tId\tName\tType\tIP\tOffset\tBinary\n-\t0x01\tfsbl1-boot\tBinary\tnone\t0x0\ttf-a.stm32\nP\t0x10\tsdcard\tRawImage\tmmc0\t0x0\tsdcard.img\t\n").unwrap();
    let out = run_imager([OsArg::from("inspect"), bad.clone().into()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains(&format!("error[layout::trailing_tab]: {}:3:", bad.display())), "{t}");
    fs::write(&bad, "P\t0x10\tsdcard\tRawImage\tmmc0\t0x0\tsdcard.img\nP\t0x10\trootfs\tSystem\tmmc0\t0x4400\trootfs.ext4\n").unwrap();
    let out = run_imager([OsArg::from("inspect"), bad.clone().into()]);
    assert!(text(&out).contains(&format!("error[layout::duplicate_id]: {}:2: Layout: duplicated phase 0x10", bad.display())), "{}", text(&out));
}

#[test]
fn inspect_reads_stm32_and_fip_files() {
    let ws = Workspace::new();
    ws.standard_inputs();
    let out = run_imager([OsArg::from("inspect"), ws.images().join("u-boot.stm32").into(), ws.images().join("fip.bin").into()]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for want in
        ["STM32 image", "header version   v1.0", "load address     0xc0100000", "checksum         ok", "FIP,", "nt-fw (BL33)", "tos-fw (BL32)"]
    {
        assert!(t.contains(want), "`{want}` missing:\n{t}");
    }
    // mkimage's own reading of the same header agrees with ours.
    require("mkimage");
    let l = run_ok(Command::new("mkimage").arg("-l").arg(ws.images().join("u-boot.stm32")));
    let mk = String::from_utf8_lossy(&l.stdout);
    let checksum = mk.lines().find_map(|l| l.strip_prefix("Checksum     : ")).unwrap().trim().to_lowercase();
    assert!(t.contains(&format!("image_checksum   {checksum}")), "mkimage says {checksum}:\n{t}");
}

/// Review 8: an input named like the layout (`flash.tsv`) in `partitions` mode passed `check`, and `build` refused it
/// without a location. Now both report one error at the input's name in the description, and nothing is written.
#[test]
fn an_input_named_like_the_layout_is_refused_by_check_and_build_at_the_input() {
    let ws = Workspace::new();
    ws.standard_inputs();
    fs::copy(ws.images().join("rootfs.ext4"), ws.images().join("flash.tsv")).unwrap();
    let toml = fs::read_to_string(shipped_board("stm32mp157c-dk2.toml")).unwrap().replace("mode = \"raw\"", "mode = \"partitions\"")
        + "\n[[partition]]\nname = \"spare\"\nimage = \"flash.tsv\"\n";
    let board = ws.board("b.toml", &toml);
    let line = toml.lines().position(|l| l == "image = \"flash.tsv\"").unwrap() + 1;
    let prefix = format!("error[plan::output_name_clash]: {}:{line}:9: ", board.display());
    for command in ["check", "build"] {
        let out = run_imager(
            [OsArg::from(command), board.clone().into(), "--images".into(), ws.images().into(), "--output".into(), ws.out().into()]
                .into_iter()
                .take(if command == "check" { 4 } else { 6 }),
        );
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{command}: {t}");
        let hit = t.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("{command}: no `{prefix}` in:\n{t}"));
        assert!(hit.contains("input `flash.tsv` would be placed next to the layout as `flash.tsv`, which is already the name of the layout"), "{t}");
        assert_eq!(t.lines().filter(|l| l.starts_with("error[")).count(), 1, "{command}: {t}");
    }
    assert_eq!(fs::read_dir(ws.out()).map_or(0, Iterator::count), 0, "something was written");
}
