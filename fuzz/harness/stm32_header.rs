//! STM32 image header: `parse_header`, `verify_payload`, and the checks a boot stage's file goes through.
use stm32mp_imager::{
    board::Soc,
    inputs::{self, HEAD_LEN, InputFacts, StageRole, stm32},
};

/// Run one input.
pub fn run(data: &[u8]) {
    let head = &data[..data.len().min(HEAD_LEN)];
    let mut sum = None;
    match stm32::parse_header(head) {
        Ok(h) => {
            let payload = data.get(usize::try_from(h.header_len).unwrap_or(usize::MAX)..).unwrap_or(&[]);
            let s = stm32::payload_checksum(payload);
            sum = Some(s);
            let verdict = stm32::verify_payload(&h, data.len() as u64, s);
            if let Err(e) = verdict {
                let _ = e.to_string();
            }
            let _ = stm32::verify_payload(&h, u64::MAX, s);
            let _ = stm32::verify_payload(&h, 0, s);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let facts = InputFacts::classify("fuzz.stm32", "fuzz.stm32".into(), data.len() as u64, head, sum, None);
    let _ = facts.describe();
    for role in [StageRole::Fsbl, StageRole::Ssbl, StageRole::Fip] {
        for soc in [Soc::Stm32mp13, Soc::Stm32mp15, Soc::Stm32mp25] {
            let _ = inputs::check_stage(&facts, role, soc);
        }
    }
}
