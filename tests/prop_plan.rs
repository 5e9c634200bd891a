//! Property tests of the pure pipeline (issue 6), many cases: random valid board descriptions plan without error to
//! the placement the documented rules give, with partitions that never overlap, a GPT that decodes back to the plan
//! and a layout whose offsets equal the GPT starts; random invalid descriptions give an error, never a panic.
mod common;
mod reliability;

use proptest::{prelude::*, test_runner::RngSeed};
use reliability::model::{self, BoardSpec};
use stm32mp_imager::{
    board::{self, FlashMode},
    diag::{self, Problem, SourceFile, Style},
    flashlayout::{self, LintOptions, TsvOffset, TsvType},
    gpt,
    job::{self, BinaryPaths, layout},
    plan::{self, InputSet},
    render,
    units::Offset,
};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, rng_seed: RngSeed::Fixed(0x5732_6d70), failure_persistence: None, ..ProptestConfig::default() }
}

fn errors(problems: &[Problem]) -> Vec<String> {
    problems.iter().filter(|p| p.is_error()).map(ToString::to_string).collect()
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn valid_descriptions_plan_as_documented(spec in model::board(6, 64 << 20, None, None)) {
        let toml = spec.toml();
        let (board, problems) = board::parse_board(&toml);
        prop_assert!(errors(&problems).is_empty(), "{:?}\n{toml}", errors(&problems));
        let board = board.unwrap();
        let inputs = spec.synthetic_inputs(&board);
        let outcome = plan::plan(&board, &inputs);
        prop_assert!(errors(&outcome.problems).is_empty(), "{:?}\n{toml}", errors(&outcome.problems));
        let plan = outcome.plan.unwrap();

        // Where the documented rules put everything.
        let placed: Vec<(String, u64, u64)> = plan.partitions.iter().map(|p| (p.name.clone(), p.start.get(), p.size.get())).collect();
        let mut expected = spec.placement();
        expected.sort_by_key(|(_, s, _)| *s);
        prop_assert_eq!(&placed, &expected, "{}", toml);
        prop_assert_eq!(plan.disk.size.get(), spec.image_size());

        // Numbered in disk order, never overlapping, inside the usable area.
        let first = if spec.emmc { 0x8_0000 } else { 0x4400 };
        for (i, p) in plan.partitions.iter().enumerate() {
            prop_assert_eq!(p.number as usize, i + 1);
            prop_assert!(p.start.get() >= first);
            prop_assert!(p.end().get() <= plan.disk.size.get() - model::BACKUP_GPT, "{} ends in the backup GPT", p.name);
        }
        for w in plan.partitions.windows(2) {
            prop_assert!(w[0].end() <= w[1].start, "{} overlaps {}", w[0].name, w[1].name);
        }

        // The GPT decodes back to the plan.
        let enc = gpt::encode(&job::gpt_table(&plan));
        let head = [enc.mbr.as_slice(), &enc.primary_header, &enc.entries].concat();
        let tail = [enc.entries.as_slice(), &enc.backup_header].concat();
        let dec = gpt::decode(&head, &tail, plan.disk.size);
        prop_assert!(dec.problems.is_empty(), "{:?}", dec.problems);
        let decoded: Vec<(String, u64, u64)> = dec.entries.iter().map(|e| (e.name.clone(), e.first_lba.get() * 512, (e.last_lba.get() + 1 - e.first_lba.get()) * 512)).collect();
        prop_assert_eq!(&decoded, &placed);

        // The layout U-Boot reads: accepted, and its offsets are the GPT starts.
        let tsv = render::flash_tsv(&layout::lines(&plan, &BinaryPaths::beside(&plan))).unwrap();
        let parsed = flashlayout::parse("flash.tsv", tsv.as_bytes());
        let mut lp = parsed.problems.clone();
        lp.extend(flashlayout::lint("flash.tsv", &parsed.lines, &LintOptions::default()));
        prop_assert!(errors(&lp).is_empty(), "{:?}\n{}", errors(&lp), tsv);
        let mut checked = 0;
        for line in &parsed.lines {
            match (line.part_type, line.offset) {
                (TsvType::RawImage, off) => prop_assert_eq!(off, TsvOffset::Addr(Offset::ZERO)),
                (_, TsvOffset::Addr(a)) if line.ip != flashlayout::Ip::None => {
                    let p = plan.partition(&line.name).unwrap();
                    prop_assert_eq!(a, p.start, "layout offset of {} differs from its GPT start", line.name);
                    checked += 1;
                }
                _ => {}
            }
        }
        if plan.flash_mode == FlashMode::Partitions {
            prop_assert_eq!(checked, plan.partitions.len());
        }

        // The rest of what check and build derive from a plan.
        let _ = render::genimage_cfg(&plan).unwrap();
        let _ = plan.transfer_bytes(FlashMode::Raw).saturating_add(plan.transfer_bytes(FlashMode::Partitions));
        prop_assert_eq!(plan::plan(&board, &inputs).plan, Some(plan), "planning is not deterministic");
    }
}

