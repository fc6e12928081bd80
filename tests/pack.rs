//! `linuxrun pack` end to end: pack programs, run the packed files, compare them with the
//! native runs; with the host's libraries hidden (an empty directory mounted over
//! /usr/lib/x86_64-linux-gnu in a private mount namespace) so that only the payload can
//! satisfy the loader; 20 concurrent first runs; bad input; a signed Mach-O for Intel Macs
//! packed here (parsed, its signature verified, its entitlement and payload read back).
//!
//!   cargo test -p linuxrun-tests --test pack [-- FILTER...]
//!
//! Environment: LINUXRUN (the linuxrun that packs; default target/debug/linuxrun),
//! LINUXRUN_RUNTIME (the static runtime to embed; default: built by scripts/build-static),
//! LINUXRUN_MACOS_RUNTIME (the macOS runtime; default: built by scripts/build-macos),
//! CI (a missing /dev/kvm, unshare or root, or a macOS runtime that cannot be built, is
//! then an error instead of a counted skip).

use linuxrun_tests::fixtures;
use linuxrun_tests::process::{self, Outcome, Status};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(120);
const CONCURRENT_RUNS: usize = 20;

struct Ctx {
    linuxrun: PathBuf,
    runtime: PathBuf,
    scratch: PathBuf,
    /// Why the host's libraries cannot be hidden here, if they cannot.
    no_hiding: Option<String>,
    programs: Programs,
}

struct Programs {
    report: PathBuf,
    dlopen_main: PathBuf,
    plugin: PathBuf,
    nss: PathBuf,
    needs_lib: PathBuf,
    hello_static: PathBuf,
}

enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

