//! Whether a process is on its way out, read from `/proc`: shared by the process-group tests of the library
//! (`src/effects/process.rs`, which includes this file by path) and the integration tests.

/// Whether a process is gone, a zombie, exiting, or has a fatal signal (SIGTERM, SIGKILL) pending for the whole
/// process. A fact at the moment of asking, no waiting: once a run has sent SIGKILL to its group and returned, every
/// process of the group is at least doomed, however loaded the machine is.
pub fn doomed(pid: i32) -> bool {
    let (Ok(stat), Ok(status)) = (std::fs::read_to_string(format!("/proc/{pid}/stat")), std::fs::read_to_string(format!("/proc/{pid}/status")))
    else {
        return true;
    };
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let zombie = matches!(fields.first(), Some(&("Z" | "X" | "x")));
    // After the command's closing parenthesis: the state (field 3 of proc(5)) first, the flags (field 9) seventh;
    // PF_EXITING is 0x4.
    let exiting = fields.get(6).and_then(|f| f.parse::<u64>().ok()).is_some_and(|flags| flags & 0x4 != 0);
    // ShdPnd: signals pending for the whole thread group; SIGKILL is 9, SIGTERM 15 (bit n-1).
    let fatal_pending = status
        .lines()
        .filter_map(|l| l.strip_prefix("ShdPnd:"))
        .any(|mask| u64::from_str_radix(mask.trim(), 16).is_ok_and(|m| m & ((1 << (9 - 1)) | (1 << (15 - 1))) != 0));
    zombie || exiting || fatal_pending
}