/// One way to break a valid description; each must be reported as an error.
fn mutate(spec: &BoardSpec, which: usize) -> (String, InputSet) {
    use toml_edit::{DocumentMut, Item, Table, value};
    let mut doc: DocumentMut = spec.toml().parse().unwrap();
    let huge = "0xFFFFFFFFFFFFFE00";
    let add_part = |doc: &mut DocumentMut, keys: &[(&str, Item)]| {
        let mut t = Table::new();
        for (k, v) in keys {
            t.insert(k, v.clone());
        }
        if doc.get("partition").is_none() {
            doc["partition"] = Item::ArrayOfTables(toml_edit::ArrayOfTables::new());
        }
        doc["partition"].as_array_of_tables_mut().unwrap().push(t);
    };
    match which {
        0 => drop(doc["board"].as_table_mut().unwrap().remove("name")),
        1 => drop(doc["board"].as_table_mut().unwrap().remove("soc")),
        2 => drop(doc["boot"].as_table_mut().unwrap().remove("chain")),
        3 => drop(doc["boot"].as_table_mut().unwrap().remove("fsbl")),
        4 => drop(doc["storage"].as_table_mut().unwrap().remove("media")),
        5 => doc["storage"]["sise"] = value("64M"),
        6 => doc["storage"]["media"] = value(1),
        7 => doc["board"]["soc"] = value("stm32mp99"),
        8 => {
            add_part(&mut doc, &[("name", value("twin")), ("size", value("1M"))]);
            add_part(&mut doc, &[("name", value("twin")), ("size", value("1M"))]);
        }
        9 => add_part(&mut doc, &[("name", value("a-name-too-long-x")), ("size", value("1M"))]),
        10 => add_part(&mut doc, &[("name", value("early")), ("size", value("1M")), ("offset", value("0x4400"))]),
        11 => add_part(&mut doc, &[("name", value("odd")), ("size", value("1M")), ("offset", value("0x40000201"))]),
        12 => doc["storage"]["size"] = value("0x10000"),
        13 => add_part(&mut doc, &[("name", value("ragged")), ("size", value(1000))]),
        14 => add_part(&mut doc, &[("name", value("neg")), ("size", value(-5))]),
        15 => add_part(&mut doc, &[("name", value("u")), ("size", value("1M")), ("uuid", value("not-a-guid"))]),
        16 => add_part(&mut doc, &[("name", value("t")), ("size", value("1M")), ("type", value("ext9"))]),
        17 => {
            doc["board"]["soc"] = value("stm32mp13");
            doc["boot"]["chain"] = value("trusted");
            doc["boot"]["ssbl"] = value("u-boot.stm32");
            doc["boot"].as_table_mut().unwrap().remove("fip");
            doc["boot"].as_table_mut().unwrap().remove("fip_size");
        }
        18 => add_part(&mut doc, &[("name", value("far")), ("size", value("1M")), ("offset", value(huge))]),
        19 => add_part(&mut doc, &[("name", value("vast")), ("size", value(huge))]),
        20 => add_part(&mut doc, &[("name", value("vast")), ("size", value("1M")), ("offset", value("0xFFFFFFFFFFFFF000"))]),
        21 => add_part(&mut doc, &[("name", value("nothing"))]),
        22 => add_part(&mut doc, &[("name", value("my part")), ("size", value("1M"))]),
        23 => add_part(&mut doc, &[("name", value("escape")), ("image", value("../etc/passwd"))]),
        24 => doc["storage"]["image"] = value("../disk.img"),
        25 => doc["storage"]["align"] = value(if spec.emmc { "4K" } else { "100" }),
        26 => add_part(&mut doc, &[("name", value("absent")), ("image", value("absent.bin"))]),
        27 => doc["storage"]["size"] = value(huge),
        28 => doc["boot"][if spec.fip { "fip_size" } else { "ssbl_size" }] = value("0x200"),
        29 => add_part(&mut doc, &[("name", value(if spec.soc == "stm32mp25" { "fsbla1" } else { "fsbl1" })), ("size", value("1M"))]),
        30 => add_part(&mut doc, &[("name", value("zero")), ("size", value(0))]),
        31 => add_part(&mut doc, &[("name", value("hollow")), ("image", value("empty.bin"))]),
        _ => unreachable!(),
    }
    let text = doc.to_string();
    let (board, _) = board::parse_board(&text);
    let mut inputs = board.as_ref().map(|b| spec.synthetic_inputs_lenient(b)).unwrap_or_default();
    if which == 31 {
        let facts = stm32mp_imager::inputs::InputFacts::classify("empty.bin", "empty.bin".into(), 0, &[], None, None);
        inputs.facts.insert("empty.bin".into(), facts);
    }
    if which == 26 {
        inputs.facts.remove("absent.bin");
        inputs.missing.insert("absent.bin".into(), "not found".into());
    }
    (text, inputs)
}

