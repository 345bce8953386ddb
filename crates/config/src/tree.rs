//! Builds the block tree from preprocessed lines: each statement is a keyword, its arguments and
//! an optional `{ }` block of child statements.
//!
//! Braces may share a line with content (`track_script { chk }`) or sit on their own line; a `{`
//! alone on a line opens the block of the statement before it (keepalived accepts
//! `vrrp_instance VI_1` followed by `{` on the next line).

use crate::diag::{Diagnostics, Location};
use crate::lexer::{tokenize, TokenKind};
use crate::preprocess::Line;
use compact_str::CompactString;
use serde::Serialize;

/// One argument of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arg {
    /// Its text (quotes removed); inline when short.
    pub text: CompactString,
    /// Whether it was written in double quotes.
    pub quoted: bool,
    /// A quoted string whose closing quote is missing.
    pub unterminated: bool,
    /// Where it is.
    pub location: Location,
}

/// One statement: `keyword args... [{ children }]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// The first word of the statement; inline when short.
    pub keyword: CompactString,
    /// Where the keyword is.
    pub location: Location,
    /// The words after the keyword, up to the end of the line or a brace.
    pub args: Vec<Arg>,
    /// The statements inside `{ }`, if the statement has a block.
    pub block: Option<Vec<Node>>,
}

impl Node {
    /// The argument texts, for handlers that only care about words.
    pub fn arg_texts(&self) -> Vec<&str> {
        self.args.iter().map(|a| a.text.as_str()).collect()
    }

    /// The n-th argument, if present.
    pub fn arg(&self, n: usize) -> Option<&Arg> {
        self.args.get(n)
    }

    /// The children of the block, or nothing when there is no block.
    pub fn children(&self) -> &[Node] {
        self.block.as_deref().unwrap_or(&[])
    }

    /// Location of the n-th argument, or of the keyword when it is missing.
    pub fn arg_location(&self, n: usize) -> &Location {
        self.args
            .get(n)
            .map(|a| &a.location)
            .unwrap_or(&self.location)
    }
}

/// A statement being built: it ends at the end of its line or at a brace.
struct Pending {
    keyword: CompactString,
    location: Location,
    args: Vec<Arg>,
}

/// Builds the statement tree line by line (so lines can be streamed in and dropped).
pub struct Builder {
    /// stack[0] is the top level; each further entry is a block being filled, together with
    /// the statement that owns it.
    stack: Vec<(Option<Node>, Vec<Node>)>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            stack: vec![(None, Vec::new())],
        }
    }
}

impl Builder {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one preprocessed line.
    pub fn push_line(&mut self, line: &Line, diags: &mut Diagnostics) {
        let stack = &mut self.stack;
        let mut pending: Option<Pending> = None;
        for tok in tokenize(&line.text) {
            let loc = line.location.at_col(tok.col);
            match tok.kind {
                TokenKind::Word | TokenKind::Quoted => {
                    if !tok.terminated {
                        diags
                            .error(
                                Some(&loc),
                                format!("unmatched quote: '{}'", line.text.trim()),
                            )
                            .with_help("a string opened with '\"' needs a closing '\"'");
                    }
                    let quoted = tok.kind == TokenKind::Quoted;
                    match &mut pending {
                        Some(p) => p.args.push(Arg {
                            text: tok.text,
                            quoted,
                            unterminated: !tok.terminated,
                            location: loc,
                        }),
                        None => {
                            pending = Some(Pending {
                                keyword: tok.text,
                                location: loc,
                                args: vec![],
                            })
                        }
                    }
                }
                TokenKind::Open => {
                    let owner = match pending.take() {
                        Some(p) => Some(Node {
                            keyword: p.keyword,
                            location: p.location,
                            args: p.args,
                            block: None,
                        }),
                        None => {
                            // `{` alone: it opens the block of the previous statement.
                            let top = stack.last_mut().map(|(_, c)| c);
                            match top.and_then(|c| c.pop()) {
                                Some(prev) if prev.block.is_none() => Some(prev),
                                Some(prev) => {
                                    if let Some((_, c)) = stack.last_mut() {
                                        c.push(prev);
                                    }
                                    diags.error(Some(&loc), "unexpected '{'").with_help(
                                        "a '{' must follow a keyword that takes a block",
                                    );
                                    None
                                }
                                None => {
                                    diags.error(Some(&loc), "unexpected '{'").with_help(
                                        "a '{' must follow a keyword that takes a block",
                                    );
                                    None
                                }
                            }
                        }
                    };
                    let owner = owner.unwrap_or_else(|| Node {
                        keyword: CompactString::default(),
                        location: loc.clone(),
                        args: vec![],
                        block: None,
                    });
                    stack.push((Some(owner), Vec::new()));
                }
                TokenKind::Close => {
                    if let Some(p) = pending.take() {
                        push_pending(stack, p);
                    }
                    if stack.len() > 1 {
                        if let Some((Some(mut owner), mut children)) = stack.pop() {
                            children.shrink_to_fit();
                            owner.block = Some(children);
                            if let Some((_, c)) = stack.last_mut() {
                                // An anonymous block (stray `{`) keeps nothing.
                                if !owner.keyword.is_empty() {
                                    c.push(owner);
                                }
                            }
                        }
                    } else {
                        diags
                            .error(Some(&loc), "extra '}' found")
                            .with_help("no block is open here");
                    }
                }
            }
        }
        if let Some(p) = pending.take() {
            push_pending(stack, p);
        }
    }

