//! Where the console may send a browser back to: only a local path — one leading `/`, then no `/` or
//! `\` straight after it, and no control character or whitespace anywhere (a browser drops a tab or a
//! newline and would read `/\t/evil.test` as `//evil.test`). Anything else is replaced by a fixed page.
//! Checked before the action runs, so a bad target can neither send the browser away nor turn an
//! action that was done into an error.

use axum::response::Redirect;

/// Where a rejected target goes instead.
pub const FALLBACK: &str = "/queue";

/// Whether `target` is a safe local path.
pub fn is_local_path(target: &str) -> bool {
    let mut chars = target.chars();
    chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && !target
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
}

/// A 303 to `target` if it is a safe local path, else to [`FALLBACK`]: every redirect of the console
/// after a form goes through here.
pub fn to(target: &str) -> Redirect {
    Redirect::to(&local_or_fallback(Some(target)))
}

/// `target` if it is a safe local path, else [`FALLBACK`].
pub fn local_or_fallback(target: Option<&str>) -> String {
    match target {
        Some(t) if is_local_path(t) => t.to_string(),
        _ => FALLBACK.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_pass() {
        for good in [
            "/",
            "/queue",
            "/queue?page=2&sort=newest",
            "/queue/00000000000000FF",
        ] {
            assert!(is_local_path(good), "{good:?}");
        }
        for bad in [
            "",
            "queue",
            "//evil.test",
            "/\\evil.test",
            "/\t/evil.test",
            "/\n/evil.test",
            "/queue\r\nSet-Cookie: x=1",
            "/ /evil.test",
            "/\u{a0}/evil.test",
            "/\u{2028}x",
            "/x\\y",
            "https://evil.test/",
            "/\u{0}",
            "/\u{7f}",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
            assert_eq!(local_or_fallback(Some(bad)), FALLBACK);
        }
        assert_eq!(local_or_fallback(None), FALLBACK);
        assert_eq!(local_or_fallback(Some("/queue?page=3")), "/queue?page=3");
    }
}
