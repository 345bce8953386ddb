//! The inventory of every keepalived 2.2.7 keyword, block by block, with where keepalived-rs
//! stands on it. One list drives "unknown keyword" checks, "did you mean" hints, parsed-only
//! notes and `docs/compatibility.md` (generated from it by a test).
//!
//! The lists were checked against the real keepalived 2.2.7 binary (Debian bookworm build):
//! every keyword here that is not `Differs` is accepted by `keepalived -t` in its block, and
//! every string of the binary that is not listed is reported there as `Unknown keyword`.
//! Blocks whose lines are data (`virtual_ipaddress`, `unicast_peer`, `linkbeat_interfaces`,
//! `notification_email`, `group`, ...) are keywords (`block: true`) of their parent; their lines
//! are not keywords and have no block of their own here.

mod table;

/// How common a keyword is in real deployments (from the behaviour reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Almost every deployment uses it.
    A,
    /// Common.
    B,
    /// Rare or exotic.
    C,
}

impl Priority {
    /// The letter used in the documentation.
    pub const fn label(self) -> &'static str {
        match self {
            Priority::A => "A",
            Priority::B => "B",
            Priority::C => "C",
        }
    }
}

/// Where keepalived-rs stands on a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Parsed, validated and modelled.
    Supported,
    /// Recognised and kept in the model as raw text; no effect yet.
    ParsedOnly,
    /// Belongs to a part not built yet (the block is skipped with a note).
    NotYet,
    /// Supported, but behaves differently from keepalived 2.2.7 (the note says how and why).
    Differs,
}

impl Status {
    /// The name used in the documentation.
    pub const fn label(self) -> &'static str {
        match self {
            Status::Supported => "Supported",
            Status::ParsedOnly => "ParsedOnly",
            Status::NotYet => "NotYet",
            Status::Differs => "Differs",
        }
    }
}

/// One keyword of one block.
#[derive(Debug, Clone, Copy)]
pub struct Keyword {
    /// The keyword as written in keepalived.conf.
    pub name: &'static str,
    /// How common it is.
    pub priority: Priority,
    /// Where we stand.
    pub status: Status,
    /// Whether it opens a `{ }` block.
    pub block: bool,
    /// Short remark for the compatibility table (empty when none).
    pub note: &'static str,
}

/// A block and its keywords.
#[derive(Debug, Clone, Copy)]
pub struct Block {
    /// Path of the block, e.g. `global_defs`, `vrrp_instance`, `vrrp_instance.authentication`;
    /// `root` for top-level keywords.
    pub path: &'static str,
    /// Its keywords.
    pub keywords: &'static [Keyword],
}

/// Every block keepalived 2.2.7 knows (plus `vrrp_instance.auth_hmac` of newer releases), in
/// the order of the documentation.
pub static BLOCKS: &[Block] = &[
    Block {
        path: "root",
        keywords: table::ROOT,
    },
    Block {
        path: "global_defs",
        keywords: table::GLOBAL_DEFS,
    },
    Block {
        path: "vrrp_script",
        keywords: table::VRRP_SCRIPT,
    },
    Block {
        path: "track_file",
        keywords: table::TRACK_FILE,
    },
    Block {
        path: "vrrp_track_process",
        keywords: table::VRRP_TRACK_PROCESS,
    },
    Block {
        path: "vrrp_sync_group",
        keywords: table::VRRP_SYNC_GROUP,
    },
    Block {
        path: "vrrp_instance",
        keywords: table::VRRP_INSTANCE,
    },
    Block {
        path: "vrrp_instance.authentication",
        keywords: table::VRRP_INSTANCE_AUTHENTICATION,
    },
    Block {
        path: "vrrp_instance.auth_hmac",
        keywords: table::VRRP_INSTANCE_AUTH_HMAC,
    },
    Block {
        path: "garp_group",
        keywords: table::GARP_GROUP,
    },
    Block {
        path: "track_group",
        keywords: table::TRACK_GROUP,
    },
    Block {
        path: "bfd_instance",
        keywords: table::BFD_INSTANCE,
    },
    Block {
        path: "virtual_server_group",
        keywords: table::VIRTUAL_SERVER_GROUP,
    },
    Block {
        path: "virtual_server",
        keywords: table::VIRTUAL_SERVER,
    },
    Block {
        path: "real_server",
        keywords: table::REAL_SERVER,
    },
    Block {
        path: "TCP_CHECK",
        keywords: table::TCP_CHECK,
    },
    Block {
        path: "HTTP_GET",
        keywords: table::HTTP_GET,
    },
    Block {
        path: "SSL_GET",
        keywords: table::SSL_GET,
    },
    Block {
        path: "HTTP_GET.url",
        keywords: table::HTTP_GET_URL,
    },
    Block {
        path: "SMTP_CHECK",
        keywords: table::SMTP_CHECK,
    },
    Block {
        path: "SMTP_CHECK.host",
        keywords: table::SMTP_CHECK_HOST,
    },
    Block {
        path: "MISC_CHECK",
        keywords: table::MISC_CHECK,
    },
    Block {
        path: "DNS_CHECK",
        keywords: table::DNS_CHECK,
    },
    Block {
        path: "UDP_CHECK",
        keywords: table::UDP_CHECK,
    },
    Block {
        path: "PING_CHECK",
        keywords: table::PING_CHECK,
    },
    Block {
        path: "FILE_CHECK",
        keywords: table::FILE_CHECK,
    },
    Block {
        path: "BFD_CHECK",
        keywords: table::BFD_CHECK,
    },
    Block {
        path: "SSL",
        keywords: table::SSL,
    },
];

