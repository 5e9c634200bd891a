//! ST's `STM32_Programmer_CLI` as a flashing back end ([`CubeProgrammer`]): finding it, its queries (`--version`,
//! `-l usb`, each with its own time bound, whatever the stage timeout of a flash), and flashing one board: one
//! process per board, run from the layout's folder as the job's step says, its output read by `flash::cubeprog` into
//! events and a verdict, under the job's per-stage timeout (see `effects::process` for how a process is run and
//! ended).
//!
//! Verified against the test double `tests/doubles/fake_stm32_programmer_cli.py` only (see `crate::flash::cubeprog`):
//! how the real programmer reacts to SIGTERM, and how long its stages really take, is not known.

use std::{
    ffi::OsStr,
    fmt,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::Duration,
};

use super::{
    flash_job::check_layout_files,
    process::{KILL_GRACE, Run, run_streaming},
};
use crate::{
    cancel::Cancel,
    flash::{
        backend::{Backend, BackendInfo, BoardEnd, BoardReport, Discovery, Step, Via},
        cubeprog::{self, judge::RunEnd, listing, transcript::Transcript, version::Version},
        job::{FlashJob, JobBoard, JobLayout},
        records::ProgrammerInfo,
        select::Target,
        verdict::{ResultKind, Verdict},
    },
};

/// The programmer's executable name.
pub const PROGRAMMER_EXE: &str = "STM32_Programmer_CLI";
/// The environment variable that names the programmer.
pub const PROGRAMMER_ENV: &str = "STM32_PROGRAMMER_CLI";
/// Install folders searched last, relative to `$HOME`: ST's installer default, and the guide's.
pub const INSTALL_FOLDERS: &[&str] = &["STMicroelectronics/STM32Cube/STM32CubeProgrammer/bin", "stm32cube/bin"];
/// Where STM32CubeProgrammer is downloaded from.
pub const DOWNLOAD_URL: &str = "https://www.st.com/en/development-tools/stm32cubeprog.html";

/// How long `--version` and `-l usb` may go without output: their own bound, not a flash's stage timeout.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// No candidate exists. The message says where it looked; how to install it or point at it is the caller's
    /// (it knows its own options): see [`DOWNLOAD_URL`].
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

/// Where it looked, in one line: every `PATH` folder (named when there are at most three), then the other places.
fn not_found_message(looked: &[Candidate]) -> String {
    let paths: Vec<String> = looked.iter().filter(|c| c.origin == Origin::Path).map(|c| c.path.display().to_string()).collect();
    let mut places = Vec::new();
    match paths.len() {
        0 => {}
        1..=3 => places.push(format!("every PATH folder ({})", paths.join(", "))),
        n => places.push(format!("every PATH folder ({n} folders)")),
    }
    places.extend(looked.iter().filter(|c| c.origin != Origin::Path).map(|c| format!("{} ({})", c.path.display(), c.origin)));
    let places = if places.is_empty() { "nowhere (no PATH, no HOME)".to_string() } else { places.join("; ") };
    format!("{PROGRAMMER_EXE} not found; looked in: {places}")
}

/// Find the programmer among the [`candidates`]; the path returned is absolute (a relative `--programmer`,
/// `$STM32_PROGRAMMER_CLI` or `PATH` folder is taken from the current folder), so it still names the programmer
/// when a board's flash runs it from the layout's folder.
pub fn find(option: Option<&Path>, env: Option<&OsStr>, path_var: Option<&OsStr>, home: Option<&Path>) -> Result<PathBuf, ProgrammerError> {
    let looked = candidates(option, env, path_var, home);
    for c in &looked {
        match std::fs::metadata(&c.path) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => {
                return std::path::absolute(&c.path).map_err(|e| ProgrammerError::NotExecutable {
                    path: c.path.clone(),
                    origin: c.origin,
                    reason: format!("its absolute path cannot be made (the current folder: {e}); give an absolute path"),
                });
            }
            Ok(m) if c.origin == Origin::Option || c.origin == Origin::Env => {
                let reason = if m.is_file() { "it is not executable (chmod +x)" } else { "it is not a file" };
                return Err(ProgrammerError::NotExecutable { path: c.path.clone(), origin: c.origin, reason: reason.to_string() });
            }
            Ok(_) | Err(_) => {}
        }
    }
    Err(ProgrammerError::NotFound { looked })
}

