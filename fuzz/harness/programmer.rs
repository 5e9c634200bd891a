//! `flash` and `devices`: what STM32_Programmer_CLI prints, as the tool reads it (its output is not ours to trust:
//! versions differ, transfers stop half-way, a USB hub drops the board). The bytes go through the line splitter and
//! the transcript interpreter in chunks of varying size, as they come from a pipe, and through the listing and
//! version parsers whole (`flash::cubeprog`: lines, parse, transcript, judge, listing, version).
use std::collections::BTreeMap;

use stm32mp_imager::flash::cubeprog::{judge::RunEnd, lines::LineSplitter, listing, parse, transcript::Transcript, version};

/// Run one input.
pub fn run(data: &[u8]) {
    let mut sizes = BTreeMap::new();
    sizes.insert("tf-a-stm32mp157c-dk2.stm32".to_string(), 0x3_9e68);
    sizes.insert("sdcard.img".to_string(), 0x1_0300_0000);
    let mut transcript = Transcript::new(sizes);
    let mut splitter = LineSplitter::new();
    // Chunk sizes from the data itself, so splits fall everywhere (inside `\r\n`, inside UTF-8 sequences).
    let mut rest = data;
    let mut k = 0usize;
    while !rest.is_empty() {
        let n = (usize::from(rest[0]) % 61 + 1 + k % 7).min(rest.len());
        for seg in splitter.push(&rest[..n]) {
            let _ = transcript.feed(&seg);
        }
        rest = &rest[n..];
        k += 1;
    }
    if let Some(seg) = splitter.finish() {
        let _ = transcript.feed(&seg);
    }
    let _ = (transcript.bytes_sent(), transcript.serial(), transcript.banner_version(), transcript.completed(), transcript.position());
    for end in [
        RunEnd::Exited { code: Some(0), signal: None },
        RunEnd::Exited { code: Some(1), signal: None },
        RunEnd::Exited { code: None, signal: Some(9) },
        RunEnd::TimedOut { after: std::time::Duration::from_secs(30) },
        RunEnd::Interrupted,
    ] {
        let verdict = transcript.verdict(&end);
        let _ = (verdict.is_success(), format!("{verdict:?}"));
    }
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let _ = parse::parse_line(line);
        let _ = parse::parse_printed_size(line);
    }
    let _ = Transcript::new(BTreeMap::new()).feed_text(&text);
    let _ = listing::parse_list(&text);
    let _ = version::parse_output(&text);
}
