//! The differential test suite: every case runs natively and under linuxrun and
//! must behave the same (see src/cases.rs for the list).
//!
//!   cargo test -p linuxrun-tests --test differential [-- FILTER...]
//!
//! Environment: LINUXRUN (path to the binary; default <workspace>/target/debug/
//! linuxrun), LINUXRUN_TEST_TIMEOUT (seconds per run, default 60), CI (a missing
//! /dev/kvm is then an error instead of a loud skip).

use linuxrun_tests::cases::{self, BadInput, Body, Case, Differential, Refusal};
use linuxrun_tests::compare::{first_difference, replace_all, tree_listing};
use linuxrun_tests::compile::{self, Flavour};
use linuxrun_tests::pool;
use linuxrun_tests::process::{self, Outcome, Status};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Our machines have 2 cores; each case may run a VM.
const WORKERS: usize = 2;
const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// Shared, read-only settings for running cases.
struct Ctx {
    /// None when /dev/kvm is unusable: only the native side runs.
    linuxrun: Option<PathBuf>,
    scratch: PathBuf,
    timeout: Duration,
    /// Compile results by source+flavour; Err holds gcc's message.
    builds: BTreeMap<(PathBuf, &'static str), Result<PathBuf, String>>,
}

enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

struct CaseResult {
    verdict: Verdict,
    /// Whether linuxrun (hence a KVM-backed VM) actually ran for this case.
    used_kvm: bool,
}

fn main() -> ExitCode {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().expect("tests/ lives in the workspace").to_path_buf();
    let out_dir = workspace.join("target/ctests");

    let mut all = cases::c_cases(&compile::sources(&manifest_dir.join("c")), &out_dir);
    all.extend(cases::go_cases(&compile::sources_with(&manifest_dir.join("go"), "go"), &out_dir));
    all.extend(cases::rust_cases(Path::new(env!("CARGO_BIN_EXE_rust_threads"))));
    all.extend(cases::busybox_cases());
    all.extend(cases::dynamic_cases());
    all.extend(cases::bad_input_cases());
    all.extend(cases::elf_cases());
    all.extend(cases::script_cases(&manifest_dir.join("c/script_interp.c"), &out_dir));
    let selected: Vec<Case> =
        all.into_iter().filter(|c| filters.is_empty() || filters.iter().any(|f| c.name.contains(f.as_str()))).collect();
    if selected.is_empty() {
        eprintln!("no case matches {filters:?}");
        return ExitCode::FAILURE;
    }

    let kvm = kvm_problem();
    let linuxrun = match &kvm {
        Some(_) => None,
        None => match find_linuxrun(&workspace) {
            Ok(p) => Some(p),
            Err(msg) => {
                eprintln!("{msg}");
                return ExitCode::FAILURE;
            }
        },
    };
    if let Some(why) = &kvm {
        print_no_kvm_banner(why);
    }
    if let Some(p) = &linuxrun {
        println!("linuxrun: {}", p.display());
    }
    if selected.iter().any(|c| c.name.starts_with("busybox/")) && !Path::new(cases::BUSYBOX).exists() {
        println!("warning: {} missing; install Debian's busybox-static (scripts/test does)", cases::BUSYBOX);
    }

    let builds = build_c_programs(&selected, &out_dir);
    let scratch = std::env::temp_dir().join(format!("linuxrun-tests-{}", std::process::id()));
    let timeout = Duration::from_secs(
        std::env::var("LINUXRUN_TEST_TIMEOUT").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_TIMEOUT_SECS),
    );
    let ctx = Ctx { linuxrun, scratch, timeout, builds };
    println!("running {} cases on {WORKERS} workers", selected.len());

    let indexed: Vec<(usize, &Case)> = selected.iter().enumerate().collect();
    let results = pool::map(&indexed, WORKERS, |&(i, case)| {
        let result = run_case(case, &ctx, &ctx.scratch.join(i.to_string()));
        report(&case.name, &result.verdict);
        result
    });
    let _ = std::fs::remove_dir_all(&ctx.scratch);