/// Parse + plan as `check` does, rendering the problems both ways (plain for logs, miette for terminals).
fn problems_of(text: &str, inputs: &InputSet) -> Vec<Problem> {
    let source = SourceFile::new("b.toml", text);
    let (board, mut problems) = board::parse_board(text);
    if let Some(b) = &board {
        let outcome = plan::plan(b, inputs);
        if let Some(plan) = &outcome.plan {
            let _ = plan.transfer_bytes(FlashMode::Raw);
        }
        problems.extend(outcome.problems);
    }
    let _ = diag::render(&problems, Some(&source), Style::Plain);
    let _ = diag::render(&problems, Some(&source), Style::Fancy);
    problems
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn invalid_descriptions_give_an_error_not_a_panic(spec in model::board(4, 8 << 20, None, None), which in 0usize..32) {
        let (text, inputs) = mutate(&spec, which);
        let problems = problems_of(&text, &inputs);
        prop_assert!(diag::has_errors(&problems), "mutation {which} was accepted:\n{text}");
    }

    #[test]
    fn any_text_gives_problems_not_a_panic(text in "\\PC{0,400}") {
        let _ = problems_of(&text, &InputSet::default());
    }

    #[test]
    fn damaged_descriptions_give_problems_not_a_panic(spec in model::board(4, 8 << 20, None, None), cut in 0usize..2000, junk in "[\\[\\]=\"#a-z0-9 \n.-]{0,12}") {
        let text = spec.toml();
        let cut = cut.min(text.len());
        let damaged = format!("{}{junk}{}", &text[..cut], &text[cut..]);
        let (board, _) = board::parse_board(&damaged);
        let inputs = board.as_ref().map(|b| spec.synthetic_inputs_lenient(b)).unwrap_or_default();
        let _ = problems_of(&damaged, &inputs);
    }
}

fn plan_problems(text: &str, sizes: &[(&str, u64)]) -> Vec<Problem> {
    let (board, mut problems) = board::parse_board(text);
    let board = board.expect("parses");
    let mut inputs = InputSet::default();
    for (name, size) in sizes {
        let head = if name.ends_with(".stm32") { model::stm32_head(*size, 0x0001_0000) } else { b"data".to_vec() };
        let sum = head.starts_with(b"STM2").then_some(0);
        let head = &head[..head.len().min(usize::try_from(*size).unwrap())];
        inputs.facts.insert((*name).to_string(), stm32mp_imager::inputs::InputFacts::classify(name, (*name).into(), *size, head, sum, None));
    }
    let outcome = plan::plan(&board, &inputs);
    if let Some(p) = &outcome.plan {
        let _ = p.transfer_bytes(FlashMode::Raw);
    }
    problems.extend(outcome.problems);
    problems
}

const DK2: &str = "[board]\nname = \"dk2\"\nsoc = \"stm32mp15\"\n[boot]\nchain = \"trusted\"\nfsbl = \"tf-a.stm32\"\nssbl = \"u-boot.stm32\"\n[storage]\nmedia = \"sdcard\"\n";

/// Found by the property test: `size = 0`, or an empty input sizing its own partition, planned a GPT entry that ends
/// before it begins (`sgdisk -v`: "partition 5 ends before it begins"); now `plan::empty_partition`.
#[test]
fn a_zero_byte_partition_is_refused() {
    let inputs = [("tf-a.stm32", 50_000), ("u-boot.stm32", 300_000), ("empty.bin", 0)];
    for part in ["name = \"zero\"\nsize = 0", "name = \"hollow\"\nimage = \"empty.bin\""] {
        let problems = plan_problems(&format!("{DK2}[[partition]]\n{part}\n"), &inputs);
        let p = problems.iter().find(|p| p.code == "plan::empty_partition").unwrap_or_else(|| panic!("{part}: {problems:?}"));
        assert!(p.is_error() && p.message.contains("0 bytes"), "{p}");
    }
}

/// Found by the property test: a 16 EiB `[storage] size` planned without error, then `check`'s transfer estimate
/// overflowed (a panic in debug builds). Now the size is refused and the estimate saturates.
#[test]
fn an_image_larger_than_a_file_is_refused() {
    let problems = plan_problems(&format!("{DK2}size = \"0xFFFFFFFFFFFFFE00\"\n"), &[("tf-a.stm32", 50_000), ("u-boot.stm32", 300_000)]);
    assert!(problems.iter().any(|p| p.code == "plan::image_too_large" && p.is_error()), "{problems:?}");
}

/// Found by measuring the planner on large descriptions: 3000 `[[partition]]` at one offset made 4.5 million
/// overlap problems (35 s, 4.6 GB in a release build; a 1 MiB description would exhaust memory). Beyond the 128 a
/// GPT holds, the pairwise rules are skipped and the description is refused with `plan::too_many_partitions`.
#[test]
fn thousands_of_overlapping_partitions_are_refused_without_quadratic_work() {
    let parts: String = (0..3000).map(|i| format!("[[partition]]\nname = \"p{i}\"\nsize = \"1M\"\noffset = \"0x1000000\"\n")).collect();
    let started = std::time::Instant::now();
    let problems = plan_problems(&format!("{DK2}{parts}"), &[("tf-a.stm32", 50_000), ("u-boot.stm32", 300_000)]);
    assert!(problems.iter().any(|p| p.code == "plan::too_many_partitions"), "{:?}", &problems[..problems.len().min(5)]);
    assert!(problems.len() < 10_000, "{} problems", problems.len());
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
}
