//! Fault-injection hooks for the fault tests: with `STM32MP_IMAGER_FAILPOINT=POINT:ACTION[,POINT:ACTION…]` in the
//! environment, the process kills itself (`kill`, SIGKILL: exactly a crash at that step) or stops itself (`stop`,
//! SIGSTOP: the test changes an input or starts a second build, then sends SIGCONT) when a build reaches POINT.
//!
//! Points of `build`: `planned` (inputs read, plan made, nothing locked), `locked` (output folder locked, an earlier
//! crash recovered), `writing` (the image writer has copied the first chunk of the largest input), `placing` (the
//! first binary next to the layout checked against the file the image got, not yet copied), `staged` (every artifact
//! complete in its temporary file, nothing renamed yet). Unset, a point costs one environment lookup.

use rustix::process::{Signal, getpid, kill_process};

/// The environment variable read.
pub const VAR: &str = "STM32MP_IMAGER_FAILPOINT";

/// Reached `point`: act if the environment asks for it.
pub fn hit(point: &str) {
    let Some(spec) = std::env::var_os(VAR) else { return };
    let spec = spec.to_string_lossy();
    for item in spec.split(',') {
        let signal = match item.split_once(':') {
            Some((p, "kill")) if p == point => Signal::KILL,
            Some((p, "stop")) if p == point => Signal::STOP,
            _ => continue,
        };
        // SIGKILL does not return; SIGSTOP returns once the process is continued. Sent to the whole process (not
        // one thread, as raise() would), which is what both signals act on anyway.
        let _ = kill_process(getpid(), signal);
    }
}
