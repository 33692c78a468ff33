//! Host globs for `--intercept`: `*` matches any run of characters (dots included), `?` one
//! character; matching ignores ASCII case and a trailing dot. Owns nothing else.
//! Known limit: no character classes or braces.

/// A compiled set of host globs.
#[derive(Debug, Clone, Default)]
pub struct HostGlobs {
    patterns: Vec<Vec<u8>>,
}

impl HostGlobs {
    pub fn new<I, S>(patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            patterns: patterns
                .into_iter()
                .map(|p| normalize(p.as_ref()).into_bytes())
                .filter(|p| !p.is_empty())
                .collect(),
        }
    }

    pub fn matches(&self, host: &str) -> bool {
        let host = normalize(host);
        self.patterns.iter().any(|p| glob_match(p, host.as_bytes()))
    }

    pub fn patterns(&self) -> impl Iterator<Item = String> + '_ {
        self.patterns
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    }
}

fn normalize(s: &str) -> String {
    s.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Iterative wildcard match with single-star backtracking (linear in practice, no recursion).
fn glob_match(pat: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat.get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_subdomains_but_not_apex() {
        let g = HostGlobs::new(["*.auth0.com"]);
        assert!(g.matches("dev-abc.us.auth0.com"));
        assert!(g.matches("Dev-ABC.Auth0.com."));
        assert!(!g.matches("auth0.com"));
        assert!(!g.matches("auth0.com.evil.example"));
        assert!(!g.matches("example.com"));
    }

    #[test]
    fn exact_and_question_mark() {
        let g = HostGlobs::new(["login.example.com", "api-?.test"]);
        assert!(g.matches("login.example.com"));
        assert!(!g.matches("xlogin.example.com"));
        assert!(g.matches("api-1.test"));
        assert!(!g.matches("api-12.test"));
    }

    #[test]
    fn empty_set_matches_nothing() {
        assert!(!HostGlobs::new(Vec::<String>::new()).matches("a.auth0.com"));
    }
}
