//! FIP table of contents: `parse_toc` against the real length and extreme ones, and the fip-chain stage check.
use stm32mp_imager::{
    board::Soc,
    inputs::{self, HEAD_LEN, InputFacts, StageRole, fip},
};

/// Run one input.
pub fn run(data: &[u8]) {
    let head = &data[..data.len().min(HEAD_LEN)];
    for len in [data.len() as u64, 0, u64::MAX] {
        match fip::parse_toc(head, len) {
            Ok(toc) => {
                for e in &toc.entries {
                    let _ = e.to_string();
                    assert!(e.offset.checked_add(e.size).is_some_and(|end| end <= len), "entry past the end accepted: {e}");
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    let facts = InputFacts::classify("fuzz.bin", "fuzz.bin".into(), data.len() as u64, head, None, None);
    let _ = facts.describe();
    for soc in [Soc::Stm32mp13, Soc::Stm32mp15, Soc::Stm32mp25] {
        let _ = inputs::check_stage(&facts, StageRole::Fip, soc);
    }
}
