//! The inventory of every keepalived 2.2.7 keyword, block by block, with where keepalived-rs
//! stands on it. One list drives "unknown keyword" checks, "did you mean" hints, parsed-only
//! notes and `docs/compatibility.md` (generated from it by a test).

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

/// Every block keepalived 2.2.7 knows.
pub static BLOCKS: &[Block] = &[];

/// The block with this path, if keepalived knows it.
pub fn block(path: &str) -> Option<&'static Block> {
    BLOCKS.iter().find(|b| b.path == path)
}

/// The keyword `name` of block `path`, if keepalived 2.2.7 (or a newer keepalived) knows it.
pub fn keyword(path: &str, name: &str) -> Option<&'static Keyword> {
    block(path)?.keywords.iter().find(|k| k.name == name)
}
