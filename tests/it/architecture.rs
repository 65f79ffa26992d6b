//! The map's rules, checked against the sources in the spirit of rust-analyzer's tidy tests. Each test
//! is one bullet of ARCHITECTURE.md's "Rules checked by a test"; a failure names the file:line of each
//! offence and the line of ARCHITECTURE.md that states the rule (found by its text, so it stays right
//! when the document moves). Comments and string contents are blanked before looking, and test
//! modules (`#[cfg(test)] mod ...`) are left out: only the code that ships is held to the map.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const MAP: &str = "ARCHITECTURE.md";

/// Clock reads: time must come from the injected clock, or be an argument.
const CLOCK_READS: &[&str] = &[
    "SystemTime::now",
    "Instant::now",
    "SystemClock",
    "dyn Clock",
];
/// I/O that a pure core must not do.
const IO: &[&str] = &["tokio", "std::fs", "TcpStream", "TcpListener", "UdpSocket"];

#[test]
fn admin_acts_through_the_queue_api() {
    let rule = Rule::find("Admin acts through the queue API");
    let offences = offences_in(shipped_sources(&["src/admin"]), |_, code| {
        code.match_indices("crate::queue::")
            .filter(|(at, _)| !code[at + "crate::queue::".len()..].starts_with("api::"))
            .map(|_| "reaches into the queue beside `queue::api`".to_string())
            .collect()
    });
    rule.holds(offences);
}

#[test]
fn only_the_queue_names_the_scheduler() {
    let rule = Rule::find("Only the queue names the scheduler");
    let outside_queue = shipped_sources(&["src"])
        .into_iter()
        .filter(|s| !s.path.starts_with("src/queue/"));
    let offences = offences_in(outside_queue, |_, code| {
        found(code, &["Scheduler", "queue::scheduler"], "names")
    });
    rule.holds(offences);
}

#[test]
fn config_recipients_and_queue_depend_one_way() {
    let rule = Rule::find("One direction between config, recipients and queue");
    let sources = shipped_sources(&["src/config", "src/recipients"]);
    let offences = offences_in(sources, |source, code| {
        let in_config = source.path.starts_with("src/config/");
        code.match_indices("crate::")
            .map(|(at, _)| {
                let rest = &code[at + "crate::".len()..];
                rest.chars()
                    .take_while(|c| is_ident(*c))
                    .collect::<String>()
            })
            .filter(|target| match in_config {
                true => !["config", "envelope"].contains(&target.as_str()),
                false => target == "queue",
            })
            .map(|target| format!("names `crate::{target}`"))
            .collect()
    });
    rule.holds(offences);
}

#[test]
fn files_are_touched_only_where_the_map_says() {
    let rule = Rule::find("Files only where the map says");
    let allowed = rule.paths();
    let elsewhere = shipped_sources(&["src"])
        .into_iter()
        .filter(|s| !allowed.iter().any(|a| covers(a, &s.path)));
    let offences = offences_in(elsewhere, |_, code| {
        let mut what = found(code, &["std::fs", "tokio::fs"], "uses");
        if imports_from_std(code, "fs") {
            what.push("uses `std::{fs}`".to_string());
        }
        what
    });
    rule.holds(offences);
}

#[test]
fn the_session_is_sans_io() {
    let rule = Rule::find("The session is sans-I/O");
    let forbidden = [CLOCK_READS, &["tokio"]].concat();
    let offences = offences_in(shipped_sources(&["src/inbound/session"]), |_, code| {
        found(code, &forbidden, "uses")
    });
    rule.holds(offences);
}

#[test]
fn pure_cores_do_no_io_and_read_no_clock() {
    let rule = Rule::find("Pure cores do no I/O and read no clock");
    let cores = rule.paths();
    assert!(
        cores.len() >= 10,
        "{MAP}: the pure cores' list went missing"
    );
    let pure = shipped_sources(&["src"])
        .into_iter()
        .filter(|s| cores.iter().any(|c| covers(c, &s.path)));
    let forbidden = [IO, CLOCK_READS].concat();
    let offences = offences_in(pure, |_, code| found(code, &forbidden, "uses"));
    rule.holds(offences);
}

#[test]
fn the_protocol_core_cannot_do_io() {
    let rule = Rule::find("The protocol core cannot do I/O");
    let manifest = read("crates/smtp/Cargo.toml");
    let mut offences: Vec<String> = manifest
        .lines()
        .enumerate()
        .filter(|(_, line)| line.trim_start().starts_with("tokio"))
        .map(|(index, _)| format!("crates/smtp/Cargo.toml:{}: depends on tokio", index + 1))
        .collect();
    let forbidden = [IO, CLOCK_READS].concat();
    offences.extend(offences_in(
        shipped_sources(&["crates/smtp/src"]),
        |_, code| found(code, &forbidden, "uses"),
    ));
    rule.holds(offences);
}

