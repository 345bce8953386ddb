//! Running a shell script in a throw-away qemu VM whose kernel has IPVS, through
//! `scripts/ipvs-vm/ipvs-vm.sh` (see `docs/testing.md`, "IPVS in a VM"). The host's kernel has
//! no IPVS; the guest boots Debian's cloud kernel (about 4 s under TCG) from an initramfs with
//! busybox, dash, ipvsadm and iproute2, and has no network card to the outside.
//!
//! ```no_run
//! use ka_lab::ipvs_vm::{self, Vm};
//! # fn main() -> anyhow::Result<()> {
//! if !ipvs_vm::require_vm_or_skip("my_test") {
//!     return Ok(());
//! }
//! let out = Vm::new()
//!     .payload("target/debug/keepalived-rs") // relative paths are from the repository root
//!     .file("keepalived.conf", "virtual_server 10.0.0.1 80 { }\n")
//!     .run("keepalived-rs -t -f keepalived.conf && ipvsadm -Sn")?;
//! assert!(out.success(), "{out}");
//! # Ok(()) }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Exit status of the script when the guest command ran longer than its timeout.
pub const EXIT_TIMEOUT: i32 = 124;
/// Exit status of the script when the VM itself failed (no boot, panic, no status, cache).
pub const EXIT_VM_FAILED: i32 = 125;

/// The repository's root (found from this crate's location at build time).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .unwrap_or(manifest)
        .to_path_buf()
}

/// `scripts/ipvs-vm/ipvs-vm.sh` in the repository.
pub fn script() -> PathBuf {
    repo_root().join("scripts/ipvs-vm/ipvs-vm.sh")
}

/// Whether this process runs inside the IPVS VM (the harness sets `IPVS_VM=1` there): tests
/// run there through the cargo runner (`ipvs-vm.sh --runner`) can program IPVS directly.
pub fn in_vm() -> bool {
    std::env::var("IPVS_VM").is_ok_and(|v| v == "1")
}

/// Why VM tests cannot run here, if they cannot: no qemu, no harness script, or already inside
/// the VM (no VM in the VM).
pub fn unavailable_reason() -> Option<String> {
    if in_vm() {
        return Some("already inside the IPVS VM (IPVS_VM=1)".to_string());
    }
    if !script().is_file() {
        return Some(format!("{} is missing", script().display()));
    }
    match Command::new("qemu-system-x86_64")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "`qemu-system-x86_64 --version` failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!(
            "qemu-system-x86_64 not available ({e}); \
             apt-get install --no-install-recommends qemu-system-x86"
        )),
    }
}

/// Whether VM tests can run here. When not, prints a loud `*** SKIPPED` line and returns false;
/// with `CI=true` it panics instead, because a skipped VM test in CI is a failure.
pub fn require_vm_or_skip(test_name: &str) -> bool {
    let Some(reason) = unavailable_reason() else {
        return true;
    };
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("{test_name}: IPVS VM unavailable in CI ({reason}); a skip in CI is a failure");
    }
    let line = format!("\n*** SKIPPED: {test_name}: cannot boot the IPVS VM ({reason}) ***\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    false
}

/// One VM run to prepare: what goes into the guest, and how.
#[derive(Debug, Clone, Default)]
pub struct Vm {
    payloads: Vec<PathBuf>,
    files: Vec<(String, Vec<u8>)>,
    env: Vec<(String, String)>,
    keepalived: bool,
    mem_mib: Option<u32>,
    smp: Option<u32>,
    timeout: Option<Duration>,
}

impl Vm {
    /// A VM with nothing but the base image (ipvsadm, iproute2, busybox).
    pub fn new() -> Self {
        Self::default()
    }

    /// Copies a host file or folder into the guest's `/payload` (the command's working
    /// directory, first in `PATH`). Relative paths are taken from the repository root.
    /// Executables bring their shared libraries along.
    pub fn payload(mut self, path: impl AsRef<Path>) -> Self {
        let p = path.as_ref();
        self.payloads.push(if p.is_absolute() {
            p.to_path_buf()
        } else {
            repo_root().join(p)
        });
        self
    }

    /// Puts a file with these contents into `/payload/NAME` (a config file, a script).
    pub fn file(mut self, name: &str, contents: impl AsRef<[u8]>) -> Self {
        self.files
            .push((name.to_string(), contents.as_ref().to_vec()));
        self
    }