/// The block with this path (`root`, `global_defs`, `vrrp_instance.authentication`, ...).
pub fn block(path: &str) -> Option<&'static Block> {
    BLOCKS.iter().find(|b| b.path == path)
}

/// Whether a parsed-only keyword is nevertheless read somewhere (its note says so: `read:`,
/// `kept raw and used`, `kept raw and applied`), so `-t` does not call it without effect.
pub fn read_although_raw(kw: &Keyword) -> bool {
    kw.status == Status::ParsedOnly
        && ["read:", "kept raw and used", "kept raw and applied"]
            .iter()
            .any(|p| kw.note.starts_with(p))
}

/// The note of such a keyword without its "read" prefix, for `-t`'s line.
pub fn read_note(kw: &Keyword) -> &'static str {
    let mut note = kw.note;
    for prefix in [
        "read:",
        "kept raw and used by",
        "kept raw and used:",
        "kept raw and used",
        "kept raw and applied by",
        "kept raw and applied:",
        "kept raw and applied",
    ] {
        if let Some(rest) = note.strip_prefix(prefix) {
            note = rest;
            break;
        }
    }
    note.trim()
}

/// The keyword `name` of the block `path` (case-sensitive, as in keepalived).
pub fn keyword(path: &str, name: &str) -> Option<&'static Keyword> {
    block(path)?.keywords.iter().find(|k| k.name == name)
}

/// Where a block sits in keepalived.conf, for the documentation.
fn block_title(path: &str) -> String {
    match path {
        "root" => "Top level".to_string(),
        "HTTP_GET.url" => "`url { }` in `HTTP_GET` and `SSL_GET`".to_string(),
        _ => match path.rsplit_once('.') {
            Some((parent, child)) => format!("`{child} {{ }}` in `{parent}`"),
            None => format!("`{path}`"),
        },
    }
}

/// Markdown table cell text: `|` would end the cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// Counts of each status in a block: supported, parsed-only, not yet, differs.
fn status_counts(keywords: &[Keyword]) -> [usize; 4] {
    let mut n = [0; 4];
    for k in keywords {
        let i = match k.status {
            Status::Supported => 0,
            Status::ParsedOnly => 1,
            Status::NotYet => 2,
            Status::Differs => 3,
        };
        n[i] += 1;
    }
    n
}

/// `docs/compatibility.md`: the intro, the deliberate differences and one table per block.
pub fn render_compatibility_markdown() -> String {
    let mut s = String::new();
    s.push_str(INTRO);
    s.push_str("\n## Summary\n\n");
    s.push_str("| block | keywords | Supported | ParsedOnly | NotYet | Differs |\n");
    s.push_str("|---|---|---|---|---|---|\n");
    let mut total = [0; 4];
    for b in BLOCKS {
        let n = status_counts(b.keywords);
        for (t, x) in total.iter_mut().zip(n) {
            *t += x;
        }
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            b.path,
            b.keywords.len(),
            n[0],
            n[1],
            n[2],
            n[3]
        ));
    }
    s.push_str(&format!(
        "| **all** | {} | {} | {} | {} | {} |\n",
        total.iter().sum::<usize>(),
        total[0],
        total[1],
        total[2],
        total[3]
    ));
    s.push_str("\n## Keywords by block\n");
    for b in BLOCKS {
        s.push_str(&format!("\n### {} (`{}`)\n\n", block_title(b.path), b.path));
        s.push_str("| keyword | status | priority | note |\n|---|---|---|---|\n");
        for k in b.keywords {
            let name = if k.block {
                format!("`{} {{ }}`", k.name)
            } else {
                format!("`{}`", k.name)
            };
            s.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                name,
                k.status.label(),
                k.priority.label(),
                cell(k.note)
            ));
        }
    }
    s
}