#[test]
fn every_module_says_what_it_is() {
    let rule = Rule::find("Every module says what it is");
    let mut offences = Vec::new();
    for path in rust_files(&["src", "crates/smtp/src"]) {
        let relative = relative(&path);
        if !read(&relative).starts_with("//!") {
            offences.push(format!("{relative}:1: does not start with a `//!` line"));
        }
    }
    rule.holds(offences);
}

#[test]
fn no_unsafe() {
    let rule = Rule::find("No `unsafe`");
    let sources = shipped_sources(&["src", "crates/smtp/src"]);
    rule.holds(offences_in(sources, |_, code| {
        found(code, &["unsafe"], "uses")
    }));
}

/// A rule of the map: where it is stated, and its text (the bullet with its continuation lines).
struct Rule {
    line: usize,
    text: String,
}

impl Rule {
    /// The bullet of ARCHITECTURE.md that starts with `- **{title}`.
    fn find(title: &str) -> Rule {
        let map = read(MAP);
        let lines: Vec<&str> = map.lines().collect();
        let start = lines
            .iter()
            .position(|l| l.starts_with(&format!("- **{title}")))
            .unwrap_or_else(|| panic!("{MAP} no longer states the rule \"{title}\""));
        let mut text = lines[start].to_string();
        for more in &lines[start + 1..] {
            if !more.starts_with("  ") {
                break;
            }
            text.push(' ');
            text.push_str(more.trim());
        }
        Rule {
            line: start + 1,
            text,
        }
    }

    /// The paths the rule names (backticked, under `src/` or `crates/`).
    fn paths(&self) -> Vec<String> {
        self.text
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|t| t.starts_with("src/") || t.starts_with("crates/"))
            .map(str::to_string)
            .collect()
    }

    fn holds(&self, offences: Vec<String>) {
        assert!(
            offences.is_empty(),
            "\n{MAP}:{}: {}\nbroken at:\n  {}\n",
            self.line,
            self.text,
            offences.join("\n  ")
        );
    }
}

/// A source file as code only: comments and string contents blanked, test modules removed.
struct Source {
    path: String,
    code: String,
}

impl Source {
    fn lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.code.lines().enumerate().map(|(i, l)| (i + 1, l))
    }

    fn offence(&self, line: usize, what: &str) -> String {
        format!("{}:{line}: {what}", self.path)
    }
}

/// The offences in `sources`: `find` says what is wrong with one line of code.
fn offences_in(
    sources: impl IntoIterator<Item = Source>,
    find: impl Fn(&Source, &str) -> Vec<String>,
) -> Vec<String> {
    let mut offences = Vec::new();
    for source in sources {
        for (line, code) in source.lines() {
            for what in find(&source, code) {
                offences.push(source.offence(line, &what));
            }
        }
    }
    offences
}

/// "`{verb}` `token`" for each of `tokens` on the line.
fn found(code: &str, tokens: &[&str], verb: &str) -> Vec<String> {
    tokens
        .iter()
        .filter(|token| contains_token(code, token))
        .map(|token| format!("{verb} `{token}`"))
        .collect()
}

/// Every shipped `.rs` file under `dirs`: test modules declared with `#[cfg(test)] mod x;` (and
/// everything below them) are left out, inline `#[cfg(test)] mod x { ... }` blanked.
fn shipped_sources(dirs: &[&str]) -> Vec<Source> {
    let all: Vec<(String, String)> = rust_files(&["src", "crates/smtp/src"])
        .iter()
        .map(|p| {
            let path = relative(p);
            let code = code_only(&read(&path));
            (path, code)
        })
        .collect();
    let mut test_dirs = BTreeSet::new();
    let mut test_files = BTreeSet::new();
    for (path, code) in &all {
        for name in test_module_files(code) {
            let dir = module_dir(path);
            test_files.insert(format!("{dir}/{name}.rs"));
            test_dirs.insert(format!("{dir}/{name}/"));
        }
    }
    all.into_iter()
        .filter(|(path, _)| dirs.iter().any(|d| path.starts_with(&format!("{d}/"))))
        .filter(|(path, _)| {
            !test_files.contains(path) && !test_dirs.iter().any(|d| path.starts_with(d))
        })
        .map(|(path, code)| Source {
            code: blank_inline_test_modules(&code),
            path,
        })
        .collect()
}

