//! Fuzz target: any bytes as keepalived.conf must give diagnostics, never a panic or a hang.
#![no_main]

use ka_config::env::FakeEnvironment;
use ka_config::preprocess::Options;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn scratch() -> &'static std::path::PathBuf {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("ka-fuzz-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch().join("keepalived.conf");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let opts = Options { config_id: "fuzz".into(), ..Options::default() };
    let env = FakeEnvironment::lab();
    let loaded = ka_config::load(&path, &opts, &env);
    let _ = loaded.diagnostics.exit_code();
});