/// The fixed beginning of `docs/compatibility.md`.
const INTRO: &str = "\
# keepalived-rs compatibility with keepalived 2.2.7

<!-- Generated from crates/config/src/keywords.rs by the test `compatibility_doc_is_current`
     (run it with UPDATE_DOCS=1 to rewrite this file). Do not edit by hand. -->

keepalived-rs reads the same `keepalived.conf` as keepalived 2.2.7 (Debian bookworm's
`1:2.2.7-1+b2` is the reference). This document lists every keyword 2.2.7 accepts, block by
block, and where keepalived-rs stands on it. The lists were checked against the real 2.2.7
binary with `keepalived -t`.

Status:

- **Supported**: parsed into the typed model, validated as keepalived 2.2.7 does, and acted on:
  by the VRRP side (`docs/running.md`) or by the LVS side, which programs IPVS and runs the
  checkers in the checker process (`docs/lvs.md`). Every checker runs (TCP_CHECK, HTTP_GET,
  SSL_GET, SMTP_CHECK, MISC_CHECK, DNS_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK) except
  BFD_CHECK, as there is no BFD. Exceptions are in the note or under *Not built yet* in
  `docs/running.md` and `docs/lvs.md`.
- **ParsedOnly**: recognised and kept raw in the model, with a note in the diagnostics. It has
  no effect unless the note says what reads it (`default_interface`, the root `SSL` block,
  `regex_options`, `regex_min_offset` and `regex_max_offset` are used).
- **NotYet**: belongs to a part not built yet; the whole block is skipped with a note (no
  keyword has it today).
- **Differs**: keepalived-rs accepts it, but keepalived 2.2.7 does not, or behaves differently; the
  note says how.

Priority: **A** = almost every deployment uses it, **B** = common, **C** = rare or exotic.

Keywords are case-sensitive, as in keepalived (`state master` is not `state MASTER`, `ssl_get` is
not `SSL_GET`). An unknown keyword is a warning with file:line and the nearest known keyword; it
is skipped (with its block) and, as with keepalived, makes `-t` exit with status 5.

Blocks whose lines are data (`virtual_ipaddress`, `virtual_routes`, `track_interface`,
`track_script`, `unicast_peer`, `notification_email`, `group`, `static_ipaddress`,
`linkbeat_interfaces`, ...) appear as keywords of their parent (written `name { }`); their lines
are not keywords. The `include` directives are handled by the preprocessor at any level.

## Deliberate differences

- LVS (details and reasons in `docs/lvs.md`): a service or destination of ours that another
  tool removes is re-created, with a log line, backing off when the repair keeps being undone
  (2.2.7 never notices); an operator's change to our weights or schedulers is logged once and
  left alone; start-up adopts existing entries as found, like 2.2.7, but says so instead of
  logging `IPVS cmd ... error: ... already exists`; without IPVS in the kernel the VRRP side
  keeps running (2.2.7 stops everything), and `-C` alone exits 1.
- An advert whose VIP list differs from ours is logged and counted, not dropped (as keepalived
  2.3.3+ does): dropping it makes two masters after every VIP change.
- `-t` exit codes equal keepalived 2.2.7's on every fixture (`docs/verdicts.md`,
  `docs/verdicts-lvs.md`), except where keepalived crashes or hangs:
  - `HTTP_GET`/`SSL_GET` with no usable `url`: keepalived 2.2.7 segfaults; we report it (exit 5)
    and drop the checker.
  - `virtual_server fwmark` / `virtual_server group` with nothing after: keepalived segfaults; we
    treat it as any missing value (exit 2).
  - Parameters that expand into themselves (`$A=x{${A}`, mutually recursive definitions):
    keepalived spins forever; we stop after bounded work with exit 4 (cannot run).
  - An include loop: keepalived recurses until it runs out of file descriptors; we read each
    file once per chain (same exit code, 0).
- Two priority-255 owners of one VRID: keepalived 2.2.7 makes itself 254 for good; keepalived-rs
  applies the normal tie-break (the higher address stays master, the other becomes backup), so
  the pair recovers by itself once the misconfiguration is fixed, as keepalived ≥ 2.3 does.
- Diagnostics are worded our way, with `file:line:col`, the offending token and a hint; each is
  printed once (keepalived prints some up to four times, once per reading pass).
- Newer keywords (`Differs` below) are accepted and kept, but `-t` still reports them as unknown
  to keepalived 2.2.7 (exit 5), so a config checked with keepalived-rs also runs on 2.2.7.

## Command line

keepalived 2.2.7's options (`keepalived-rs --help`):