/// The whole output of a short query.
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

    /// Its first non-empty line, for messages.
    #[must_use]
    pub fn first_line(&self) -> &str {
        self.text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("nothing")
    }
}

/// `STM32_Programmer_CLI` at a path: its queries, and a [`Backend`] that runs one process per board.
#[derive(Debug, Clone)]
pub struct CubeProgrammer {
    path: PathBuf,
    version: Option<Version>,
    query_timeout: Duration,
    grace: Duration,
    cancel: Cancel,
}

impl CubeProgrammer {
    /// The programmer at `path` (found by [`find`]); `cancel` stops its queries (a flash gets the runner's token).
    #[must_use]
    pub fn new(path: PathBuf, cancel: Cancel) -> CubeProgrammer {
        CubeProgrammer { path, version: None, query_timeout: QUERY_TIMEOUT, grace: KILL_GRACE, cancel }
    }

    /// The executable.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its version, once read (in the job and the records).
    #[must_use]
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// Set the version read by [`CubeProgrammer::read_version`] (the caller decides what to do with a bad one).
    pub fn set_version(&mut self, version: Option<Version>) {
        self.version = version;
    }

    fn capture(&self, args: &[&str]) -> Captured {
        let args: Vec<String> = args.iter().map(|a| (*a).to_string()).collect();
        let mut text = String::new();
        let run = Run { program: &self.path, args: &args, cwd: None, timeout: self.query_timeout, grace: self.grace };
        let end = run_streaming(&run, &self.cancel, &mut |_, seg| {
            text.push_str(&seg.text);
            text.push('\n');
            true
        });
        Captured { text, end }
    }

    /// `--version`, parsed (`Err` says what it printed instead, for a warning).
    pub fn read_version(&self) -> Result<Version, String> {
        let out = self.capture(&["--version"]);
        cubeprog::version::parse_output(&out.text).ok_or_else(|| format!("`--version` {}: {}", out.end, out.first_line()))
    }

    /// `-l usb`, raw.
    #[must_use]
    pub fn list_usb(&self) -> Captured {
        self.capture(&["-l", "usb"])
    }
}

impl Backend for CubeProgrammer {
    fn info(&self) -> BackendInfo {
        let version = self.version.map(|v| v.to_string());
        BackendInfo {
            via: Via::Stm32CubeProgrammer,
            name: format!("STM32CubeProgrammer {}", version.as_deref().unwrap_or("(version unknown)")),
            programmer: ProgrammerInfo { path: self.path.display().to_string(), version },
        }
    }

    fn discover(&self) -> Discovery {
        let out = self.list_usb();
        let parsed = listing::parse_list(&out.text);
        let mut warnings = Vec::new();
        if out.ok() || !parsed.devices.is_empty() {
            if let Some(n) = parsed.announced.filter(|&n| n as usize != parsed.devices.len()) {
                warnings.push(format!("the programmer announced {n} boards and listed {}", parsed.devices.len()));
            }
            return Discovery { boards: Ok(parsed.devices), warnings };
        }
        let said = if parsed.errors.is_empty() { out.first_line().to_string() } else { parsed.errors.join(" / ") };
        Discovery { boards: Err(format!("`{} -l usb` {}: {said}", self.path.display(), out.end)), warnings }
    }

    fn steps(&self, layout: &JobLayout, target: &Target) -> Vec<Step> {
        vec![Step::Run { program: self.path.clone(), args: cubeprog::flash_args(target, &layout.file_name), cwd: layout.dir.clone() }]
    }