    /// Removes and returns the last completed top-level statement if `wanted` accepts it, so a
    /// caller can turn large blocks into the model as soon as they close.
    pub fn take_completed_top(&mut self, wanted: impl Fn(&Node) -> bool) -> Option<Node> {
        if self.stack.len() != 1 {
            return None;
        }
        let top = &mut self.stack[0].1;
        if top.last().is_some_and(|n| n.block.is_some() && wanted(n)) {
            top.pop()
        } else {
            None
        }
    }

    /// The finished tree; unclosed blocks are reported and closed.
    pub fn finish(mut self, diags: &mut Diagnostics) -> Vec<Node> {
        let stack = &mut self.stack;
        if stack.len() > 1 {
            let missing = stack.len() - 1;
            let where_ = stack
                .last()
                .and_then(|(o, _)| o.as_ref())
                .map(|o| o.location.clone());
            diags
                .error(
                    where_.as_ref(),
                    format!("{missing} missing '}}'(s): a block is not closed"),
                )
                .with_help("every '{' needs a matching '}'");
            while stack.len() > 1 {
                if let Some((Some(mut owner), children)) = stack.pop() {
                    owner.block = Some(children);
                    if let Some((_, c)) = stack.last_mut() {
                        if !owner.keyword.is_empty() {
                            c.push(owner);
                        }
                    }
                }
            }
        }
        stack.pop().map(|(_, c)| c).unwrap_or_default()
    }
}

/// Builds the statement tree of a configuration; unbalanced braces are reported.
pub fn build(lines: &[Line], diags: &mut Diagnostics) -> Vec<Node> {
    let mut b = Builder::new();
    for line in lines {
        b.push_line(line, diags);
    }
    b.finish(diags)
}

fn push_pending(stack: &mut [(Option<Node>, Vec<Node>)], mut p: Pending) {
    if let Some((_, c)) = stack.last_mut() {
        p.args.shrink_to_fit();
        c.push(Node {
            keyword: p.keyword,
            location: p.location,
            args: p.args,
            block: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    fn lines(text: &str) -> Vec<Line> {
        let file = Arc::new(PathBuf::from("t.conf"));
        text.lines()
            .enumerate()
            .map(|(i, l)| Line {
                text: l.to_string(),
                location: Location::new(file.clone(), (i + 1) as u32, 0),
            })
            .collect()
    }

    #[test]
    fn same_line_and_own_line_braces() {
        let mut d = Diagnostics::new();
        let t = build(
            &lines("vrrp_instance VI_1\n{\n  virtual_ipaddress { 10.0.0.1 }\n  state MASTER\n}"),
            &mut d,
        );
        assert_eq!(d.exit_code(), 0, "{:?}", d);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].keyword, "vrrp_instance");
        assert_eq!(t[0].arg_texts(), ["VI_1"]);
        let kids = t[0].children();
        assert_eq!(kids[0].keyword, "virtual_ipaddress");
        assert_eq!(kids[0].children()[0].keyword, "10.0.0.1");
        assert_eq!(kids[1].keyword, "state");
        assert_eq!(kids[1].location.line, 4);
        assert_eq!(kids[1].location.col, 3);
    }

    #[test]
    fn unbalanced_braces_are_reported() {
        let mut d = Diagnostics::new();
        build(&lines("a {\n}\n}"), &mut d);
        assert_eq!(d.exit_code(), 5);
        let mut d = Diagnostics::new();
        let t = build(&lines("a {\n b {\n c"), &mut d);
        assert_eq!(d.exit_code(), 5);
        assert_eq!(t[0].children()[0].children()[0].keyword, "c");
    }
}
