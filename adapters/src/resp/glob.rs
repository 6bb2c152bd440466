//! Redis's glob-style patterns (`KEYS pattern`, `SCAN ... MATCH pattern`), with the semantics of
//! Redis's `stringmatchlen` (`util.c`), case-sensitive:
//!
//! | pattern   | matches                                                                  |
//! |-----------|--------------------------------------------------------------------------|
//! | `*`       | any run of bytes, also an empty one                                      |
//! | `?`       | any one byte                                                             |
//! | `[abc]`   | one of the listed bytes; `[a-z]` a range (either order); `[^...]` negated; `\` escapes a byte inside; an unterminated class runs to the end of the pattern |
//! | `\x`      | the byte `x` itself (a `\` at the very end is a literal `\`)             |
//! | other     | that byte                                                                |
//!
//! Redis quirks kept on purpose: an empty key matches only the empty pattern (`KEYS *` and
//! `SCAN` without `MATCH` list every key anyway, as Redis does, because `*` alone is treated as
//! "everything" before any matching), and a range such as `[a-]` uses `]` as its end byte.
//! Bytes are compared unsigned (Redis compares C `char`s, signed on x86, which only matters for
//! ranges with bytes above 0x7f). Redis's limit of 1000 nested `*` does not apply: this matcher
//! does not recurse.
//!
//! Cost: a pattern compiles once, in time and space linear in its length. Matching is at most
//! `O(key length × pattern tokens)` steps, and a key shorter than the pattern's fixed bytes is
//! rejected at once, so [`Glob::cost_per_key`] bounds the work for any key of the store.

/// One pattern element; every element but `Star` consumes exactly one byte of the key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// `*` (consecutive stars are merged).
    Star,
    /// `?`.
    Any,
    /// A literal byte (escaped or not).
    Byte(u8),
    /// `[...]`.
    Class {
        /// `[^...]`.
        negate: bool,
        /// The listed bytes and ranges.
        items: Vec<Item>,
    },
}

/// One member of a `[...]` class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    Byte(u8),
    /// Inclusive, `lo <= hi`.
    Range(u8, u8),
}

impl Token {
    fn matches(&self, c: u8) -> bool {
        match self {
            Token::Star | Token::Any => true,
            Token::Byte(b) => *b == c,
            Token::Class { negate, items } => {
                let hit = items.iter().any(|item| match *item {
                    Item::Byte(b) => b == c,
                    Item::Range(lo, hi) => (lo..=hi).contains(&c),
                });
                hit != *negate
            }
        }
    }
}

/// A compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
    /// The pattern was the empty string.
    empty: bool,
    /// The pattern was exactly `*`: every key, the empty one included.
    all: bool,
    /// Tokens other than `*`: a key must have at least this many bytes.
    min_len: usize,
    /// Whether there is any `*`: without one a key must have exactly `min_len` bytes.
    has_star: bool,
}

impl Glob {
    /// Compiles `pattern`.
    pub fn new(pattern: &[u8]) -> Glob {
        let tokens = tokenize(pattern);
        let min_len = tokens.iter().filter(|t| **t != Token::Star).count();
        let has_star = tokens.len() > min_len;
        Glob {
            tokens,
            empty: pattern.is_empty(),
            all: pattern == b"*",
            min_len,
            has_star,
        }
    }

    /// Whether the pattern is exactly `*`, which KEYS and SCAN treat as "every key".
    pub fn matches_everything(&self) -> bool {
        self.all
    }

    /// An upper bound on the steps [`Glob::matches`] takes for a key of at most `max_key` bytes.
    pub fn cost_per_key(&self, max_key: usize) -> usize {
        // Beyond 2 * max_key + 1 tokens at least max_key + 1 of them consume a byte (stars are
        // merged, so they alternate at worst), and every key is rejected before matching.
        let tokens = self.tokens.len().min(2 * max_key + 1);
        (max_key + 1).saturating_mul(tokens + 1)
    }

