//! Running a program and reading it as it goes: started without a shell (`Command` + `.arg()`), in its own process
//! group, stdout and stderr cut into segments (`\r`-redrawn progress bars included) and handed to a callback in
//! arrival order, under a timeout that restarts whenever the callback says the program showed progress, and a cancel
//! token. On expiry or cancel, **only our own child's process group** is ended: SIGTERM, then SIGKILL after a grace
//! period. The group is signalled only while the child is not yet reaped (it is watched with `waitid(WNOWAIT)`), so
//! its id cannot have been reused by an unrelated process.
//!
//! System calls through `rustix`, whose wrappers are safe Rust.

use std::{
    io::Read,
    os::unix::process::{CommandExt, ExitStatusExt},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions, kill_process_group, waitid};

use crate::{
    cancel::Cancel,
    flash::cubeprog::{
        judge::RunEnd,
        lines::{LineSplitter, Segment},
    },
};

/// How long a process gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// How long the output of a process that has exited is still read (a helper may hold its pipes).
const LINGER: Duration = Duration::from_secs(1);
/// How often the cancel token and the deadline are checked.
const TICK: Duration = Duration::from_millis(50);

/// Which output stream a segment came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// `out` or `err`, as board logs tag lines.
    #[must_use]
    pub fn tag(self) -> &'static str {
        match self {
            Stream::Stdout => "out",
            Stream::Stderr => "err",
        }
    }
}

/// Called for each segment of output; returns whether it showed progress (restarts the timeout).
pub type OnSegment<'a> = dyn FnMut(Stream, &Segment) -> bool + 'a;

/// A program to run and its bounds.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// The executable.
    pub program: &'a Path,
    /// Its arguments.
    pub args: &'a [String],
    /// Its working folder (ours when `None`).
    pub cwd: Option<&'a Path>,
    /// Longest time between two segments that show progress.
    pub timeout: Duration,
    /// Time between SIGTERM and SIGKILL.
    pub grace: Duration,
}

enum Msg {
    Segment(Stream, Segment),
    Eof,
}

