//! Shell-style globs over names: `*` matches any run of characters, `?` any one
//! character, every other character itself. Used for role patterns and cache key patterns.

/// Whether `text` matches `pattern`. Iterative with one backtracking point, so its cost is
/// at most the product of the two lengths; it neither recurses nor allocates.
pub fn matches(pattern: &str, text: &str) -> bool {
    let (mut p, mut t) = (pattern, text);
    // The pattern after the last `*`, and the text from where that `*` resumes matching.
    let mut star: Option<(&str, &str)> = None;
    while let Some(c) = t.chars().next() {
        let mut rest = p.chars();
        match rest.next() {
            Some('*') => {
                p = rest.as_str();
                star = Some((p, t));
            }
            Some(want) if want == '?' || want == c => {
                p = rest.as_str();
                t = &t[c.len_utf8()..];
            }
            _ => match star {
                Some((after_star, resume)) => {
                    let skipped = resume.chars().next().map_or(0, char::len_utf8);
                    let resumed = &resume[skipped..];
                    p = after_star;
                    t = resumed;
                    star = Some((after_star, resumed));
                }
                None => return false,
            },
        }
    }
    p.chars().all(|c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("*", ""));
        assert!(matches("user:*", "user:alice"));
        assert!(matches("u?er:*e", "user:alice"));
        assert!(matches("h?llo", "héllo"));
        assert!(!matches("user:*", "use"));
        assert!(matches("*a*b*c", "xxaxxbxxc"));
        assert!(!matches("*a*b*c", "xxaxxbxx"));
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exactly"));
        assert!(!matches("", "x"));
    }
}