    /// Whether `key` matches, as Redis's `KEYS` and `SCAN ... MATCH` decide it.
    pub fn matches(&self, key: &[u8]) -> bool {
        if self.all {
            return true;
        }
        if key.is_empty() {
            // Redis's matcher never enters its loop for an empty string.
            return self.empty;
        }
        if key.len() < self.min_len || (!self.has_star && key.len() != self.min_len) {
            return false;
        }
        // The classic one-star backtracking: every token but `*` consumes exactly one byte, so
        // on a mismatch it is enough to let the most recent `*` absorb one more byte.
        let (mut t, mut s) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        loop {
            if s == key.len() {
                return self
                    .tokens
                    .get(t..)
                    .unwrap_or_default()
                    .iter()
                    .all(|tok| *tok == Token::Star);
            }
            match self.tokens.get(t) {
                Some(Token::Star) => {
                    star = Some((t + 1, s));
                    t += 1;
                    continue;
                }
                Some(tok) if key.get(s).is_some_and(|&c| tok.matches(c)) => {
                    t += 1;
                    s += 1;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((after, from)) => {
                    star = Some((after, from + 1));
                    t = after;
                    s = from + 1;
                }
                None => return false,
            }
        }
    }
}

/// Splits a pattern into tokens exactly as Redis's matcher reads it.
fn tokenize(p: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = p.get(i) {
        let token = match c {
            b'*' => {
                i += 1;
                if tokens.last() == Some(&Token::Star) {
                    continue;
                }
                tokens.push(Token::Star);
                continue;
            }
            b'?' => Token::Any,
            b'[' => {
                i += 1;
                let negate = p.get(i) == Some(&b'^');
                if negate {
                    i += 1;
                }
                let mut items = Vec::new();
                // Redis's order of checks: an escape, the closing `]`, the pattern's end, a
                // range, a byte. Ends with `i` on the `]`, or at the end of the pattern.
                loop {
                    let rest = &p[i.min(p.len())..];
                    match rest {
                        [b'\\', escaped, ..] => {
                            items.push(Item::Byte(*escaped));
                            i += 1;
                        }
                        [b']', ..] => break,
                        [] => break,
                        [a, b'-', z, ..] => {
                            items.push(Item::Range(*a.min(z), *a.max(z)));
                            i += 2;
                        }
                        [b, ..] => items.push(Item::Byte(*b)),
                    }
                    i += 1;
                }
                Token::Class { negate, items }
            }
            b'\\' => match p.get(i + 1) {
                Some(&escaped) => {
                    i += 1;
                    Token::Byte(escaped)
                }
                None => Token::Byte(b'\\'),
            },
            other => Token::Byte(other),
        };
        tokens.push(token);
        i += 1;
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis's `stringmatchlen_impl` transcribed (case-sensitive; recursion on `*`), the
    /// reference the matcher is compared against. Bytes past the pattern read as NUL, as C
    /// reads the string's terminator.
    fn redis(p: &[u8], s: &[u8]) -> bool {
        fn at(p: &[u8], i: usize) -> u8 {
            p.get(i).copied().unwrap_or(0)
        }
        fn go(p: &[u8], s: &[u8], skip: &mut bool) -> bool {
            let (mut pi, mut plen) = (0usize, p.len());
            let (mut si, mut slen) = (0usize, s.len());
            while plen > 0 && slen > 0 {
                match p[pi] {
                    b'*' => {
                        while plen > 0 && at(p, pi + 1) == b'*' {
                            pi += 1;
                            plen -= 1;
                        }
                        if plen == 1 {
                            return true;
                        }
                        while slen > 0 {
                            if go(&p[pi + 1..pi + plen], &s[si..si + slen], skip) {
                                return true;
                            }
                            if *skip {
                                return false;
                            }
                            si += 1;
                            slen -= 1;
                        }
                        *skip = true;
                        return false;
                    }
                    b'?' => {
                        si += 1;
                        slen -= 1;
                    }
                    b'[' => {
                        pi += 1;
                        plen -= 1;
                        let not = at(p, pi) == b'^' && plen > 0;
                        if not {
                            pi += 1;
                            plen -= 1;
                        }
                        let mut hit = false;
                        loop {
                            if at(p, pi) == b'\\' && plen >= 2 {
                                pi += 1;
                                plen -= 1;
                                if p[pi] == s[si] {
                                    hit = true;
                                }
                            } else if plen > 0 && at(p, pi) == b']' {
                                break;
                            } else if plen == 0 {
                                pi -= 1;
                                plen += 1;
                                break;
                            } else if plen >= 3 && at(p, pi + 1) == b'-' {
                                let (mut a, mut z) = (p[pi], p[pi + 2]);
                                if a > z {
                                    std::mem::swap(&mut a, &mut z);
                                }
                                pi += 2;
                                plen -= 2;
                                if (a..=z).contains(&s[si]) {
                                    hit = true;
                                }
                            } else if p[pi] == s[si] {
                                hit = true;
                            }
                            pi += 1;
                            plen -= 1;
                        }
                        if not {
                            hit = !hit;
                        }
                        if !hit {
                            return false;
                        }
                        si += 1;
                        slen -= 1;
                    }
                    c => {
                        let c = if c == b'\\' && plen >= 2 {
                            pi += 1;
                            plen -= 1;
                            p[pi]
                        } else {
                            c
                        };
                        if c != s[si] {
                            return false;
                        }
                        si += 1;
                        slen -= 1;
                    }
                }
                pi += 1;
                plen -= 1;
                if slen == 0 {
                    while plen > 0 && p[pi] == b'*' {
                        pi += 1;
                        plen -= 1;
                    }
                    break;
                }
            }
            plen == 0 && slen == 0
        }
        go(p, s, &mut false)
    }

    fn m(p: &str, s: &str) -> bool {
        Glob::new(p.as_bytes()).matches(s.as_bytes())
    }

    #[test]
    fn stars_questions_and_literals() {
        assert!(m("*", "anything"));
        assert!(m("*", ""), "`*` alone is every key, the empty one too");
        assert!(
            !m("**", ""),
            "Redis: an empty key matches only the empty pattern"
        );
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("user:*", "user:42"));
        assert!(m("user:*", "user:"));
        assert!(!m("user:*", "users"));
        assert!(m("*:42", "user:42"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("a*b*c", "aXbYc"));
        assert!(m("a*b*c", "abc"));
        assert!(!m("a*b*c", "acb"));
        assert!(m("*a*a*a*", "banana_a"));
        assert!(!m("*a*a*a*", "banan"));
    }

    #[test]
    fn classes_ranges_negation_and_escapes() {
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"), "a reversed range");
        assert!(m("k\\*", "k*"));
        assert!(!m("k\\*", "kx"));
        assert!(m("k\\?", "k?"));
        assert!(m("[\\]]", "]"));
        assert!(m("[a-]", "]"), "Redis reads `[a-]` as the range `]`..`a`");
        assert!(m("[ab", "b"), "an unterminated class runs to the end");
        assert!(m("x\\", "x\\"), "a trailing backslash is literal");
        assert!(!m("[]", "]"), "an empty class matches nothing");
        assert!(m("[^]", "x"));
    }

    #[test]
    fn agrees_with_redis_on_random_patterns() {
        let alphabet = b"ab*?[]^-\\";
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200_000 {
            let plen = (next() % 9) as usize;
            let slen = (next() % 7) as usize;
            let p: Vec<u8> = (0..plen)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let s: Vec<u8> = (0..slen)
                .map(|_| b"ab]-^\\"[(next() % 6) as usize])
                .collect();
            let ours = Glob::new(&p).matches(&s);
            let expected = redis(&p, &s) || (p == b"*");
            assert_eq!(
                ours,
                expected,
                "pattern {:?} key {:?}",
                String::from_utf8_lossy(&p),
                String::from_utf8_lossy(&s)
            );
        }
    }

    #[test]
    fn hostile_patterns_stay_cheap() {
        let p = "*a".repeat(5_000) + "b";
        let g = Glob::new(p.as_bytes());
        let key = "a".repeat(510);
        let started = std::time::Instant::now();
        assert!(!g.matches(key.as_bytes()), "too few bytes for the pattern");
        let p = "*a".repeat(200) + "*b";
        let g = Glob::new(p.as_bytes());
        assert!(!g.matches(key.as_bytes()));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(g.cost_per_key(510) <= 511 * 1022);
    }
}
