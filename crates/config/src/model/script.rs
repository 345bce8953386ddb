//! Script command strings, split the way keepalived splits them before execve: no shell,
//! `'...'` and `"..."` group words, adjacent parts glue, and C-like escapes work.

use serde::Serialize;

/// A script to run: program, arguments and the optional user/group to run it as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Script {
    /// The command string as written in the configuration.
    pub command: String,
    /// The words of the command after shell-style splitting; the first is the program.
    pub argv: Vec<String>,
    /// `username` after the command, if given.
    pub user: Option<String>,
    /// `groupname` after the user, if given.
    pub group: Option<String>,
}

impl Script {
    /// The program (first word), if any.
    pub fn program(&self) -> Option<&str> {
        self.argv.first().map(String::as_str)
    }
}

/// Why a command string could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// A `'` or `"` was not closed.
    #[error("unterminated {0} quote in command")]
    Unterminated(char),
}

/// Splits a command string into words, as keepalived does for script keywords.
pub fn split_command(s: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(SplitError::Unterminated('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => cur.push(unescape(&mut chars)),
                        Some(c) => cur.push(c),
                        None => return Err(SplitError::Unterminated('"')),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(unescape(&mut chars));
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Reads the escape after a backslash: `\n \t \r \xHH \NNN (octal) \cX \\ \" \'`, else the
/// character itself.
fn unescape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> char {
    let Some(c) = chars.next() else { return '\\' };
    match c {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        'a' => '\x07',
        'b' => '\x08',
        'f' => '\x0c',
        'v' => '\x0b',
        'e' => '\x1b',
        'x' => {
            let mut v = 0u32;
            let mut n = 0;
            while n < 2 {
                match chars.peek().and_then(|c| c.to_digit(16)) {
                    Some(d) => {
                        v = v * 16 + d;
                        chars.next();
                        n += 1;
                    }
                    None => break,
                }
            }
            if n == 0 {
                'x'
            } else {
                char::from_u32(v).unwrap_or('?')
            }
        }
        '0'..='7' => {
            let mut v = c.to_digit(8).unwrap_or(0);
            let mut n = 1;
            while n < 3 {
                match chars.peek().and_then(|c| c.to_digit(8)) {
                    Some(d) => {
                        v = v * 8 + d;
                        chars.next();
                        n += 1;
                    }
                    None => break,
                }
            }
            char::from_u32(v & 0xff).unwrap_or('?')
        }
        'c' => match chars.next() {
            Some(x) => char::from_u32((x.to_ascii_uppercase() as u32) ^ 0x40).unwrap_or('?'),
            None => 'c',
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_keepalived() {
        assert_eq!(
            split_command("killall -0 haproxy").unwrap(),
            ["killall", "-0", "haproxy"]
        );
        assert_eq!(split_command(r#"abcd" efg "h"#).unwrap(), ["abcd efg h"]);
        assert_eq!(
            split_command("/bin/echo 'a b' c").unwrap(),
            ["/bin/echo", "a b", "c"]
        );
        assert_eq!(
            split_command(r"a\tb \x41\102 \cA").unwrap(),
            ["a\tb", "AB", "\u{1}"]
        );
        assert_eq!(split_command("  ").unwrap(), Vec::<String>::new());
        assert!(split_command("'oops").is_err());
    }
}
