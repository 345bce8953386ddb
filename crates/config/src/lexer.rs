//! Splits one logical line of keepalived.conf into tokens.
//!
//! keepalived's rules: whitespace separates words; a `"` opens a string that runs to the next `"`
//! (quotes removed, spaces kept); `#` or `!` outside quotes starts a comment; `{` and `}` outside
//! quotes are tokens of their own even when glued to a word, so `virtual_ipaddress { 10.0.0.1 }`
//! works on one line.

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
    /// Its text, without quotes.
    pub text: String,
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
    let mut out = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\0' {
            // keepalived's C strings end at a NUL: the rest of the line is gone.
            break;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let col = u32::try_from(i + 1).unwrap_or(u32::MAX);
        match c {
            '#' | '!' => break,
            '{' => {
                out.push(Token {
                    kind: TokenKind::Open,
                    text: "{".into(),
                    col,
                    terminated: true,
                });
                i += 1;
            }
            '}' => {
                out.push(Token {
                    kind: TokenKind::Close,
                    text: "}".into(),
                    col,
                    terminated: true,
                });
                i += 1;
            }
            '"' => {
                let mut text = String::new();
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    text.push(chars[i]);
                    i += 1;
                }
                // Skip the closing quote (an unterminated string runs to the end of the line).
                let terminated = i < chars.len();
                i += 1;
                out.push(Token {
                    kind: TokenKind::Quoted,
                    text,
                    col,
                    terminated,
                });
            }
            _ => {
                let mut text = String::new();
                while i < chars.len() {
                    let c = chars[i];
                    if c.is_whitespace() || c == '\0' || c == '{' || c == '}' {
                        break;
                    }
                    if (c == '#' || c == '!') && !text.ends_with('\\') {
                        // A comment glued to a word ends the line.
                        i = chars.len();
                        break;
                    }
                    if (c == '#' || c == '!') && text.ends_with('\\') {
                        text.pop();
                    }
                    text.push(c);
                    i += 1;
                }
                out.push(Token {
                    kind: TokenKind::Word,
                    text,
                    col,
                    terminated: true,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        tokenize(line).into_iter().map(|t| t.text).collect()
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