| option | status | note |
|---|---|---|
| `-f -P -n -l -S -G -p -r -c -i -e -d -t -v -V -I -R`, `--signum` | Supported | as in keepalived 2.2.7 |
| `-C`, `--check` | Supported | the checker (LVS) side alone, in one process; exits 1 without IPVS in the kernel |
| `-T`, `--genhash` | Supported | genhash, output equal to Debian's; also when the binary is called `genhash` |
| `-D`, `--log-detail` | accepted, no effect | |
| `-s`, `--namespace` | Supported | enters network namespace `/run/netns/NAME` (as `ip netns` names it) at start; default pid files become `/run/keepalived_NAME.pid`, `/run/vrrp_NAME.pid`, `/run/checkers_NAME.pid` |
| `-X`, `--release-vips` | accepted, no effect | VIPs are released at stop unless `-V` |
| `-x`, `-A` | accepted, no effect | SNMP is not built |
| `-a`, `-u`, `-g`, `--flush-log-file`, `-m`, `-M`, `-B`, `-b`, `--all`, `--ignore-sigint`, `--debug`, `--perf`, `--no-mem-check` | accepted, no effect | |

keepalived-rs only (keepalived 2.2.7 has none of these; details in `docs/operations.md`):

| option | what it does |
|---|---|
| `keepalived-rs status [--json] [-p FILE] [-i NAME] [-s NETNS]` | asks the running daemon for its VRRP and LVS state over an abstract unix socket (root only); exit 0 healthy, 1 an instance in FAULT or a lost quorum, 2 no answer |
| `--metrics-listen ADDR:PORT` | serves Prometheus text at `/metrics`: the metric names of the widely used keepalived exporter, plus `keepalived_rs_*` ones |
| `--ipvs-backend=memory` | IPVS operations go to an in-memory table and the log instead of the kernel (a dry run) |
| `--config-json` | prints the validated model, every default filled in, as JSON, and exits |
| `--man` | prints the keepalived-rs(8) man page (roff) and exits |
";

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn compatibility_doc_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/compatibility.md");
        let want = render_compatibility_markdown();
        if std::env::var("UPDATE_DOCS").as_deref() == Ok("1") {
            std::fs::write(path, &want).expect("write docs/compatibility.md");
            return;
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/compatibility.md is stale: run `UPDATE_DOCS=1 cargo test -p ka-config \
             compatibility_doc_is_current`"
        );
    }

    #[test]
    fn no_duplicate_keyword_in_a_block() {
        for b in BLOCKS {
            let mut seen = HashSet::new();
            for k in b.keywords {
                assert!(seen.insert(k.name), "'{}' twice in {}", k.name, b.path);
            }
        }
    }

    #[test]
    fn block_paths_are_unique() {
        let mut seen = HashSet::new();
        for b in BLOCKS {
            assert!(seen.insert(b.path), "block {} twice", b.path);
        }
    }

    #[test]
    fn every_sub_block_has_an_opening_keyword() {
        for b in BLOCKS {
            let Some((parent, child)) = b.path.rsplit_once('.') else {
                continue;
            };
            let parents: &[&str] = if parent == "HTTP_GET" {
                &["HTTP_GET", "SSL_GET"]
            } else {
                &[parent]
            };
            for p in parents {
                assert!(
                    keyword(p, child).is_some_and(|k| k.block),
                    "{} has no {child} {{",
                    p
                );
            }
        }
        for b in BLOCKS
            .iter()
            .filter(|b| b.path != "root" && !b.path.contains('.'))
        {
            let opener = keyword("root", b.path)
                .or_else(|| keyword("virtual_server", b.path))
                .or_else(|| keyword("real_server", b.path));
            assert!(opener.is_some_and(|k| k.block), "nothing opens {}", b.path);
        }
    }

    #[test]
    fn lookups() {
        let state = keyword("vrrp_instance", "state").expect("state");
        assert_eq!(
            (state.priority, state.status),
            (Priority::A, Status::Supported)
        );
        assert!(keyword("vrrp_instance", "State").is_none());
        assert_eq!(
            keyword("global_defs", "v3_checksum_as_v2").map(|k| k.status),
            Some(Status::Differs)
        );
        assert_eq!(
            keyword("root", "virtual_server").map(|k| k.status),
            Some(Status::Supported)
        );
        assert!(block("vrrp_instance.authentication").is_some());
        assert!(block("nope").is_none());
    }

    #[test]
    fn keyword_names_are_plain() {
        for b in BLOCKS {
            for k in b.keywords {
                assert!(
                    !k.name.is_empty()
                        && k.name
                            .bytes()
                            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-'),
                    "odd keyword {:?} in {}",
                    k.name,
                    b.path
                );
            }
        }
    }
}