    fn flash(&self, job: &FlashJob, board: &JobBoard, cancel: &Cancel, report: &mut dyn BoardReport) -> BoardEnd {
        let Some(Step::Run { program, args, cwd }) = board.steps.first() else {
            let verdict = Verdict::not_run(ResultKind::Failed, "the job has no programmer command for this board", None);
            return BoardEnd { verdict, serial: None, bytes_sent: 0, end: "programmer: not run".to_string() };
        };
        // The programmer reads the files itself, by name: check them against the job (the hashes the record gives)
        // before it starts, and again once it is done (below).
        if let Err(e) = check_layout_files(&job.layout) {
            let verdict = Verdict::not_run(ResultKind::Failed, e, None);
            return BoardEnd { verdict, serial: None, bytes_sent: 0, end: "programmer: not run".to_string() };
        }
        let mut transcript = Transcript::new(job.layout.sizes());
        let run = Run { program, args, cwd: Some(cwd), timeout: job.stage_timeout, grace: self.grace };
        let end = run_streaming(&run, cancel, &mut |stream, seg| {
            report.output(stream.tag(), &seg.text, seg.redraw);
            let fed = transcript.feed(seg);
            for e in fed.events {
                report.event(e);
            }
            fed.advanced
        });
        let mut verdict = transcript.verdict(&end);
        if verdict.is_success()
            && let Err(e) = check_layout_files(&job.layout)
        {
            // A file replaced or rewritten while the programmer ran: what the board got is not what the record names.
            report.output("check", &format!("after flashing: {e}"), false);
            verdict = Verdict {
                result: ResultKind::Failed,
                error: Some(format!("{e} (it changed while this board was being flashed: the board may hold other bytes than its record names)")),
                hint: Some("leave the layout's files alone while boards are flashed, then flash this board again".to_string()),
                ..verdict
            };
        }
        BoardEnd { verdict, serial: transcript.serial().map(str::to_string), bytes_sent: transcript.bytes_sent(), end: format!("programmer: {end}") }
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
        assert!(!m.contains('\n') && !m.contains("--"), "one line, no option names (the command line adds those): {m}");
        let many = find(None, None, Some(OsStr::new("/n1:/n2:/n3:/n4")), None).unwrap_err().to_string();
        assert_eq!(many, "STM32_Programmer_CLI not found; looked in: every PATH folder (4 folders)");
    }

    /// Regression: a relative path was kept as given, so `--version` and `-l usb` (run from our folder) found the
    /// programmer and every board's flash (run from the layout's folder) did not.
    #[test]
    fn a_relative_path_is_made_absolute() {
        let (dir, path) = script("exit 0");
        let cwd = std::env::current_dir().unwrap();
        let found = find(Some(&path), None, None, None).unwrap();
        assert_eq!(found, path, "an absolute path stays as it is");
        let rel = Path::new("./STM32_Programmer_CLI");
        // The test cannot change the process's folder (tests run in parallel): a relative path into it instead.
        let relative = pathdiff(dir.path(), &cwd).join(rel);
        for (option, env, path_var) in [
            (Some(relative.as_path()), None, None),
            (None, Some(relative.as_os_str()), None),
            (None, None, Some(relative.parent().unwrap().as_os_str())),
        ] {
            let found = find(option, env, path_var, None).unwrap();
            assert!(found.is_absolute(), "{}", found.display());
            assert_eq!(std::fs::canonicalize(&found).unwrap(), std::fs::canonicalize(&path).unwrap());
        }
    }

    /// `to` as a path relative to `from` (both absolute).
    fn pathdiff(to: &Path, from: &Path) -> PathBuf {
        let (to, from): (Vec<_>, Vec<_>) = (to.components().collect(), from.components().collect());
        let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
        let mut out: PathBuf = from[common..].iter().map(|_| "..").collect();
        out.extend(&to[common..]);
        out
    }

    /// A stand-in programmer: a shell script in a temporary folder.
    fn script(body: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("STM32_Programmer_CLI");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, path)
    }

    #[test]
    fn queries_have_their_own_bound_not_the_stage_timeout() {
        // Regression: `flash --timeout 1` used to give `--version` and `-l usb` one second too. Queries no longer
        // know the stage timeout at all; this one is slower than a 1 s stage timeout would allow and still answers.
        let (_dir, path) = script("sleep 1.5; echo 'STM32CubeProgrammer version: 2.11.0'");
        let prg = CubeProgrammer::new(path, Cancel::new());
        assert_eq!(prg.read_version(), Ok(Version::new(2, 11, 0)));
    }

    #[test]
    fn a_failing_listing_says_what_the_programmer_said() {
        let (_dir, path) = script("echo 'Error: No DFU device found'; exit 1");
        let d = CubeProgrammer::new(path.clone(), Cancel::new()).discover();
        assert_eq!(d.boards, Err(format!("`{} -l usb` exited with status 1: Error: No DFU device found", path.display())));
    }
}