    /// Sets an environment variable of the guest command.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// Puts Debian's keepalived into the guest as `/usr/sbin/keepalived` (adds ~2 s per boot).
    pub fn with_keepalived(mut self) -> Self {
        self.keepalived = true;
        self
    }

    /// Guest memory (default 1024 MiB). Payloads live in guest RAM.
    pub fn mem_mib(mut self, mib: u32) -> Self {
        self.mem_mib = Some(mib);
        self
    }

    /// Guest CPUs (default 1).
    pub fn smp(mut self, cpus: u32) -> Self {
        self.smp = Some(cpus);
        self
    }

    /// Kills the VM after this long (default 600 s); the status is then [`EXIT_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Boots the VM, runs `script` there (as root, by dash, in `/payload`, with `IPVS_VM=1`)
    /// and returns its status and output. Errors only when the harness cannot be started; a VM
    /// that fails shows as status [`EXIT_VM_FAILED`].
    pub fn run(&self, script: &str) -> Result<VmOutput> {
        let staging = Staging::new()?;
        let mut args: Vec<std::ffi::OsString> = Vec::new();
        let mut payloads = self.payloads.clone();
        for (name, contents) in &self.files {
            if name.is_empty() || name.contains('/') || name.starts_with('-') {
                bail!("payload file name {name:?}: want a plain file name");
            }
            let p = staging.0.join(name);
            std::fs::write(&p, contents)
                .with_context(|| format!("cannot write {}", p.display()))?;
            payloads.push(p);
        }
        for p in &payloads {
            if !p.exists() {
                bail!("payload {} does not exist", p.display());
            }
            // --payload takes the following arguments up to one starting with '-'
            args.push("--payload".into());
            args.push(p.into());
        }
        for (name, value) in &self.env {
            args.push("--env".into());
            args.push(format!("{name}={value}").into());
        }
        if self.keepalived {
            args.push("--with-keepalived".into());
        }
        if let Some(m) = self.mem_mib {
            args.extend(["--mem".into(), m.to_string().into()]);
        }
        if let Some(n) = self.smp {
            args.extend(["--smp".into(), n.to_string().into()]);
        }
        if let Some(t) = self.timeout {
            let secs = t.as_secs().max(1);
            args.extend(["--timeout".into(), secs.to_string().into()]);
        }
        args.push("--".into());
        args.push(script.into());
        let out = Command::new(crate::ipvs_vm::script())
            .args(&args)
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", crate::ipvs_vm::script().display()))?;
        let stderr_all = String::from_utf8_lossy(&out.stderr);
        let (mut log, mut stderr) = (String::new(), String::new());
        for line in stderr_all.split_inclusive('\n') {
            if line.starts_with("ipvs-vm: ") {
                log.push_str(line);
            } else {
                stderr.push_str(line);
            }
        }
        Ok(VmOutput {
            status: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
            log,
        })
    }
}

/// Runs `script` in a VM with these payloads (see [`Vm::run`]).
pub fn run_in_vm(payloads: &[&Path], script: &str) -> Result<VmOutput> {
    payloads
        .iter()
        .fold(Vm::new(), |vm, p| vm.payload(p))
        .run(script)
}

/// What a VM run gave: the guest command's status and output.
#[derive(Debug, Clone)]
pub struct VmOutput {
    /// The guest command's exit status; [`EXIT_TIMEOUT`] / [`EXIT_VM_FAILED`] for the harness's
    /// own failures; `None` if the script was killed by a signal.
    pub status: Option<i32>,
    /// The guest command's stdout (plus any kernel message printed on the console meanwhile).
    pub stdout: String,
    /// The guest command's stderr (and, on a VM failure, the end of the console).
    pub stderr: String,
    /// The harness's own messages (lines starting with `ipvs-vm: `: downloads, timing).
    pub log: String,
}

impl VmOutput {
    /// Whether the guest command exited with status 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

impl fmt::Display for VmOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "VM status {:?}", self.status)?;
        writeln!(f, "--- stdout\n{}", self.stdout.trim_end())?;
        writeln!(f, "--- stderr\n{}", self.stderr.trim_end())?;
        write!(f, "--- harness\n{}", self.log.trim_end())
    }
}

/// A private folder for generated payload files, removed on drop.
struct Staging(PathBuf);

impl Staging {
    fn new() -> Result<Self> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ka-ipvs-vm-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Staging(dir))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