type Case = (&'static str, fn(&Ctx) -> Verdict);

const CASES: &[Case] = &[
    ("args_env_cwd_status", args_env_cwd_status),
    ("signal_death", signal_death),
    ("info_and_env_switches", info_and_env_switches),
    ("concurrent_first_runs", concurrent_first_runs),
    ("cache_fallback", cache_fallback),
    ("damaged_payload", damaged_payload),
    ("bad_input", bad_input),
    ("hidden_libs_sqlite3", hidden_libs_sqlite3),
    ("hidden_libs_dlopen", hidden_libs_dlopen),
    ("hidden_libs_python3", hidden_libs_python3),
    ("hidden_libs_nss", hidden_libs_nss),
    ("hidden_libs_from_a_root", hidden_libs_from_a_root),
    ("static_program", static_program),
    ("hidden_libs_jq", hidden_libs_jq),
    ("hidden_libs_curl", hidden_libs_curl),
    ("hidden_libs_gcc", hidden_libs_gcc),
    ("macos_bad_input", macos_bad_input),
    ("macos_mach_o", macos_mach_o),
];

fn main() -> ExitCode {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf();
    let ci = std::env::var_os("CI").is_some();
    if std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() {
        println!("NO /dev/kvm: 0 pack tests ran");
        return if ci { ExitCode::FAILURE } else { ExitCode::SUCCESS };
    }
    let ctx = match setup(&workspace) {
        Ok(c) => c,
        Err(e) => {
            println!("FAIL setup: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (name, case) in
        CASES.iter().filter(|(n, _)| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str())))
    {
        match case(&ctx) {
            Verdict::Pass => {
                passed += 1;
                println!("ok   {name}");
            }
            Verdict::Fail(why) => {
                failed += 1;
                println!("FAIL {name}: {why}");
            }
            Verdict::Skip(why) => {
                skipped += 1;
                println!("SKIP {name}: {why}");
            }
        }
    }
    println!("pack tests: {passed} passed, {failed} failed, {skipped} skipped");
    if skipped > 0 && ci {
        println!("skips are errors when CI is set");
        return ExitCode::FAILURE;
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn setup(workspace: &Path) -> Result<Ctx, String> {
    let linuxrun =
        std::env::var_os("LINUXRUN").map(PathBuf::from).unwrap_or_else(|| workspace.join("target/debug/linuxrun"));
    if !linuxrun.exists() {
        return Err(format!("{} does not exist (cargo build first)", linuxrun.display()));
    }
    let runtime = match std::env::var_os("LINUXRUN_RUNTIME") {
        Some(r) => PathBuf::from(r),
        None => build_static(workspace)?,
    };
    let scratch = workspace.join("target/pack-tests");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(scratch.join("empty")).map_err(|e| e.to_string())?;
    std::fs::write(scratch.join("hostfile.txt"), "a line of the host's\n").map_err(|e| e.to_string())?;
    let programs = compile_programs(&workspace.join("tests/pack-c"), &scratch)?;
    let mut ctx = Ctx { linuxrun, runtime, scratch, no_hiding: None, programs };
    ctx.no_hiding = hiding_problem(&ctx);
    if let Some(why) = &ctx.no_hiding {
        println!("NOTE: the hidden-libraries cases will be skipped: {why}");
    }
    Ok(ctx)
}

/// scripts/build-static, which prints the runtime's path last.
fn build_static(workspace: &Path) -> Result<PathBuf, String> {
    let out = std::process::Command::new(workspace.join("scripts/build-static"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("scripts/build-static: {e}"))?;
    if !out.status.success() {
        return Err("scripts/build-static failed".into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().ok_or("scripts/build-static printed nothing")?;
    Ok(workspace.join(last.trim()))
}

fn gcc(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("gcc").args(args).output().map_err(|e| format!("gcc: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("gcc {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)))
    }
}

fn compile_programs(src: &Path, scratch: &Path) -> Result<Programs, String> {
    let s = |n: &str| src.join(n).to_string_lossy().into_owned();
    let o = |n: &str| scratch.join(n).to_string_lossy().into_owned();
    std::fs::create_dir_all(scratch.join("plugins")).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(scratch.join("lostlib")).map_err(|e| e.to_string())?;
    gcc(&["-O2", "-o", &o("report"), &s("report.c")])?;
    gcc(&["-O2", "-shared", "-fPIC", "-o", &o("plugins/libpackplug.so"), &s("plugin.c"), "-lm"])?;
    let define = format!("-DPLUGIN=\"{}\"", o("plugins/libpackplug.so"));
    gcc(&["-O2", &define, "-o", &o("dlopen_main"), &s("dlopen_main.c")])?;
    gcc(&["-O2", "-o", &o("nss"), &s("nss.c")])?;
    gcc(&["-O2", "-shared", "-fPIC", "-o", &o("lostlib/liblost.so"), &s("lost.c")])?;
    gcc(&["-O2", "-o", &o("needs_lib"), &s("needs_lib.c"), "-L", &o("lostlib"), "-llost"])?;
    gcc(&["-O2", "-static", "-o", &o("hello_static"), &s("../c/hello.c")])?;
    Ok(Programs {
        report: scratch.join("report"),
        dlopen_main: scratch.join("dlopen_main"),
        plugin: scratch.join("plugins/libpackplug.so"),
        nss: scratch.join("nss"),
        needs_lib: scratch.join("needs_lib"),
        hello_static: scratch.join("hello_static"),
    })
}

/// Why the host's libraries cannot be hidden (None: they can, and hiding was checked to
/// work: a dynamic /bin/true fails under it).
fn hiding_problem(ctx: &Ctx) -> Option<String> {
    let euid = std::process::Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&euid.stdout).trim() != "0" {
        return Some("not root (unshare --mount needs it)".into());
    }
    if std::process::Command::new("unshare").arg("--version").output().is_err() {
        return Some("no unshare".into());
    }
    let probe = run(&hidden(ctx, &[], &["/bin/true".into()]), &ctx.scratch);
    match probe.status {
        Status::Exit(0) => Some("hiding /usr/lib/x86_64-linux-gnu did not hide /bin/true's libc".into()),
        Status::Exit(99) => Some(format!("mount --bind failed: {}", String::from_utf8_lossy(&probe.stderr))),
        _ => None,
    }
}

fn run(argv: &[OsString], cwd: &Path) -> Outcome {
    process::run(argv, cwd, None, TIMEOUT)
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `argv` with the environment `env` added, through sh (its own libraries are loaded
/// before anything is hidden).
fn with_env(env: &[(&str, &str)], argv: &[OsString]) -> Vec<OsString> {
    let exports: String = env.iter().map(|(k, v)| format!("export {k}={}; ", quote(v))).collect();
    let mut v: Vec<OsString> = vec!["/bin/sh".into(), "-c".into(), format!("{exports}exec \"$@\"").into(), "sh".into()];
    v.extend(argv.iter().cloned());
    v
}

/// `argv` in a private mount namespace where /usr/lib/x86_64-linux-gnu is empty.
fn hidden(ctx: &Ctx, env: &[(&str, &str)], argv: &[OsString]) -> Vec<OsString> {
    let exports: String = env.iter().map(|(k, v)| format!("export {k}={}; ", quote(v))).collect();
    let script = format!("mount --bind \"$0\" /usr/lib/x86_64-linux-gnu || exit 99; {exports}exec \"$@\"");
    let mut v: Vec<OsString> = vec!["unshare".into(), "--mount".into(), "/bin/sh".into(), "-c".into(), script.into()];
    v.push(ctx.scratch.join("empty").into());
    v.extend(argv.iter().cloned());
    v
}

/// `linuxrun pack ARGS... --runtime R -o scratch/NAME.packed`: the output's path.
fn pack(ctx: &Ctx, name: &str, args: &[&str]) -> Result<PathBuf, String> {
    let out = ctx.scratch.join(format!("{name}.packed"));
    let mut argv: Vec<OsString> = vec![ctx.linuxrun.clone().into(), "pack".into()];
    argv.extend(args.iter().map(OsString::from));
    argv.extend(["--runtime".into(), ctx.runtime.clone().into(), "-o".into(), out.clone().into()]);
    // --args takes the rest: put -o and --runtime before it.
    if let Some(i) = args.iter().position(|a| *a == "--args") {
        let tail: Vec<OsString> = argv.drain(2 + i..2 + args.len()).collect();
        argv.extend(tail);
    }
    let o = run(&argv, &ctx.scratch);
    if o.status != Status::Exit(0) || !out.exists() {
        return Err(format!("pack {args:?}: {}: {}", o.status, String::from_utf8_lossy(&o.stderr)));
    }
    Ok(out)
}

fn cache_env(ctx: &Ctx, name: &str) -> (String, String) {
    ("LINUXRUN_CACHE_DIR".into(), ctx.scratch.join(format!("cache-{name}")).to_string_lossy().into_owned())
}

/// Same stdout and status.
fn same(what: &str, native: &Outcome, packed: &Outcome) -> Verdict {
    if native.status != packed.status {
        return Verdict::Fail(format!(
            "{what}: native {} but packed {}; packed stderr: {}",
            native.status,
            packed.status,
            String::from_utf8_lossy(&packed.stderr)
        ));
    }
    if native.stdout != packed.stdout {
        return Verdict::Fail(format!(
            "{what}: stdout differs:\nnative: {}\npacked: {}\npacked stderr: {}",
            String::from_utf8_lossy(&native.stdout),
            String::from_utf8_lossy(&packed.stdout),
            String::from_utf8_lossy(&packed.stderr)
        ));
    }
    Verdict::Pass
}

macro_rules! try_or_fail {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Verdict::Fail(e.to_string()),
        }
    };
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn args_env_cwd_status(ctx: &Ctx) -> Verdict {
    let report = s(&ctx.programs.report);
    let packed = try_or_fail!(pack(ctx, "report", &[&report, "--env", "PACKED_VAR=yes", "--args", "baked", "-x"]));
    let hostfile = s(&ctx.scratch.join("hostfile.txt"));
    let native = run(
        &with_env(
            &[("PACKED_VAR", "yes")],
            &[report.into(), "baked".into(), "-x".into(), "user".into(), hostfile.clone().into()],
        ),
        &ctx.scratch,
    );
    let (k, v) = cache_env(ctx, "report");
    let packed_run = run(&with_env(&[(&k, &v)], &[packed.into(), "user".into(), hostfile.into()]), &ctx.scratch);
    same("report", &native, &packed_run)
}

fn signal_death(ctx: &Ctx) -> Verdict {
    let report = s(&ctx.programs.report);
    let packed = try_or_fail!(pack(ctx, "report_abort", &[&report]));
    let native = run(&with_env(&[("PACK_TEST_ABORT", "1")], &[report.into()]), &ctx.scratch);
    let (k, v) = cache_env(ctx, "abort");
    let packed_run = run(&with_env(&[("PACK_TEST_ABORT", "1"), (&k, &v)], &[packed.into()]), &ctx.scratch);
    if native.status != Status::Signal(6) {
        return Verdict::Fail(format!("native abort: {}", native.status));
    }
    same("abort", &native, &packed_run)
}

fn info_and_env_switches(ctx: &Ctx) -> Verdict {
    let report = s(&ctx.programs.report);
    let packed = try_or_fail!(pack(ctx, "report_info", &[&report]));
    let (k, v) = cache_env(ctx, "info");
    let info = run(&with_env(&[(&k, &v)], &[packed.clone().into(), "--linuxrun-info".into()]), &ctx.scratch);
    let text = String::from_utf8_lossy(&info.stdout);
    if info.status != Status::Exit(0) || !text.contains(&report) || !text.contains("libc.so.6") {
        return Verdict::Fail(format!("--linuxrun-info: {}: {text}", info.status));
    }
    let traced = run(&with_env(&[(&k, &v), ("LINUXRUN_STRACE", "1")], &[packed.clone().into()]), &ctx.scratch);
    if traced.status != Status::Exit(41) || !String::from_utf8_lossy(&traced.stderr).contains("[hypercall]") {
        return Verdict::Fail(format!(
            "LINUXRUN_STRACE=1: {}: {}",
            traced.status,
            String::from_utf8_lossy(&traced.stderr)
        ));
    }
    let stats = run(&with_env(&[(&k, &v), ("LINUXRUN_STATS", "1")], &[packed.into()]), &ctx.scratch);
    let err = String::from_utf8_lossy(&stats.stderr);
    if stats.status != Status::Exit(41) || !err.contains("hypercall") || err.contains("[hypercall]") {
        return Verdict::Fail(format!("LINUXRUN_STATS=1: {}: {err}", stats.status));
    }
    Verdict::Pass
}

fn concurrent_first_runs(ctx: &Ctx) -> Verdict {
    let report = s(&ctx.programs.report);
    let packed = try_or_fail!(pack(ctx, "report_concurrent", &[&report]));
    let (k, v) = cache_env(ctx, "concurrent");
    let argv = with_env(&[(&k, &v)], &[packed.into(), "x".into()]);
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CONCURRENT_RUNS).map(|_| scope.spawn(|| run(&argv, &ctx.scratch))).collect();
        handles.into_iter().map(|h| h.join().expect("a run thread")).collect()
    });
    let bad: Vec<String> = outcomes
        .iter()
        .filter(|o| o.status != Status::Exit(42))
        .map(|o| format!("{}: {}", o.status, String::from_utf8_lossy(&o.stderr)))
        .collect();
    if !bad.is_empty() {
        return Verdict::Fail(format!("{} of {CONCURRENT_RUNS} runs failed: {}", bad.len(), bad[0]));
    }
    let entries: Vec<String> = try_or_fail!(std::fs::read_dir(&v))
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    if entries.len() != 1 || entries[0].starts_with('.') {
        return Verdict::Fail(format!("the cache holds {entries:?}, not one complete tree"));
    }
    Verdict::Pass
}

/// A cache directory that cannot be made: the run falls back to $TMPDIR/linuxrun-UID/pack.
fn cache_fallback(ctx: &Ctx) -> Verdict {
    let report = s(&ctx.programs.report);
    let packed = try_or_fail!(pack(ctx, "report_fallback", &[&report]));
    let tmpdir = ctx.scratch.join("tmpdir");
    try_or_fail!(std::fs::create_dir_all(&tmpdir));
    let env = [("LINUXRUN_CACHE_DIR", "/proc/linuxrun-cannot-be-here"), ("TMPDIR", &s(&tmpdir))];
    let o = run(&with_env(&env, &[packed.into()]), &ctx.scratch);
    if o.status != Status::Exit(41) {
        return Verdict::Fail(format!("{}: {}", o.status, String::from_utf8_lossy(&o.stderr)));
    }
    let used = try_or_fail!(std::fs::read_dir(&tmpdir)).count();
    if used != 1 {
        return Verdict::Fail(format!("$TMPDIR holds {used} entries, expected linuxrun-UID"));
    }
    Verdict::Pass
}

/// A payload changed after packing: the first run refuses it (125, a message, no tree).
fn damaged_payload(ctx: &Ctx) -> Verdict {
    let report = s(&ctx.programs.report);
    let packed = try_or_fail!(pack(ctx, "report_damaged", &[&report]));
    let mut bytes = try_or_fail!(std::fs::read(&packed));
    // The payload's header is the magic's last occurrence (the runtime's code holds it too).
    let magic = b"LINUXRUN-PACK\0\0\x01";
    let Some(at) = bytes.windows(magic.len()).rposition(|w| w == magic) else {
        return Verdict::Fail("no payload header in the packed file".into());
    };
    let target = at + 16 + 32 + 8 + 100;
    bytes[target] ^= 0x55;
    try_or_fail!(std::fs::write(&packed, &bytes));
    let (k, v) = cache_env(ctx, "damaged");
    let o = run(&with_env(&[(&k, &v)], &[packed.into()]), &ctx.scratch);
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status != Status::Exit(125) || !err.contains("damaged") || err.contains("panicked") {
        return Verdict::Fail(format!("{}: {err}", o.status));
    }
    let trees = std::fs::read_dir(&v)
        .map(|d| d.filter_map(Result::ok).filter(|e| !e.file_name().to_string_lossy().starts_with('.')).count());
    if trees.unwrap_or(0) != 0 {
        return Verdict::Fail("a tree was extracted from a damaged payload".into());
    }
    Verdict::Pass
}

/// Each bad input: its exit status, a `linuxrun: pack:` message with `words`, and no
/// output file (nor a temporary one) left behind.
fn bad_input(ctx: &Ctx) -> Verdict {
    let dir = ctx.scratch.join("bad");
    try_or_fail!(std::fs::create_dir_all(&dir));
    try_or_fail!(fixtures::file(&dir, "prog32", &fixtures::elf32_header(), 0o755));
    try_or_fail!(fixtures::file(&dir, "prog_arm", &fixtures::elf64_header(183), 0o755));
    let big = dir.join("big.bin");
    try_or_fail!(std::fs::File::create(&big).and_then(|f| f.set_len((2u64 << 30) + 1)));
    let out = s(&dir.join("out"));
    let report = s(&ctx.programs.report);
    let cases: Vec<(Vec<String>, u8, &str)> = vec![
        (vec!["/nonexistent/prog".into()], 127, "No such file"),
        (vec!["no-such-command-here".into()], 127, "command not found"),
        (vec![s(&dir.join("prog32"))], 126, "32-bit"),
        (vec![s(&dir.join("prog_arm"))], 126, "another architecture"),
        (vec![s(&ctx.programs.needs_lib)], 127, "liblost.so"),
        (vec![report.clone(), "--add".into(), "/nonexistent/data".into()], 1, "--add /nonexistent/data"),
        (vec![report.clone(), "--add".into(), s(&big)], 1, "limit"),
        (vec![report.clone(), "--env".into(), "NOVALUE".into()], 2, "NAME=VALUE"),
        (vec![report.clone(), "--runtime".into(), s(&ctx.linuxrun)], 1, "dynamically linked"),
    ];
    for (args, code, words) in cases {
        let mut argv: Vec<OsString> = vec![ctx.linuxrun.clone().into(), "pack".into()];
        argv.extend(args.iter().map(OsString::from));
        if !args.contains(&"--runtime".to_string()) {
            argv.extend(["--runtime".into(), ctx.runtime.clone().into()]);
        }
        argv.extend(["-o".into(), out.clone().into()]);
        if let Some(failed) = refused_cleanly(ctx, &argv, &dir, code, words) {
            return failed;
        }
    }
    let unwritable = [
        ctx.linuxrun.clone().into(),
        "pack".into(),
        report.into(),
        "--runtime".into(),
        ctx.runtime.clone().into(),
        "-o".into(),
        "/nonexistent-dir/out".into(),
    ];
    let o = run(&unwritable, &ctx.scratch);
    if o.status != Status::Exit(1) || !String::from_utf8_lossy(&o.stderr).contains("cannot write") {
        return Verdict::Fail(format!("unwritable OUTPUT: {}: {}", o.status, String::from_utf8_lossy(&o.stderr)));
    }
    let usage = run(&[ctx.linuxrun.clone().into(), "pack".into()], &ctx.scratch);
    if usage.status != Status::Exit(2) {
        return Verdict::Fail(format!("pack without a program: {}", usage.status));
    }
    Verdict::Pass
}

fn leftovers(dir: &Path) -> Option<String> {
    let names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n == "out" || n.starts_with(".out"))
        .collect();
    (!names.is_empty()).then(|| names.join(", "))
}

/// Pack with `pack_args`, then run the packed file with `args` with the host's libraries
/// hidden, and the program natively with the same arguments: same stdout and status.
fn hidden_case(ctx: &Ctx, name: &str, native_program: &str, pack_args: &[&str], args: &[&str]) -> Verdict {
    if let Some(why) = &ctx.no_hiding {
        return Verdict::Skip(why.clone());
    }
    let packed = try_or_fail!(pack(ctx, name, pack_args));
    let mut native_argv: Vec<OsString> = vec![native_program.into()];
    native_argv.extend(args.iter().map(OsString::from));
    let native = run(&native_argv, &ctx.scratch);
    let (k, v) = cache_env(ctx, name);
    let mut packed_argv: Vec<OsString> = vec![packed.into()];
    packed_argv.extend(args.iter().map(OsString::from));
    let packed_run = run(&hidden(ctx, &[(&k, &v)], &packed_argv), &ctx.scratch);
    same(name, &native, &packed_run)
}

fn hidden_libs_sqlite3(ctx: &Ctx) -> Verdict {
    let sql = "create table t(a); insert into t values (1),(2),(3); select sum(a), sqlite_version() from t;";
    hidden_case(ctx, "sqlite3", "sqlite3", &["sqlite3"], &[":memory:", sql])
}

fn hidden_libs_dlopen(ctx: &Ctx) -> Verdict {
    let (main, plugin) = (s(&ctx.programs.dlopen_main), s(&ctx.programs.plugin));
    hidden_case(ctx, "dlopen", &main, &[&main, "--add", &plugin], &[])
}

fn hidden_libs_python3(ctx: &Ctx) -> Verdict {
    // A child python (fork + exec in the packed view) too.
    let code = "import json, subprocess, sys, sqlite3, zlib; \
                child = subprocess.run(['python3', '-c', 'import json; print(json.dumps(7))'], capture_output=True, text=True); \
                print(json.dumps([sys.version_info[0], zlib.crc32(b'x'), sqlite3.connect(':memory:').execute('select 6*7').fetchone(), child.stdout, child.returncode]))";
    hidden_case(ctx, "python3", "python3", &["python3", "--add", "/usr/lib/python3.11"], &["-c", code])
}

fn hidden_libs_nss(ctx: &Ctx) -> Verdict {
    let nss = s(&ctx.programs.nss);
    hidden_case(ctx, "nss", &nss, &[&nss], &[])
}

fn static_program(ctx: &Ctx) -> Verdict {
    let hello = s(&ctx.programs.hello_static);
    let packed = try_or_fail!(pack(ctx, "hello_static", &[&hello]));
    let info = run(&[packed.clone().into(), "--linuxrun-info".into()], &ctx.scratch);
    if String::from_utf8_lossy(&info.stdout).contains("ld.so") {
        return Verdict::Fail("a static program's pack holds a loader or its cache".into());
    }
    let (k, v) = cache_env(ctx, "hello_static");
    same(
        "static hello",
        &run(&[hello.into()], &ctx.scratch),
        &run(&with_env(&[(&k, &v)], &[packed.into()]), &ctx.scratch),
    )
}

/// A Linux userland unlike the host's (libc and ld.so in /usr/lib, /lib64's loader an
/// absolute symlink that only resolves inside the root, no ld.so.cache): pack --root.
fn hidden_libs_from_a_root(ctx: &Ctx) -> Verdict {
    if let Some(why) = &ctx.no_hiding {
        return Verdict::Skip(why.clone());
    }
    let root = ctx.scratch.join("rootfs");
    let setup = || -> std::io::Result<()> {
        for d in ["usr/bin", "usr/lib", "lib64"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        std::fs::copy(&ctx.programs.report, root.join("usr/bin/report"))?;
        std::fs::copy("/lib/x86_64-linux-gnu/libc.so.6", root.join("usr/lib/libc.so.6"))?;
        std::fs::copy("/lib64/ld-linux-x86-64.so.2", root.join("usr/lib/ld-linux-x86-64.so.2"))?;
        std::os::unix::fs::symlink("usr/lib", root.join("lib"))?;
        std::os::unix::fs::symlink("/lib/ld-linux-x86-64.so.2", root.join("lib64/ld-linux-x86-64.so.2"))
    };
    try_or_fail!(setup());
    let packed = try_or_fail!(pack(ctx, "from_root", &["--root", &s(&root), "report"]));
    let info = run(&[packed.clone().into(), "--linuxrun-info".into()], &ctx.scratch);
    let text = String::from_utf8_lossy(&info.stdout);
    if !text.contains("file    0755")
        || !text.contains(" /lib/libc.so.6")
        || !text.contains("/lib64/ld-linux-x86-64.so.2 -> /lib/ld-linux-x86-64.so.2")
    {
        return Verdict::Fail(format!("not packed as the root's loader would find it:\n{text}"));
    }
    let native = run(&[ctx.programs.report.clone().into(), "x".into()], &ctx.scratch);
    let expected = String::from_utf8_lossy(&native.stdout)
        .replace(&format!("argv[0] = {}", s(&ctx.programs.report)), "argv[0] = report");
    let (k, v) = cache_env(ctx, "from_root");
    let packed_run = run(&hidden(ctx, &[(&k, &v)], &[packed.into(), "x".into()]), &ctx.scratch);
    if packed_run.status != native.status || String::from_utf8_lossy(&packed_run.stdout) != expected {
        return Verdict::Fail(format!(
            "packed from the root: {}: {}{}",
            packed_run.status,
            String::from_utf8_lossy(&packed_run.stdout),
            String::from_utf8_lossy(&packed_run.stderr)
        ));
    }
    Verdict::Pass
}

fn hidden_libs_jq(ctx: &Ctx) -> Verdict {
    // libjq and libonig (the regular expression) come from the payload.
    let program = r#"[range(5)] | map(. * 3) | {sum: add, matched: ("linuxrun" | test("n+u")), joined: join("-")}"#;
    hidden_case(ctx, "jq", "jq", &["jq"], &["-c", "-n", program])
}

fn hidden_libs_curl(ctx: &Ctx) -> Verdict {
    // libcurl and its libraries (TLS, HTTP/2, SSH, LDAP, IDN...): --version loads them all.
    hidden_case(ctx, "curl", "curl", &["curl"], &["--version"])
}

/// The GCC driver's programs and files outside `/usr/bin/gcc`'s own libraries: what a
/// compile and link needs when /usr/lib/x86_64-linux-gnu is hidden. The executables among
/// them bring their libraries (cc1: libisl, libmpc, libmpfr, libgmp, libzstd; as and ld:
/// libbfd, libctf, libsframe, libopcodes, libjansson).
const GCC_ADDS: &[&str] = &[
    "/usr/lib/gcc/x86_64-linux-gnu/12/cc1",
    "/usr/lib/gcc/x86_64-linux-gnu/12/collect2",
    "/usr/lib/gcc/x86_64-linux-gnu/12/lto-wrapper",
    "/usr/lib/gcc/x86_64-linux-gnu/12/liblto_plugin.so",
    "/usr/lib/gcc/x86_64-linux-gnu/12/include",
    "/usr/lib/gcc/x86_64-linux-gnu/12/crtbegin.o",
    "/usr/lib/gcc/x86_64-linux-gnu/12/crtbeginS.o",
    "/usr/lib/gcc/x86_64-linux-gnu/12/crtend.o",
    "/usr/lib/gcc/x86_64-linux-gnu/12/crtendS.o",
    "/usr/lib/gcc/x86_64-linux-gnu/12/libgcc.a",
    "/usr/lib/gcc/x86_64-linux-gnu/12/libgcc_s.so",
    "/usr/lib/x86_64-linux-gnu/libgcc_s.so.1",
    "/usr/bin/as",
    "/usr/bin/ld",
    "/usr/lib/x86_64-linux-gnu/Scrt1.o",
    "/usr/lib/x86_64-linux-gnu/crti.o",
    "/usr/lib/x86_64-linux-gnu/crtn.o",
    "/usr/lib/x86_64-linux-gnu/libc.so",
    "/usr/lib/x86_64-linux-gnu/libc_nonshared.a",
];

/// A packed gcc compiles and links a C file with the host's libraries hidden: the driver
/// execs cc1, as, collect2 and ld from the payload. Its object file is byte for byte the
/// native gcc's, and the program it links prints what the natively built one prints.
fn hidden_libs_gcc(ctx: &Ctx) -> Verdict {
    if let Some(why) = &ctx.no_hiding {
        return Verdict::Skip(why.clone());
    }
    let Some(version) = gcc_major() else { return Verdict::Skip("no gcc".into()) };
    if version != "12" {
        // GCC_ADDS names gcc 12's directory (Debian 12's).
        return Verdict::Skip(format!("gcc {version}: the case lists gcc 12's files"));
    }
    let mut pack_args: Vec<&str> = vec!["gcc"];
    for add in GCC_ADDS {
        pack_args.extend(["--add", add]);
    }
    let packed = try_or_fail!(pack(ctx, "gcc", &pack_args));
    let dir = ctx.scratch.join("gcc-work");
    try_or_fail!(std::fs::create_dir_all(&dir));
    let source = ctx.scratch.join("gcc-work/prog.c");
    try_or_fail!(std::fs::write(
        &source,
        "#include <stdio.h>\n#include <string.h>\nint main(int argc, char **argv) {\n    \
         printf(\"%d args, %zu bytes in argv[0]\\n\", argc, strlen(argv[0]));\n    return 3;\n}\n"
    ));
    let (k, v) = cache_env(ctx, "gcc");
    let compile = |gcc: OsString, hide: bool, out: &str, extra: &[&str]| -> Outcome {
        let mut argv: Vec<OsString> = vec![gcc, "-O2".into()];
        argv.extend(extra.iter().map(OsString::from));
        argv.extend(["-o".into(), dir.join(out).into(), source.clone().into()]);
        if hide {
            run(&hidden(ctx, &[(&k, &v)], &argv), &dir)
        } else {
            run(&argv, &dir)
        }
    };
    for (what, out) in [
        ("compile", compile(packed.clone().into(), true, "packed.o", &["-c"])),
        ("link", compile(packed.into(), true, "packed-prog", &[])),
    ] {
        if out.status != Status::Exit(0) {
            return Verdict::Fail(format!(
                "packed gcc ({what}): {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    for (what, out) in [
        ("compile", compile("gcc".into(), false, "native.o", &["-c"])),
        ("link", compile("gcc".into(), false, "native-prog", &[])),
    ] {
        if out.status != Status::Exit(0) {
            return Verdict::Fail(format!(
                "native gcc ({what}): {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let (a, b) = (std::fs::read(dir.join("native.o")), std::fs::read(dir.join("packed.o")));
    if a.is_err() || a.ok() != b.ok() {
        return Verdict::Fail("the packed gcc's object file differs from the native one's".into());
    }
    // Same argv[0] length: both programs are run under the name ./prog.
    let run_prog = |name: &str| {
        let prog = dir.join("prog");
        let _ = std::fs::remove_file(&prog);
        match std::fs::copy(dir.join(name), &prog) {
            Ok(_) => run(&["./prog".into(), "x".into()], &dir),
            Err(e) => Outcome { status: Status::Exit(-1), stdout: Vec::new(), stderr: e.to_string().into_bytes() },
        }
    };
    same("gcc-built program", &run_prog("native-prog"), &run_prog("packed-prog"))
}

fn gcc_major() -> Option<String> {
    let out = std::process::Command::new("gcc").arg("-dumpversion").output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().split('.').next()?.to_string())
}

/// A refused `pack` (argv) exits with `code`, says `linuxrun: pack:` and `words`, and leaves
/// nothing behind in `dir`; otherwise the failure.
fn refused_cleanly(ctx: &Ctx, argv: &[OsString], dir: &Path, code: u8, words: &str) -> Option<Verdict> {
    let o = run(argv, &ctx.scratch);
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status != Status::Exit(code as i32) || !err.contains("linuxrun: pack:") || !err.contains(words) {
        return Some(Verdict::Fail(format!(
            "pack {:?}: expected exit {code} and {words:?}, got {}: {err}",
            &argv[2..],
            o.status
        )));
    }
    leftovers(dir).map(|left| Verdict::Fail(format!("pack {:?} left {left}", &argv[2..])))
}

/// `linuxrun pack --target`'s bad input, with no macOS runtime built: an unknown target
/// (usage, 2), Apple Silicon (refused, 1), a Linux runtime for macOS, a Mach-O runtime for
/// Linux, an arm64 Mach-O, a missing --runtime (1); a message and no output left behind.
fn macos_bad_input(ctx: &Ctx) -> Verdict {
    let dir = ctx.scratch.join("bad-macos");
    try_or_fail!(std::fs::create_dir_all(&dir));
    // A 64-bit Mach-O executable header: magic, CPU type, subtype, MH_EXECUTE, no commands.
    let macho = |cputype: u32| -> Vec<u8> {
        [0xfeed_facfu32, cputype, 3, 2, 0, 0, 0, 0].iter().flat_map(|v| v.to_le_bytes()).collect()
    };
    try_or_fail!(fixtures::file(&dir, "arm64-macho", &macho(0x0100_000c), 0o755));
    try_or_fail!(fixtures::file(&dir, "x86-macho", &macho(0x0100_0007), 0o755));
    let out = s(&dir.join("out"));
    let report = s(&ctx.programs.report);
    let (runtime, arm, x86) = (s(&ctx.runtime), s(&dir.join("arm64-macho")), s(&dir.join("x86-macho")));
    let mac = "x86_64-apple-darwin";
    let cases: Vec<(Vec<&str>, u8, &str)> = vec![
        (vec!["--target", "riscv64gc-unknown-linux-gnu"], 2, "the targets are"),
        (vec!["--target", "aarch64-apple-darwin", "--runtime", &arm], 1, "Apple Silicon"),
        (vec!["--target", mac, "--runtime", &runtime], 1, "not a Mach-O"),
        (vec!["--target", mac, "--runtime", &arm], 1, "Apple Silicon"),
        (vec!["--target", mac, "--runtime", &x86], 1, "not linuxrun"),
        (vec!["--target", mac], 1, "needs --runtime"),
        (vec!["--runtime", &x86], 1, "--target x86_64-apple-darwin"),
    ];
    for (args, code, words) in cases {
        let mut argv: Vec<OsString> = vec![ctx.linuxrun.clone().into(), "pack".into(), report.clone().into()];
        argv.extend(args.iter().map(OsString::from));
        argv.extend(["-o".into(), out.clone().into()]);
        if let Some(failed) = refused_cleanly(ctx, &argv, &dir, code, words) {
            return failed;
        }
    }
    Verdict::Pass
}

/// The macOS runtime: LINUXRUN_MACOS_RUNTIME, else scripts/build-macos (cached in target/;
/// it prints the runtime's path last). Err: why it cannot be had (a counted skip).
fn macos_runtime(workspace: &Path) -> Result<PathBuf, String> {
    if let Some(r) = std::env::var_os("LINUXRUN_MACOS_RUNTIME") {
        return Ok(PathBuf::from(r));
    }
    let started = std::time::Instant::now();
    let out = std::process::Command::new(workspace.join("scripts/build-macos"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("scripts/build-macos: {e}"))?;
    if !out.status.success() {
        return Err(format!("scripts/build-macos failed ({}; its errors are above)", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().ok_or("scripts/build-macos printed nothing")?;
    println!("note: the macOS runtime took {:.1} s (scripts/build-macos)", started.elapsed().as_secs_f64());
    Ok(workspace.join(last.trim()))
}

/// `linuxrun pack --info FILE`: its status and stdout.
fn pack_info(ctx: &Ctx, file: &Path) -> (Status, String) {
    let o = run(&[ctx.linuxrun.clone().into(), "pack".into(), "--info".into(), file.into()], &ctx.scratch);
    (o.status, String::from_utf8_lossy(&o.stdout).into_owned())
}

fn payload_key(info: &str) -> Option<&str> {
    info.lines().find_map(|l| l.strip_prefix("payload: ")?.split(", key ").nth(1))
}

/// A Mach-O for Intel Macs, packed and signed here: it parses (goblin) as an x86_64
/// executable linking only macOS's own libraries and Hypervisor.framework; its code
/// signature verifies (apple-codesign's verifier), is ad-hoc and carries the hypervisor
/// entitlement; its payload is listed back by `pack --info` and is the very payload packed
/// for Linux; a changed byte of the payload breaks the signature.
fn macos_mach_o(ctx: &Ctx) -> Verdict {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf();
    let runtime = match macos_runtime(&workspace) {
        Ok(r) => r,
        Err(why) => return Verdict::Skip(why),
    };
    let report = s(&ctx.programs.report);
    let out = ctx.scratch.join("report.macos");
    let argv: Vec<OsString> = [
        ctx.linuxrun.as_os_str(),
        "pack".as_ref(),
        report.as_ref(),
        "--target".as_ref(),
        "x86_64-apple-darwin".as_ref(),
        "--runtime".as_ref(),
        runtime.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--args".as_ref(),
        "baked".as_ref(),
    ]
    .iter()
    .map(|a| a.to_os_string())
    .collect();
    let o = run(&argv, &ctx.scratch);
    if o.status != Status::Exit(0) {
        return Verdict::Fail(format!(
            "pack --target x86_64-apple-darwin: {}: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let bytes = try_or_fail!(std::fs::read(&out));
    if let Err(why) = check_macho(&bytes) {
        return Verdict::Fail(why);
    }
    if let Err(why) = check_signature(&bytes) {
        return Verdict::Fail(why);
    }
    let (status, info) = pack_info(ctx, &out);
    if status != Status::Exit(0)
        || !info.contains("Mach-O for macOS")
        || !info.contains("SHA-256: matches")
        || !info.contains(&format!("packed program: {report}"))
        || !info.contains("arguments before yours: baked")
        || !info.contains("libc.so.6")
    {
        return Verdict::Fail(format!("pack --info on the Mach-O: {status}: {info}"));
    }
    // The payload does not depend on the target.
    let linux = try_or_fail!(pack(ctx, "report_for_linux", &[&report, "--args", "baked"]));
    let (_, linux_info) = pack_info(ctx, &linux);
    if payload_key(&info).is_none() || payload_key(&info) != payload_key(&linux_info) {
        return Verdict::Fail(format!("payload keys differ:\nmacOS: {info}\nLinux: {linux_info}"));
    }
    // The signature covers the payload: change one byte of it.
    let magic = b"LINUXRUN-PACK\0\0\x01";
    let Some(at) = bytes.windows(magic.len()).rposition(|w| w == magic) else {
        return Verdict::Fail("no payload header in the Mach-O".into());
    };
    let mut damaged = bytes.clone();
    damaged[at + 100] ^= 0x55;
    if signature_problems(&damaged).is_empty() {
        return Verdict::Fail("the signature still verifies with a changed payload byte".into());
    }
    Verdict::Pass
}

fn check_macho(bytes: &[u8]) -> Result<(), String> {
    use goblin::mach::load_command::CommandVariant;
    let macho = match goblin::mach::Mach::parse(bytes).map_err(|e| format!("goblin: {e}"))? {
        goblin::mach::Mach::Binary(m) => m,
        goblin::mach::Mach::Fat(_) => return Err("a universal Mach-O".into()),
    };
    if macho.header.cputype != goblin::mach::cputype::CPU_TYPE_X86_64
        || macho.header.filetype != goblin::mach::header::MH_EXECUTE
        || !macho.is_64
    {
        return Err(format!("not an x86_64 executable: {:?}", macho.header));
    }
    if !macho.load_commands.iter().any(|c| matches!(c.command, CommandVariant::CodeSignature(_))) {
        return Err("no LC_CODE_SIGNATURE".into());
    }
    let libs: Vec<&str> = macho.libs.iter().copied().filter(|l| *l != "self").collect();
    let hypervisor = "/System/Library/Frameworks/Hypervisor.framework/Versions/A/Hypervisor";
    if !libs.contains(&hypervisor) || !libs.iter().any(|l| l.starts_with("/usr/lib/libSystem")) {
        return Err(format!("does not link Hypervisor.framework and libSystem: {libs:?}"));
    }
    if let Some(foreign) = libs.iter().find(|l| !l.starts_with("/usr/lib/") && !l.starts_with("/System/Library/")) {
        return Err(format!("links {foreign}, which a Mac does not have"));
    }
    Ok(())
}

/// apple-codesign's verification of the signature, less what it says of every ad-hoc
/// signature: an ad-hoc signature has no cryptographic (CMS) part, only an empty CMS blob,
/// which its verifier reports as a CMS parse error (or as a missing CMS signature). The
/// rest (the code directory's page hashes and special-slot hashes against the file) stands.
fn signature_problems(bytes: &[u8]) -> Vec<String> {
    use apple_codesign::VerificationProblemType as P;
    let adhoc_cms_empty = apple_codesign::MachFile::parse(bytes)
        .ok()
        .and_then(|f| {
            f.nth_macho(0)
                .ok()
                .and_then(|m| m.code_signature().ok().flatten())
                .map(|s| s.signature_data().ok().flatten().is_none_or(<[u8]>::is_empty))
        })
        .unwrap_or(false);
    apple_codesign::verify_macho_data(bytes)
        .into_iter()
        .filter(|p| !(adhoc_cms_empty && matches!(p.problem, P::CmsError(_) | P::NoCryptographicSignature)))
        .map(|p| p.to_string())
        .collect()
}

fn check_signature(bytes: &[u8]) -> Result<(), String> {
    let problems = signature_problems(bytes);
    if !problems.is_empty() {
        return Err(format!("the code signature does not verify: {}", problems.join("; ")));
    }
    let file = apple_codesign::MachFile::parse(bytes).map_err(|e| e.to_string())?;
    let macho = file.nth_macho(0).map_err(|e| e.to_string())?;
    let signature = macho.code_signature().map_err(|e| e.to_string())?.ok_or("no embedded signature")?;
    let cd = signature.code_directory().map_err(|e| e.to_string())?.ok_or("no code directory")?;
    if !cd.flags.contains(apple_codesign::CodeSignatureFlags::ADHOC) {
        return Err(format!("not an ad-hoc signature: flags {:?}", cd.flags));
    }
    let entitlements = signature.entitlements().map_err(|e| e.to_string())?.ok_or("no entitlements")?;
    let plist = plist::Value::from_reader_xml(entitlements.as_str().as_bytes()).map_err(|e| e.to_string())?;
    let granted =
        plist.as_dictionary().and_then(|d| d.get("com.apple.security.hypervisor")).and_then(|v| v.as_boolean());
    if granted != Some(true) {
        return Err(format!("the hypervisor entitlement is not granted: {}", entitlements.as_str()));
    }
    Ok(())
}