    summarize(&selected, &results, kvm.is_some())
}

/// Prints one line per case (plus indented details for failures) atomically, so
/// lines from the two workers don't interleave.
fn report(name: &str, verdict: &Verdict) {
    let text = match verdict {
        Verdict::Pass => format!("ok   {name}\n"),
        Verdict::Skip(why) => format!("skip {name} ({why})\n"),
        Verdict::Fail(detail) => {
            let mut lines = detail.lines();
            let mut s = format!("FAIL {name}: {}\n", lines.next().unwrap_or(""));
            for l in lines {
                let _ = writeln!(s, "     | {l}");
            }
            s
        }
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn summarize(cases: &[Case], results: &[CaseResult], no_kvm: bool) -> ExitCode {
    let count = |f: fn(&Verdict) -> bool| results.iter().filter(|r| f(&r.verdict)).count();
    let passed = count(|v| matches!(v, Verdict::Pass));
    let failed = count(|v| matches!(v, Verdict::Fail(_)));
    let skipped = count(|v| matches!(v, Verdict::Skip(_)));
    let kvm_runs = results.iter().filter(|r| r.used_kvm).count();

    println!();
    let failures: Vec<&str> = cases
        .iter()
        .zip(results)
        .filter(|(_, r)| matches!(r.verdict, Verdict::Fail(_)))
        .map(|(c, _)| c.name.as_str())
        .collect();
    const LISTED: usize = 20;
    if !failures.is_empty() {
        let more = failures.len().saturating_sub(LISTED);
        let tail = if more > 0 { format!(" … and {more} more") } else { String::new() };
        println!("failed cases: {}{tail}", failures[..failures.len().min(LISTED)].join(" "));
    }
    if no_kvm {
        println!("NO /dev/kvm: 0 KVM-backed tests ran");
    } else {
        println!("KVM-backed tests run: {kvm_runs}");
    }
    if skipped > 0 {
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    } else {
        println!("{passed} passed, {failed} failed");
    }

    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    if failed > 0 || (no_kvm && ci) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// None if /dev/kvm can be opened read-write (what linuxrun needs), else why not.
fn kvm_problem() -> Option<String> {
    match std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

fn print_no_kvm_banner(why: &str) {
    let bar = "!".repeat(72);
    println!("{bar}");
    println!("!! NO /dev/kvm ({why})");
    println!("!! linuxrun cases are SKIPPED; only the native side is checked.");
    println!("!! NO /dev/kvm: 0 KVM-backed tests ran");
    println!("{bar}");
}

fn find_linuxrun(workspace: &Path) -> Result<PathBuf, String> {
    let path = match std::env::var_os("LINUXRUN") {
        Some(p) => PathBuf::from(p),
        None => workspace.join("target/debug/linuxrun"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "linuxrun binary not found at {}.\nBuild it first with `cargo build -p host-monitor` \
             (or run scripts/test), or point LINUXRUN at it.",
            path.display()
        ))
    }
}

/// Compiles the C programs the selected cases need, on the worker pool.
fn build_c_programs(selected: &[Case], out_dir: &Path) -> BTreeMap<(PathBuf, &'static str), Result<PathBuf, String>> {
    let mut needed: Vec<(PathBuf, Flavour)> = selected
        .iter()
        .filter_map(|c| match &c.body {
            Body::Differential(d) => d.build.clone(),
            Body::LinuxrunOnly(_) | Body::Unavailable(_) => None,
        })
        .collect();
    needed.sort_by(|a, b| (&a.0, a.1.name()).cmp(&(&b.0, b.1.name())));
    needed.dedup();
    if !needed.is_empty() {
        println!("compiling {} test binaries (C, Go; if stale) into {}", needed.len(), out_dir.display());
    }
    let include_dir = needed.first().map(|(src, _)| src.parent().unwrap().to_path_buf()).unwrap_or_default();
    let built = pool::map(&needed, WORKERS, |(src, flavour)| compile::compile(src, &include_dir, out_dir, *flavour));
    needed.into_iter().map(|(src, f)| (src, f.name())).zip(built).collect()
}

fn run_case(case: &Case, ctx: &Ctx, work: &Path) -> CaseResult {
    match &case.body {
        Body::Differential(d) => run_differential(d, ctx, work),
        Body::LinuxrunOnly(b) => match &ctx.linuxrun {
            None => CaseResult { verdict: Verdict::Skip("no /dev/kvm".into()), used_kvm: false },
            Some(lr) => CaseResult { verdict: run_bad_input(b, lr, ctx, work), used_kvm: true },
        },
        Body::Unavailable(why) => CaseResult { verdict: Verdict::Skip(why.clone()), used_kvm: false },
    }
}

/// What one side of a differential case produced, with its work dir's name
/// replaced by "$WORK" so the two sides are comparable.
struct Side {
    outcome: Outcome,
    tree: Option<String>,
}

fn run_side(d: &Differential, linuxrun: Option<&Path>, dir: &Path, ctx: &Ctx) -> Result<Side, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    d.fixture.create(dir).map_err(|e| format!("fixture: {e}"))?;
    let mut argv: Vec<OsString> = linuxrun.map(|p| p.as_os_str().to_owned()).into_iter().collect();
    argv.extend(d.argv.iter().cloned());
    let stdin = d.stdin.map(|s| dir.join(s));
    let mut outcome = match linuxrun {
        Some(_) => process::run(&argv, dir, stdin.as_deref(), ctx.timeout),
        None => process::run_as_shell_would(&argv, dir, stdin.as_deref(), ctx.timeout),
    };
    let dir_bytes = dir.as_os_str().as_encoded_bytes();
    outcome.stdout = replace_all(&outcome.stdout, dir_bytes, b"$WORK");
    outcome.stderr = replace_all(&outcome.stderr, dir_bytes, b"$WORK");
    let tree = d.compare_tree.then(|| tree_listing(dir));
    Ok(Side { outcome, tree })
}

fn run_differential(d: &Differential, ctx: &Ctx, work: &Path) -> CaseResult {
    let fail = |msg: String| CaseResult { verdict: Verdict::Fail(msg), used_kvm: false };
    if let Some((src, flavour)) = &d.build {
        if let Some(Err(msg)) = ctx.builds.get(&(src.clone(), flavour.name())) {
            return fail(format!("compile error:\n{msg}"));
        }
    }
    let native = match run_side(d, None, &work.join("native"), ctx) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if native.outcome.status != d.native_status {
        return fail(format!(
            "native run gave {}, expected {} (test program or host setup is broken, not linuxrun)\n{}",
            native.outcome.status,
            d.native_status,
            failing_lines(&native.outcome)
        ));
    }
    let Some(linuxrun) = &ctx.linuxrun else {
        return CaseResult { verdict: Verdict::Skip("no /dev/kvm; native ok".into()), used_kvm: false };
    };
    let lr = match run_side(d, Some(linuxrun), &work.join("linuxrun"), ctx) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let verdict = match differences(d, &native, &lr) {
        None => Verdict::Pass,
        Some(msg) => Verdict::Fail(msg),
    };
    CaseResult { verdict, used_kvm: true }
}

/// Everything that differs between the two sides, or None. The first line is a
/// one-line summary (it goes on the FAIL line).
fn differences(d: &Differential, native: &Side, lr: &Side) -> Option<String> {
    let (n, l) = (&native.outcome, &lr.outcome);
    let mut what = Vec::new();
    let mut detail = String::new();
    if n.status != l.status {
        what.push("status");
        let _ = writeln!(detail, "status: native {}, linuxrun {}", n.status, l.status);
    }
    if let Some(diff) = first_difference(&n.stdout, &l.stdout) {
        what.push("stdout");
        let _ = write!(detail, "stdout differs:\n{diff}");
    }
    if d.compare_stderr {
        if let Some(diff) = first_difference(&n.stderr, &l.stderr) {
            what.push("stderr");
            let _ = write!(detail, "stderr differs:\n{diff}");
        }
    }
    if let (Some(nt), Some(lt)) = (&native.tree, &lr.tree) {
        if let Some(diff) = first_difference(nt.as_bytes(), lt.as_bytes()) {
            what.push("resulting files");
            let _ = write!(detail, "resulting files differ:\n{diff}");
        }
    }
    if what.is_empty() {
        return None;
    }
    // When linuxrun itself failed, its stderr usually says why; show a little.
    if !d.compare_stderr && !l.stderr.is_empty() && n.status != l.status {
        let _ = writeln!(detail, "linuxrun stderr:\n{}", head(&l.stderr, 10));
    }
    Some(format!("{} differ\n{detail}", what.join(", ")))
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

fn run_bad_input(b: &BadInput, linuxrun: &Path, ctx: &Ctx, work: &Path) -> Verdict {
    if let Err(e) = std::fs::create_dir_all(work).map_err(|e| e.to_string()).and_then(|_| b.fixture.create(work)) {
        return Verdict::Fail(format!("fixture: {e}"));
    }
    let program: OsString = match b.program.strip_prefix("./") {
        Some(rel) => work.join(rel).into(),
        None => b.program.into(),
    };
    let mut argv: Vec<OsString> = vec![linuxrun.into(), program];
    if b.as_nobody {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc_geteuid() } != 0 {
            return Verdict::Skip("needs root to switch to an unprivileged user".into());
        }
        let wrap = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"];
        argv.splice(0..0, wrap.iter().map(OsString::from));
    }
    let o = process::run(&argv, work, None, ctx.timeout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    let status_ok = match (&b.expect, &o.status) {
        (Refusal::Exit(want), Status::Exit(got)) => want == got,
        (Refusal::NonZero, Status::Exit(got)) => *got != 0,
        _ => false,
    };
    let lower = stderr.to_lowercase();
    let mentions_ok = b.stderr_mentions.iter().any(|m| lower.contains(&m.to_lowercase()));
    if status_ok && mentions_ok {
        return Verdict::Pass;
    }
    let want = match b.expect {
        Refusal::Exit(c) => format!("exit {c}"),
        Refusal::NonZero => "a non-zero exit".into(),
    };
    let mut msg = String::new();
    if !status_ok {
        let _ = writeln!(msg, "expected {want}, got {}", o.status);
    }
    if !mentions_ok {
        let _ = writeln!(msg, "stderr should mention one of {:?}", b.stderr_mentions);
    }
    let _ = write!(msg, "stderr: {}", if stderr.is_empty() { "(empty)".into() } else { head(&o.stderr, 5) });
    Verdict::Fail(msg)
}

/// The check lines a C program marked FAIL, or the last lines of its output.
fn failing_lines(o: &Outcome) -> String {
    let out = String::from_utf8_lossy(&o.stdout);
    let fails: Vec<&str> = out.lines().filter(|l| l.ends_with("FAIL")).take(10).collect();
    if !fails.is_empty() {
        return fails.join("\n");
    }
    let lines: Vec<&str> = out.lines().collect();
    let mut s = lines[lines.len().saturating_sub(5)..].join("\n");
    if !o.stderr.is_empty() {
        let _ = write!(s, "\nstderr: {}", head(&o.stderr, 5));
    }
    s
}

fn head(data: &[u8], n: usize) -> String {
    String::from_utf8_lossy(data).lines().take(n).collect::<Vec<_>>().join("\n")
}
