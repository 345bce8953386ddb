//! Splits one logical line of keepalived.conf into tokens.
//!
//! keepalived's rules: whitespace separates words; a `"` opens a string that runs to the next `"`
//! (quotes removed, spaces kept); `#` or `!` outside quotes starts a comment; `{` and `}` outside
//! quotes are tokens of their own even when glued to a word, so `virtual_ipaddress { 10.0.0.1 }`
//! works on one line.

use compact_str::CompactString;
use serde::Serialize;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TokenKind {
    /// A bare word.
    Word,
    /// A double-quoted string (quotes removed).
    Quoted,
    /// `{`
    Open,
    /// `}`
    Close,
}

/// One token of a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Token {
    /// Its kind.
    pub kind: TokenKind,
    /// Its text, without quotes (inline when short: most tokens need no heap allocation).
    pub text: CompactString,
    /// 1-based column (in characters) where it starts.
    pub col: u32,
    /// False for a quoted string whose closing quote is missing.
    pub terminated: bool,
}

/// Whether the line holds only whitespace and comments.
pub fn is_blank(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#') || t.starts_with('!')
}

/// The line with its comment removed (a `#` or `!` outside double quotes, unless escaped
/// with a backslash).
pub fn strip_comment(line: &str) -> &str {
    let mut in_quote = false;
    let mut prev_backslash = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' if !prev_backslash => in_quote = !in_quote,
            '#' | '!' if !in_quote && !prev_backslash => return &line[..i],
            _ => {}
        }
        prev_backslash = c == '\\' && !prev_backslash;
    }
    line
}

/// Splits a line into tokens, dropping its comment.
pub fn tokenize(line: &str) -> Vec<Token> {
    let mut out = Vec::with_capacity(4);
    let bytes = line.as_bytes();
    let ascii = line.is_ascii();
    // Columns count characters; for ASCII lines (nearly all) that is the byte offset.
    let col_of = |i: usize| -> u32 {
        let n = if ascii { i } else { line[..i].chars().count() };
        u32::try_from(n + 1).unwrap_or(u32::MAX)
    };
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            0 => break, // keepalived's C strings end at a NUL: the rest of the line is gone.
            b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c => i += 1,
            b'#' | b'!' => break,
            b'{' | b'}' => {
                let kind = if c == b'{' {
                    TokenKind::Open
                } else {
                    TokenKind::Close
                };
                let text = if c == b'{' { "{" } else { "}" };
                out.push(Token {
                    kind,
                    text: text.into(),
                    col: col_of(i),
                    terminated: true,
                });
                i += 1;
            }
            b'"' => {
                let col = col_of(i);
                let start = i + 1;
                let end = bytes[start..]
                    .iter()
                    .position(|&b| b == b'"' || b == 0)
                    .map(|p| start + p);
                let (stop, terminated) = match end {
                    Some(e) if bytes[e] == b'"' => (e, true),
                    Some(e) => (e, false),
                    None => (bytes.len(), false),
                };
                out.push(Token {
                    kind: TokenKind::Quoted,
                    text: CompactString::from(&line[start..stop]),
                    col,
                    terminated,
                });
                i = if terminated { stop + 1 } else { stop };
            }
            _ => {
                let col = col_of(i);
                let start = i;
                let mut escaped = false;
                let mut end_of_line = false;
                while i < bytes.len() {
                    let b = bytes[i];
                    if matches!(
                        b,
                        b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c | 0 | b'{' | b'}'
                    ) {
                        break;
                    }
                    if b == b'#' || b == b'!' {
                        if i > start && bytes[i - 1] == b'\\' {
                            escaped = true;
                        } else {
                            // A comment glued to a word ends the line.
                            end_of_line = true;
                            break;
                        }
                    }
                    i += 1;
                }
                let raw = &line[start..i];
                let text = if escaped {
                    CompactString::from(raw.replace("\\#", "#").replace("\\!", "!"))
                } else {
                    CompactString::from(raw)
                };
                out.push(Token {
                    kind: TokenKind::Word,
                    text,
                    col,
                    terminated: true,
                });
                if end_of_line {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        tokenize(line)
            .into_iter()
            .map(|t| t.text.to_string())
            .collect()
    }

    #[test]
    fn words_and_braces() {
        assert_eq!(
            texts("virtual_ipaddress { 10.0.0.1 }"),
            ["virtual_ipaddress", "{", "10.0.0.1", "}"]
        );
        assert_eq!(texts("vrrp_instance VI_1{"), ["vrrp_instance", "VI_1", "{"]);
        assert_eq!(texts("  }}"), ["}", "}"]);
    }

    #[test]
    fn comments() {
        assert_eq!(texts("priority 100 # the prio"), ["priority", "100"]);
        assert_eq!(texts("priority 100! bang"), ["priority", "100"]);
        assert_eq!(texts("! whole line"), Vec::<String>::new());
        assert_eq!(
            texts(r#"script "echo # not a comment""#),
            ["script", "echo # not a comment"]
        );
        assert_eq!(strip_comment(r#"a "b#c" #d"#), r#"a "b#c" "#);
    }

    #[test]
    fn quoted_strings() {
        let t = tokenize(r#"notify_master "/bin/x master" root"#);
        assert_eq!(t[1].kind, TokenKind::Quoted);
        assert_eq!(t[1].text, "/bin/x master");
        assert_eq!(t[1].col, 15);
        assert_eq!(t[2].text, "root");
        assert_eq!(texts(r#"a "unterminated"#), ["a", "unterminated"]);
    }

    #[test]
    fn columns_count_characters() {
        let t = tokenize("\tstate MASTER");
        assert_eq!(t[0].col, 2);
        assert_eq!(t[1].col, 8);
    }
}
