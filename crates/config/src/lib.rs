//! keepalived.conf, read as keepalived 2.2.7 reads it, into one typed model.
//!
//! Pipeline: [`preprocess`] (files, includes, `@` lines, `$` parameters, `~SEQ`) produces logical
//! lines; [`lexer`] splits them; [`tree`] builds the block tree; [`model`] checks every keyword,
//! fills keepalived's defaults and applies its cross-field rules. Every problem becomes a
//! [`diag::Diagnostic`] with file:line:col. The environment (interfaces, programs, users) is
//! reached only through [`env::Environment`], so verdicts are testable without a real system.

pub mod diag;
pub mod env;
pub mod keywords;
pub mod lexer;
pub mod model;
pub mod preprocess;
pub mod render;
pub mod tree;

use diag::Diagnostics;
use env::Environment;
use std::path::Path;

/// The result of reading a configuration: the model and every diagnostic met on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated model, defaults filled in.
    pub config: model::Config,
    /// Every diagnostic, in order.
    pub diagnostics: Diagnostics,
}

/// Reads, parses and validates a configuration file.
pub fn load(path: &Path, opts: &preprocess::Options, env: &dyn Environment) -> Loaded {
    let mut diagnostics = Diagnostics::new();
    // Each stage's input is dropped as soon as the next stage has it, so a huge file never
    // holds its lines, its tree and its model in memory at once.
    // LVS blocks do not depend on global_defs, so each becomes model as soon as it closes and
    // its tree is dropped: a file with thousands of real servers never holds them all as
    // statements. Everything else waits for the whole file (global_defs may come last).
    let mut lvs = model::LvsPart::default();
    let nodes = {
        let mut builder = tree::Builder::new();
        preprocess::preprocess_into(path, opts, &mut diagnostics, &mut |line, d| {
            builder.push_line(&line, d);
            if let Some(node) = builder.take_completed_top(model::LvsPart::wants) {
                lvs.add(&node, d);
            }
        });
        builder.finish(&mut diagnostics)
    };
    let config = model::build_with(&nodes, lvs, env, &mut diagnostics);
    drop(nodes);
    Loaded {
        config,
        diagnostics,
    }
}

/// Reads a configuration given as text (written to a private temporary file so `include` and
/// file:line diagnostics behave as for a real file), with a fixed test environment. For tests
/// of other crates that start from a keepalived.conf snippet.
pub fn load_str(text: &str) -> model::Config {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ka-config-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let path = dir.join("keepalived.conf");
    let config = match std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, text)) {
        Ok(()) => {
            let opts = preprocess::Options {
                config_id: "lab".into(),
                all_config: false,
                random_seed: None,
                instance: String::new(),
            };
            load(&path, &opts, &env::FakeEnvironment::lab()).config
        }
        Err(_) => model::Config::default(),
    };
    let _ = std::fs::remove_dir_all(&dir);
    config
}