/// Names of modules declared `#[cfg(test)] mod name;` (in their own file).
fn test_module_files(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (at, _) in code.match_indices("#[cfg(test)]") {
        let rest = skip_attributes(&code[at + "#[cfg(test)]".len()..]);
        let rest = rest.strip_prefix("pub ").unwrap_or(rest);
        if let Some(decl) = rest.strip_prefix("mod ") {
            let name: String = decl.chars().take_while(|c| is_ident(*c)).collect();
            if decl[name.len()..].trim_start().starts_with(';') {
                names.push(name);
            }
        }
    }
    names
}

/// Blanks `#[cfg(test)] mod name { ... }` blocks (keeping line breaks, so line numbers stay).
fn blank_inline_test_modules(code: &str) -> String {
    let mut bytes = code.as_bytes().to_vec();
    for (at, _) in code.match_indices("#[cfg(test)]") {
        let rest = skip_attributes(&code[at + "#[cfg(test)]".len()..]);
        let rest = rest.strip_prefix("pub ").unwrap_or(rest);
        let Some(decl) = rest.strip_prefix("mod ") else {
            continue;
        };
        let Some(open) = decl
            .find(['{', ';'])
            .filter(|i| decl.as_bytes()[*i] == b'{')
        else {
            continue;
        };
        let start = code.len() - decl.len() + open;
        let mut depth = 0usize;
        let mut end = code.len();
        for (i, b) in code.as_bytes()[start..].iter().enumerate() {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = start + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        for b in &mut bytes[at..end] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    }
    String::from_utf8(bytes).unwrap_or_default()
}

fn skip_attributes(mut rest: &str) -> &str {
    loop {
        rest = rest.trim_start();
        match rest.strip_prefix("#[") {
            Some(inner) => rest = inner.split_once(']').map_or("", |(_, after)| after),
            None => return rest,
        }
    }
}

/// The directory holding the child modules of the module in `path`.
fn module_dir(path: &str) -> String {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    match file {
        "mod.rs" | "lib.rs" | "main.rs" => dir.to_string(),
        _ => format!("{dir}/{}", file.trim_end_matches(".rs")),
    }
}

/// The text with comments and the contents of string and character literals replaced by spaces
/// (line breaks kept).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let prev_ident = i > 0 && is_ident(chars[i - 1]);
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && !prev_ident && matches!(next, Some('#') | Some('"')) {
            let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let closes_at = |at: usize| {
                chars.get(at) == Some(&'"') && (1..=hashes).all(|k| chars.get(at + k) == Some(&'#'))
            };
            out.push_str(&" ".repeat(hashes + 2));
            i += hashes + 2;
            while i < chars.len() && !closes_at(i) {
                out.push(blank(chars[i]));
                i += 1;
            }
            let end = (i + hashes + 1).min(chars.len());
            out.push_str(&" ".repeat(end - i));
            i = end;
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A character literal ('x', '\n', '\'', '\u{..}'); a lifetime has no closing quote.
            let from = if next == Some('\\') { i + 3 } else { i + 2 };
            let end = chars[from.min(chars.len())..]
                .iter()
                .position(|c| *c == '\'')
                .map_or(chars.len(), |p| from + p + 1);
            out.push_str(&" ".repeat(end - i));
            i = end;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `token` in `code`, not as part of a longer identifier.
fn contains_token(code: &str, token: &str) -> bool {
    code.match_indices(token).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + token.len()..].chars().next();
        let glued_before = before.is_some_and(is_ident);
        let glued_after = token.ends_with(is_ident) && after.is_some_and(is_ident);
        !glued_before && !glued_after
    })
}

/// `use std::{..., fs, ...}`: a grouped import of `module` from std.
fn imports_from_std(code: &str, module: &str) -> bool {
    code.match_indices("std::{").any(|(at, _)| {
        let group = &code[at..];
        let group = group.split_once('}').map_or(group, |(g, _)| g);
        group
            .split(|c: char| !is_ident(c))
            .any(|word| word == module)
    })
}

/// True when the rule's path `allowed` (a directory ending in `/` or a file) covers `path`.
fn covers(allowed: &str, path: &str) -> bool {
    if allowed.ends_with('/') {
        path.starts_with(allowed)
    } else {
        path == allowed
    }
}

fn rust_files(dirs: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = dirs.iter().map(|d| Path::new(ROOT).join(d)).collect();
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn relative(path: &Path) -> String {
    path.strip_prefix(ROOT)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn read(relative: &str) -> String {
    let path = Path::new(ROOT).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}