fn spawn_reader(mut pipe: impl Read + Send + 'static, stream: Stream, tx: mpsc::Sender<Msg>) {
    thread::spawn(move || {
        let mut splitter = LineSplitter::new();
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    for seg in splitter.push(&buf[..n]) {
                        if tx.send(Msg::Segment(stream, seg)).is_err() {
                            return;
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if let Some(seg) = splitter.finish() {
            let _ = tx.send(Msg::Segment(stream, seg));
        }
        let _ = tx.send(Msg::Eof);
    });
}

/// Whether the child has exited, without reaping it (so its pid, and our process group id, stay reserved).
fn has_exited(pid: Pid) -> bool {
    match waitid(WaitId::Pid(pid), WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT) {
        Ok(found) => found.is_some(),
        // ECHILD: it is not (or no longer) a child of ours.
        Err(_) => true,
    }
}

/// Signal our child's process group. Only called while the child is unreaped: the group is the one it leads.
fn signal_group(pid: Pid, signal: Signal) {
    let _ = kill_process_group(pid, signal);
}

/// End our child's process group: SIGTERM, up to `grace` for the child to exit, then SIGKILL for whatever is left of
/// the group; then reap the child.
fn terminate(child: &mut Child, pid: Pid, grace: Duration) {
    signal_group(pid, Signal::TERM);
    let until = Instant::now() + grace;
    while Instant::now() < until && !has_exited(pid) {
        thread::sleep(Duration::from_millis(20));
    }
    signal_group(pid, Signal::KILL);
    let _ = child.wait();
}

fn exit_of(status: std::process::ExitStatus) -> RunEnd {
    RunEnd::Exited { code: status.code(), signal: status.signal() }
}

/// Run `run.program` in a new process group, streaming segments of stdout and stderr to `on_segment`.
/// `run.timeout` bounds the time between two segments that `on_segment` calls progress; `cancel` ends the run.
pub fn run_streaming(run: &Run<'_>, cancel: &Cancel, on_segment: &mut OnSegment<'_>) -> RunEnd {
    if cancel.is_cancelled() {
        return RunEnd::Interrupted;
    }
    let mut cmd = Command::new(run.program);
    if let Some(cwd) = run.cwd {
        cmd.current_dir(cwd);
    }
    cmd.args(run.args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return RunEnd::SpawnFailed(format!("{}: {e}", run.program.display())),
    };
    let pid = Pid::from_child(&child);
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        spawn_reader(out, Stream::Stdout, tx.clone());
    }
    if let Some(err) = child.stderr.take() {
        spawn_reader(err, Stream::Stderr, tx.clone());
    }
    drop(tx);
    let mut open_streams = 2;
    // No deadline when `now + timeout` is beyond what an `Instant` holds (`--timeout 18446744073709551615`).
    let mut deadline = Instant::now().checked_add(run.timeout);
    let mut exited_at: Option<Instant> = None;
    loop {
        if cancel.is_cancelled() {
            terminate(&mut child, pid, run.grace);
            return RunEnd::Interrupted;
        }
        let now = Instant::now();
        if exited_at.is_none() && deadline.is_some_and(|d| now >= d) {
            terminate(&mut child, pid, run.grace);
            return RunEnd::TimedOut { after: run.timeout };
        }
        let left = deadline.map_or(TICK, |d| d.saturating_duration_since(now));
        let wait = if open_streams == 0 { TICK } else { TICK.min(left).max(Duration::from_millis(1)) };
        if open_streams > 0 {
            match rx.recv_timeout(wait) {
                Ok(Msg::Segment(stream, seg)) => {
                    if on_segment(stream, &seg) {
                        deadline = Instant::now().checked_add(run.timeout);
                    }
                }
                Ok(Msg::Eof) => open_streams -= 1,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => open_streams = 0,
            }
        } else {
            thread::sleep(wait);
        }
        if exited_at.is_none() && has_exited(pid) {
            exited_at = Some(Instant::now());
        }
        if let Some(at) = exited_at
            && (open_streams == 0 || at.elapsed() >= LINGER)
        {
            // Anything left in our group (a helper holding the pipes) goes with it; the child is still unreaped.
            signal_group(pid, Signal::KILL);
            let end = match child.wait() {
                Ok(status) => exit_of(status),
                Err(e) => RunEnd::SpawnFailed(format!("cannot read the exit status: {e}")),
            };
            while let Ok(msg) = rx.try_recv() {
                if let Msg::Segment(stream, seg) = msg {
                    on_segment(stream, &seg);
                }
            }
            return end;
        }
    }
}

#[cfg(test)]
#[path = "../../tests/common/proc.rs"]
mod proc_state;

#[cfg(test)]
mod tests {
    use super::proc_state::doomed;
    use super::*;

    fn sh(script: &str, timeout: Duration, grace: Duration, cancel: &Cancel, on_segment: &mut OnSegment<'_>) -> RunEnd {
        let args = ["-c".to_string(), script.to_string()];
        run_streaming(&Run { program: Path::new("/bin/sh"), args: &args, cwd: Some(Path::new("/")), timeout, grace }, cancel, on_segment)
    }

    #[test]
    fn streams_redraws_and_exit_status() {
        let cancel = Cancel::new();
        let mut segs = Vec::new();
        let end = sh(
            "printf 'a\\n[==  ] 40%%\\r[====] 100%%\\nerr\\n' ; printf 'oops\\n' >&2; exit 3",
            Duration::from_secs(10),
            KILL_GRACE,
            &cancel,
            &mut |s, seg| {
                segs.push((s, seg.text.clone(), seg.redraw));
                true
            },
        );
        assert_eq!(end, RunEnd::Exited { code: Some(3), signal: None });
        let stdout: Vec<&str> = segs.iter().filter(|s| s.0 == Stream::Stdout).map(|s| s.1.as_str()).collect();
        assert_eq!(stdout, ["a", "[==  ] 40%", "[====] 100%", "err"]);
        assert!(segs.iter().any(|s| s.0 == Stream::Stderr && s.1 == "oops"));
    }

    /// A timeout too large for an `Instant` (`--timeout 18446744073709551615`) is no deadline, not a panic.
    #[test]
    fn a_huge_timeout_runs_the_program() {
        let end = sh("printf 'x\\n'; exit 0", Duration::MAX, KILL_GRACE, &Cancel::new(), &mut |_, _| true);
        assert_eq!(end, RunEnd::Exited { code: Some(0), signal: None });
    }

    #[test]
    fn a_silent_child_times_out_and_its_group_is_ended() {
        let cancel = Cancel::new();
        let started = Instant::now();
        let mut grandchild = None;
        // The timeout leaves the shell time to start and print, even on a loaded machine.
        let end = sh("sleep 30 & echo $!; wait", Duration::from_secs(1), Duration::from_millis(500), &cancel, &mut |_, seg| {
            grandchild = seg.text.trim().parse::<i32>().ok();
            true
        });
        assert_eq!(end, RunEnd::TimedOut { after: Duration::from_secs(1) });
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        // The `sleep` in the background, in the child's group, was signalled before the run returned.
        let pid = grandchild.expect("the shell printed its background pid");
        assert!(doomed(pid), "the background sleep {pid} is neither gone nor dying");
    }

    #[test]
    fn a_missing_program_does_not_start() {
        let cancel = Cancel::new();
        let run =
            Run { program: Path::new("/nonexistent/prg"), args: &[], cwd: Some(Path::new("/")), timeout: Duration::from_secs(1), grace: KILL_GRACE };
        let end = run_streaming(&run, &cancel, &mut |_, _| true);
        assert!(matches!(end, RunEnd::SpawnFailed(_)), "{end:?}");
    }

    #[test]
    fn a_raised_token_starts_nothing() {
        let cancel = Cancel::new();
        cancel.cancel();
        let mut called = false;
        let end = sh("echo hello", Duration::from_secs(10), KILL_GRACE, &cancel, &mut |_, _| {
            called = true;
            true
        });
        assert_eq!(end, RunEnd::Interrupted);
        assert!(!called);
    }
}
