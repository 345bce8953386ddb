//! IPVS on a real kernel: `ipvsadm` in a throw-away qemu VM (`scripts/ipvs-vm/ipvs-vm.sh`), the
//! host's kernel having no IPVS. One boot (~4 s) proving the harness that the LVS tests use:
//! module autoload, the guest command's stdout, stderr and status, and a host-built Rust binary
//! (this test binary) running in the guest with its shared libraries.
//!
//! Skips loudly without qemu; fails under `CI=true` then.

use ka_lab::ipvs_vm::{self, Vm};

/// The lines after `--- NAME` up to the next `--- ` line.
fn section<'a>(stdout: &'a str, name: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .skip_while(|l| *l != format!("--- {name}"))
        .skip(1)
        .take_while(|l| !l.starts_with("--- "))
        .collect()
}

#[test]
fn ipvsadm_wrr_service_in_vm() {
    if !ipvs_vm::require_vm_or_skip("ipvsadm_wrr_service_in_vm") {
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let exe_name = exe
        .file_name()
        .and_then(|n| n.to_str())
        .expect("test binary name")
        .to_string();
    let script = format!(
        r#"set -e
[ "$IPVS_VM" = 1 ]
ipvsadm -A -t 10.0.0.1:80 -s wrr
ipvsadm -a -t 10.0.0.1:80 -r 10.0.0.2:80 -m -w 3
ipvsadm -a -t 10.0.0.1:80 -r 10.0.0.3:80 -g -w 1
echo '--- ipvsadm -Sn'
ipvsadm -Sn
echo '--- modules'
cut -d' ' -f1 /proc/modules | grep '^ip_vs' | sort
echo '--- payload'
cat note.txt
./{exe_name} --list
echo '--- end'
echo 'a line for stderr' >&2
exit 7
"#
    );
    let out = Vm::new()
        .payload(&exe)
        .file("note.txt", "payload file arrived\n")
        .timeout(std::time::Duration::from_secs(300))
        .run(&script)
        .expect("run the IPVS VM");

    // the guest command's own status comes back (7, not 0, so a lost status cannot pass)
    assert_eq!(out.status, Some(7), "{out}");
    assert_eq!(
        section(&out.stdout, "ipvsadm -Sn"),
        [
            "-A -t 10.0.0.1:80 -s wrr",
            "-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m -w 3",
            "-a -t 10.0.0.1:80 -r 10.0.0.3:80 -g -w 1",
        ],
        "{out}"
    );
    // loaded on demand by the kernel: nothing was modprobe'd by hand
    let modules = section(&out.stdout, "modules");
    for m in ["ip_vs", "ip_vs_wrr"] {
        assert!(modules.contains(&m), "{m} not loaded: {out}");
    }
    let payload = section(&out.stdout, "payload");
    assert!(payload.contains(&"payload file arrived"), "{out}");
    assert!(
        payload.contains(&"ipvsadm_wrr_service_in_vm: test"),
        "this test binary did not run in the guest: {out}"
    );
    assert!(out.stderr.contains("a line for stderr"), "{out}");
    assert!(!out.stdout.contains("a line for stderr"), "{out}");
}
