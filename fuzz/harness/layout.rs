//! Flash layout parser and linter (`inspect FILE.tsv`, and the check `build` runs on the layout it writes).
//!
//! Besides "no panic": the lines that parsed, rendered back through `templates/flash.tsv.j2`, parse to the same lines.
use stm32mp_imager::{
    flashlayout::{self, LintOptions},
    render,
};

/// Run one input.
pub fn run(data: &[u8]) {
    let parsed = flashlayout::parse("fuzz.tsv", data);
    let _ = flashlayout::lint("fuzz.tsv", &parsed.lines, &LintOptions::default());
    let _ = flashlayout::lint("fuzz.tsv", &parsed.lines, &LintOptions { emmc: vec![1], sdcard: vec![0] });
    if parsed.lines.is_empty() {
        return;
    }
    let text = render::flash_tsv(&parsed.lines).expect("parsed lines render");
    let again = flashlayout::parse("again.tsv", text.as_bytes());
    let strip = |l: &flashlayout::LayoutLine| flashlayout::LayoutLine { line: 0, ..l.clone() };
    assert_eq!(
        parsed.lines.iter().map(strip).collect::<Vec<_>>(),
        again.lines.iter().map(strip).collect::<Vec<_>>(),
        "rendering parsed lines and parsing them again changes them:\n{text}\n{:?}",
        again.problems
    );
}
