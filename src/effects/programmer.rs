//! Running `STM32_Programmer_CLI`: finding it, asking its version, listing boards, and flashing one board with its
//! output streamed line by line (`\r`-redrawn progress bars included) to a callback.
//!
//! The process is started without a shell (`Command` + `.arg()`), in its own process group, from the layout's
//! folder. A per-stage timeout is enforced here: the clock restarts whenever the callback says the programmer showed
//! progress or a new stage; on expiry, or when the cancel flag is raised (Ctrl-C), **only our own child's process
//! group** is ended: SIGTERM, then SIGKILL after a grace period. The group id is signalled only while the child is
//! not yet reaped, so it cannot have been reused by an unrelated process.
//!
//! Verified against the test double `tests/doubles/fake_stm32_programmer_cli.py` only (see `crate::flash`): how the
//! real programmer reacts to SIGTERM, and how long its stages really take, is not known.

use std::{
    ffi::OsStr,
    fmt,
    io::Read,
    os::unix::{fs::PermissionsExt, process::CommandExt, process::ExitStatusExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use crate::flash::output::{LineSplitter, RunEnd, Segment};

/// The programmer's executable name.
pub const PROGRAMMER_EXE: &str = "STM32_Programmer_CLI";
/// The environment variable that names the programmer.
pub const PROGRAMMER_ENV: &str = "STM32_PROGRAMMER_CLI";
/// Install folders searched last, relative to `$HOME`: ST's installer default, and the guide's.
pub const INSTALL_FOLDERS: &[&str] = &["STMicroelectronics/STM32Cube/STM32CubeProgrammer/bin", "stm32cube/bin"];
/// Where STM32CubeProgrammer is downloaded from.
pub const DOWNLOAD_URL: &str = "https://www.st.com/en/development-tools/stm32cubeprog.html";

/// How long a process gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// How long `--version` and `-l usb` may take at most.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the output of a process that has exited is still read (a helper may hold its pipes).
const LINGER: Duration = Duration::from_secs(1);
/// How often the cancel flag and the deadline are checked.
const TICK: Duration = Duration::from_millis(50);

/// Where a candidate path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `--programmer`.
    Option,
    /// `$STM32_PROGRAMMER_CLI`.
    Env,
    /// A `PATH` folder.
    Path,
    /// A usual install folder.
    InstallFolder,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Option => "--programmer",
            Origin::Env => "$STM32_PROGRAMMER_CLI",
            Origin::Path => "PATH",
            Origin::InstallFolder => "install folder",
        })
    }
}

/// A place the programmer may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The path.
    pub path: PathBuf,
    /// Why it is looked at.
    pub origin: Origin,
}

/// The places to look, in order: `--programmer`, then `$STM32_PROGRAMMER_CLI` (either one, when given, is the only
/// candidate: an explicit choice that is wrong is an error, not a reason to pick another programmer), then every
/// `PATH` folder, then the usual install folders under `home`. Pure.
#[must_use]
pub fn candidates(option: Option<&Path>, env: Option<&OsStr>, path_var: Option<&OsStr>, home: Option<&Path>) -> Vec<Candidate> {
    if let Some(p) = option {
        return vec![Candidate { path: p.to_path_buf(), origin: Origin::Option }];
    }
    if let Some(e) = env.filter(|e| !e.is_empty()) {
        return vec![Candidate { path: PathBuf::from(e), origin: Origin::Env }];
    }
    let mut out = Vec::new();
    if let Some(path_var) = path_var {
        for dir in path_var.to_string_lossy().split(':').filter(|d| !d.is_empty()) {
            out.push(Candidate { path: Path::new(dir).join(PROGRAMMER_EXE), origin: Origin::Path });
        }
    }
    if let Some(home) = home {
        for dir in INSTALL_FOLDERS {
            out.push(Candidate { path: home.join(dir).join(PROGRAMMER_EXE), origin: Origin::InstallFolder });
        }
    }
    out
}

