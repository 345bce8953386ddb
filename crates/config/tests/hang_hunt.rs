//! A random search for inputs that make the preprocessor spin (it found three: self-feeding
//! parameter definitions). Not part of the normal run; start it with
//! `cargo test --release -p ka-config --test hang_hunt -- --ignored --nocapture`.
//! A hit prints the input and exits 1; add it to `bad_input.rs` once fixed.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
use ka_config::diag::Diagnostics;
use ka_config::preprocess::{preprocess, Options};
use std::sync::mpsc;
use std::time::Duration;

#[test]
#[ignore]
fn hunt_preprocessor_hangs() {
    let parts = [
        "$A=",
        "${A}",
        "$A",
        "~SEQ(",
        "~LST(",
        "{",
        "}",
        ",",
        ")",
        "@main ",
        "@^x ",
        "\\",
        "\n",
        " ",
        "\"",
        "#",
        "include r.conf",
        "${_RANDOM 3 9}",
        "1",
        "x",
    ];
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let dir = std::env::temp_dir().join(format!("hunt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for case in 0..100000u64 {
        let mut s = String::new();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = (x % 80) as usize;
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push_str(parts[(x % parts.len() as u64) as usize]);
        }
        let p = dir.join("r.conf");
        std::fs::write(&p, &s).unwrap();
        let (tx, rx) = mpsc::channel();
        let p2 = p.clone();
        std::thread::spawn(move || {
            let mut d = Diagnostics::new();
            let opts = Options {
                config_id: "main".into(),
                ..Options::default()
            };
            let _ = preprocess(&p2, &opts, &mut d);
            let _ = tx.send(());
        });
        if rx.recv_timeout(Duration::from_secs(10)).is_err() {
            eprintln!("CASE {case} HANGS: {:?}", s);
            std::process::exit(1);
        }
    }
}