/// Why the programmer cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProgrammerError {
    /// No candidate exists.
    #[error("{}", not_found_message(.looked))]
    NotFound {
        /// Where it looked.
        looked: Vec<Candidate>,
    },
    /// The named file is not an executable.
    #[error("{path} (from {origin}) is not an executable file: {reason}", path = .path.display())]
    NotExecutable {
        /// The path.
        path: PathBuf,
        /// Where it came from.
        origin: Origin,
        /// Why.
        reason: String,
    },
}

fn not_found_message(looked: &[Candidate]) -> String {
    let mut where_ = Vec::new();
    let paths: Vec<String> = looked.iter().filter(|c| c.origin == Origin::Path).map(|c| c.path.display().to_string()).collect();
    for c in looked.iter().filter(|c| c.origin != Origin::Path) {
        where_.push(format!("{} ({})", c.path.display(), c.origin));
    }
    if !paths.is_empty() {
        where_.insert(0, format!("every PATH folder ({})", paths.join(", ")));
    }
    format!(
        "{PROGRAMMER_EXE} not found; looked in: {}. Install STM32CubeProgrammer ({DOWNLOAD_URL}, free registration; \
2.2.0 or later, not 2.2.1), then put its bin folder on PATH, set {PROGRAMMER_ENV}, or pass --programmer PATH",
        if where_.is_empty() { "nowhere (no PATH, no HOME)".to_string() } else { where_.join("; ") }
    )
}

/// Find the programmer among the [`candidates`].
pub fn find(option: Option<&Path>, env: Option<&OsStr>, path_var: Option<&OsStr>, home: Option<&Path>) -> Result<PathBuf, ProgrammerError> {
    let looked = candidates(option, env, path_var, home);
    for c in &looked {
        match std::fs::metadata(&c.path) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => return Ok(c.path.clone()),
            Ok(m) if c.origin == Origin::Option || c.origin == Origin::Env => {
                let reason = if m.is_file() { "it is not executable (chmod +x)" } else { "it is not a file" };
                return Err(ProgrammerError::NotExecutable { path: c.path.clone(), origin: c.origin, reason: reason.to_string() });
            }
            Ok(_) | Err(_) => {}
        }
    }
    Err(ProgrammerError::NotFound { looked })
}

/// Which output stream a segment came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// The whole output of a short command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// stdout and stderr lines, in arrival order.
    pub text: String,
    /// How it ended.
    pub end: RunEnd,
}

impl Captured {
    /// Whether it exited with status 0.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.end == RunEnd::Exited { code: Some(0), signal: None }
    }
}

/// Called for each segment of output; returns whether it showed progress (restarts the stage timeout).
pub type OnSegment<'a> = dyn FnMut(Stream, &Segment) -> bool + 'a;

/// What the flashing code needs from a programmer (the real one, or a fake in tests).
pub trait Programmer: Sync {
    /// The executable.
    fn path(&self) -> &Path;
    /// `--version`.
    fn version(&self) -> Captured;
    /// `-l usb`.
    fn list_usb(&self) -> Captured;
    /// Run with `args` from `cwd`, streaming output to `on_segment`, under the per-stage timeout and cancel flag.
    fn flash(&self, args: &[String], cwd: &Path, on_segment: &mut OnSegment<'_>) -> RunEnd;
}

/// `STM32_Programmer_CLI` as a child process.
#[derive(Debug)]
pub struct CliProgrammer<'a> {
    path: PathBuf,
    stage_timeout: Duration,
    grace: Duration,
    cancel: &'a AtomicBool,
}

impl<'a> CliProgrammer<'a> {
    /// A programmer at `path`; `stage_timeout` bounds each stage of a flash; `cancel` stops everything.
    #[must_use]
    pub fn new(path: PathBuf, stage_timeout: Duration, cancel: &'a AtomicBool) -> CliProgrammer<'a> {
        CliProgrammer { path, stage_timeout, grace: KILL_GRACE, cancel }
    }

    fn capture(&self, args: &[&str]) -> Captured {
        let args: Vec<String> = args.iter().map(|a| (*a).to_string()).collect();
        let mut text = String::new();
        let end = run_streaming(&self.path, &args, None, self.stage_timeout.min(QUERY_TIMEOUT), self.grace, self.cancel, &mut |_, seg| {
            text.push_str(&seg.text);
            text.push('\n');
            true
        });
        Captured { text, end }
    }
}

impl Programmer for CliProgrammer<'_> {
    fn path(&self) -> &Path {
        &self.path
    }
    fn version(&self) -> Captured {
        self.capture(&["--version"])
    }
    fn list_usb(&self) -> Captured {
        self.capture(&["-l", "usb"])
    }
    fn flash(&self, args: &[String], cwd: &Path, on_segment: &mut OnSegment<'_>) -> RunEnd {
        run_streaming(&self.path, args, Some(cwd), self.stage_timeout, self.grace, self.cancel, on_segment)
    }
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
fn has_exited(pid: libc::pid_t) -> bool {
    let Ok(id) = libc::id_t::try_from(pid) else { return true };
    // SAFETY: siginfo_t is plain data; waitid only writes into it. WNOWAIT leaves the child waitable.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::waitid(libc::P_PID, id, &raw mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) };
    // SAFETY: si_pid is valid to read for a waitid result (zero when nothing has exited).
    r != 0 || unsafe { info.si_pid() } != 0
}

/// Signal our child's process group. Only called while the child is unreaped, and only with its own pid (> 0).
fn signal_group(pid: libc::pid_t, signal: libc::c_int) {
    if pid > 0 {
        // SAFETY: kill(2) with a negative pid signals exactly the process group `pid`, which our child leads.
        unsafe {
            libc::kill(-pid, signal);
        }
    }
}

/// End our child's process group: SIGTERM, up to `grace` for the child to exit, then SIGKILL for whatever is left of
/// the group; then reap the child.
fn terminate(child: &mut Child, pid: libc::pid_t, grace: Duration) {
    signal_group(pid, libc::SIGTERM);
    let until = Instant::now() + grace;
    while Instant::now() < until && !has_exited(pid) {
        thread::sleep(Duration::from_millis(20));
    }
    signal_group(pid, libc::SIGKILL);
    let _ = child.wait();
}

fn exit_of(status: std::process::ExitStatus) -> RunEnd {
    RunEnd::Exited { code: status.code(), signal: status.signal() }
}

/// Run `program args` (from `cwd`, when given) in a new process group, streaming segments of stdout and stderr to `on_segment`.
/// `timeout` bounds the time between two segments that `on_segment` calls progress; `cancel` ends the run.
pub fn run_streaming(
    program: &Path,
    args: &[String],
    cwd: Option<&Path>,
    timeout: Duration,
    grace: Duration,
    cancel: &AtomicBool,
    on_segment: &mut OnSegment<'_>,
) -> RunEnd {
    if cancel.load(Ordering::SeqCst) {
        return RunEnd::Interrupted;
    }
    let mut cmd = Command::new(program);
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return RunEnd::SpawnFailed(format!("{}: {e}", program.display())),
    };
    let Ok(pid) = libc::pid_t::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return RunEnd::SpawnFailed("process id out of range".to_string());
    };
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        spawn_reader(out, Stream::Stdout, tx.clone());
    }
    if let Some(err) = child.stderr.take() {
        spawn_reader(err, Stream::Stderr, tx.clone());
    }
    drop(tx);
    let mut open_streams = 2;
    let mut deadline = Instant::now() + timeout;
    let mut exited_at: Option<Instant> = None;
    loop {
        if cancel.load(Ordering::SeqCst) {
            terminate(&mut child, pid, grace);
            return RunEnd::Interrupted;
        }
        let now = Instant::now();
        if exited_at.is_none() && now >= deadline {
            terminate(&mut child, pid, grace);
            return RunEnd::TimedOut { after: timeout };
        }
        let wait = if open_streams == 0 { TICK } else { TICK.min(deadline.saturating_duration_since(now)).max(Duration::from_millis(1)) };
        if open_streams > 0 {
            match rx.recv_timeout(wait) {
                Ok(Msg::Segment(stream, seg)) => {
                    if on_segment(stream, &seg) {
                        deadline = Instant::now() + timeout;
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
            signal_group(pid, libc::SIGKILL);
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
mod tests {
    use super::*;

    #[test]
    fn explicit_choices_are_the_only_candidates() {
        let c = candidates(Some(Path::new("/x/prg")), Some(OsStr::new("/env/prg")), Some(OsStr::new("/usr/bin")), Some(Path::new("/home/u")));
        assert_eq!(c, vec![Candidate { path: "/x/prg".into(), origin: Origin::Option }]);
        let c = candidates(None, Some(OsStr::new("/env/prg")), Some(OsStr::new("/usr/bin")), None);
        assert_eq!(c, vec![Candidate { path: "/env/prg".into(), origin: Origin::Env }]);
    }

    #[test]
    fn path_then_install_folders() {
        let c = candidates(None, Some(OsStr::new("")), Some(OsStr::new("/a::/b")), Some(Path::new("/home/u")));
        let paths: Vec<String> = c.iter().map(|c| c.path.display().to_string()).collect();
        assert_eq!(
            paths,
            [
                "/a/STM32_Programmer_CLI",
                "/b/STM32_Programmer_CLI",
                "/home/u/STMicroelectronics/STM32Cube/STM32CubeProgrammer/bin/STM32_Programmer_CLI",
                "/home/u/stm32cube/bin/STM32_Programmer_CLI"
            ]
        );
    }

    #[test]
    fn not_found_says_where_and_how() {
        let e = find(None, None, Some(OsStr::new("/nonexistent-a:/nonexistent-b")), Some(Path::new("/nonexistent-home"))).unwrap_err();
        let m = e.to_string();
        assert!(
            m.starts_with("STM32_Programmer_CLI not found; looked in: every PATH folder (/nonexistent-a/STM32_Programmer_CLI, /nonexistent-b/"),
            "{m}"
        );
        assert!(m.contains("/nonexistent-home/stm32cube/bin/STM32_Programmer_CLI (install folder)"), "{m}");
        assert!(m.contains(DOWNLOAD_URL) && m.contains("--programmer PATH"), "{m}");
    }

    #[test]
    fn streams_redraws_and_exit_status() {
        let cancel = AtomicBool::new(false);
        let mut segs = Vec::new();
        let end = run_streaming(
            Path::new("/bin/sh"),
            &["-c".into(), "printf 'a\\n[==  ] 40%%\\r[====] 100%%\\nerr\\n' ; printf 'oops\\n' >&2; exit 3".into()],
            Some(Path::new("/")),
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

    #[test]
    fn a_silent_child_times_out_and_its_group_is_ended() {
        let cancel = AtomicBool::new(false);
        let started = Instant::now();
        let end = run_streaming(
            Path::new("/bin/sh"),
            &["-c".into(), "sleep 30 & echo started; wait".into()],
            Some(Path::new("/")),
            Duration::from_millis(300),
            Duration::from_millis(500),
            &cancel,
            &mut |_, _| true,
        );
        assert_eq!(end, RunEnd::TimedOut { after: Duration::from_millis(300) });
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn a_missing_program_does_not_start() {
        let cancel = AtomicBool::new(false);
        let end =
            run_streaming(Path::new("/nonexistent/prg"), &[], Some(Path::new("/")), Duration::from_secs(1), KILL_GRACE, &cancel, &mut |_, _| true);
        assert!(matches!(end, RunEnd::SpawnFailed(_)), "{end:?}");
    }
}
