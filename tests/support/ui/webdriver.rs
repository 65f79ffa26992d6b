//! A minimal WebDriver client (W3C protocol over HTTP to a local `chromedriver`) driving headless
//! Chromium: new session, navigate, find by CSS, type, click, read text, screenshot. Blocking calls
//! (ureq); every wait is bounded. The driver process and the browser end when [`Browser`] drops.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

/// Where Debian's chromium-driver package installs the driver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The W3C key of an element reference in WebDriver JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Bound for the driver to start and for an element to appear.
pub const BROWSER_WAIT: Duration = Duration::from_secs(20);

/// A headless Chromium behind its chromedriver.
pub struct Browser {
    driver: Child,
    agent: ureq::Agent,
    /// `http://127.0.0.1:PORT/session/ID`
    session: String,
    _profile: TempDir,
}

/// An element reference returned by the driver.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless Chromium session. Panics (fails the test) when the driver
    /// is not installed: the browser test must never pass without a browser.
    pub fn start() -> Browser {
        Browser::start_with(&[])
    }

    /// [`Browser::start`] with further Chromium arguments (e.g. the certificates to trust).
    pub fn start_with(extra_args: &[String]) -> Browser {
        assert!(
            Path::new(CHROMEDRIVER).exists(),
            "{CHROMEDRIVER} is missing: install Debian's chromium and chromium-driver \
             (apt-get install -y chromium chromium-driver; .ci/run does this)"
        );
        let port = crate::support::config::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let profile = tempfile::tempdir().expect("a browser profile directory");
        let mut browser = Browser {
            driver,
            agent,
            session: String::new(),
            _profile: profile,
        };
        browser.wait_for_driver(port);
        browser.new_session(port, extra_args);
        browser
    }

    fn wait_for_driver(&mut self, port: u16) {
        let deadline = Instant::now() + BROWSER_WAIT;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!("chromedriver exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver does not listen after {BROWSER_WAIT:?}"
            );
            sleep(Duration::from_millis(50));
        }
    }

    fn new_session(&mut self, port: u16, extra_args: &[String]) {
        let profile = format!("--user-data-dir={}", self._profile.path().display());
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,860",
            "--hide-scrollbars",
            profile.as_str(),
        ];
        let args: Vec<&str> = args
            .into_iter()
            .chain(extra_args.iter().map(String::as_str))
            .collect();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let base = format!("http://127.0.0.1:{port}");
        let value = self.call("POST", &format!("{base}/session"), Some(capabilities));
        let id = value["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        self.session = format!("{base}/session/{id}");
    }

    /// One WebDriver command; returns its `value`, panics on a WebDriver error.
    fn call(&self, method: &str, url: &str, body: Option<Value>) -> Value {
        self.try_call(method, url, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {url}: {e}"))
    }

    fn try_call(&self, method: &str, url: &str, body: Option<Value>) -> Result<Value, String> {
        let response = match method {
            "GET" => self.agent.get(url).call(),
            "DELETE" => self.agent.delete(url).call(),
            _ => self
                .agent
                .post(url)
                .send_json(body.unwrap_or_else(|| json!({}))),
        };
        let mut response = response.map_err(|e| e.to_string())?;
        let status = response.status();
        let json: Value = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_json()
            .map_err(|e| e.to_string())?;
        let value = json.get("value").cloned().unwrap_or(Value::Null);
        if status.is_success() {
            Ok(value)
        } else {
            Err(format!("{status}: {} {}", value["error"], value["message"]))
        }
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn current_url(&self) -> String {
        self.command("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The first element matching `css`, waiting up to [`BROWSER_WAIT`] for it to appear.
    pub fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + BROWSER_WAIT;
        loop {
            let found = self.try_call(
                "POST",
                &format!("{}/element", self.session),
                Some(json!({"using": "css selector", "value": css})),
            );
            if let Some(id) = found.as_ref().ok().and_then(|v| v[ELEMENT_KEY].as_str()) {
                return Element(id.to_string());
            }
            assert!(
                Instant::now() < deadline,
                "no element {css:?} after {BROWSER_WAIT:?} on {} ({found:?}); page text: {:?}",
                self.current_url(),
                self.try_text("body")
            );
            sleep(Duration::from_millis(100));
        }
    }

    pub fn send_keys(&self, element: &Element, text: &str) {
        self.command(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        );
    }

    pub fn click(&self, element: &Element) {
        self.command(
            "POST",
            &format!("/element/{}/click", element.0),
            Some(json!({})),
        );
    }

    pub fn text(&self, element: &Element) -> String {
        self.command("GET", &format!("/element/{}/text", element.0), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits until the text of `css` satisfies `wanted`; returns it. Panics after `timeout`.
    pub fn wait_text(&self, css: &str, timeout: Duration, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            // The page may be re-rendered between the look-up and the read: look up each time.
            let text = self.try_text(css);
            if let Some(text) = text.as_deref().filter(|t| wanted(t)) {
                return text.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "{css:?} never matched within {timeout:?}; last text: {text:?}"
            );
            sleep(Duration::from_millis(100));
        }
    }

    fn try_text(&self, css: &str) -> Option<String> {
        let value = self
            .try_call(
                "POST",
                &format!("{}/element", self.session),
                Some(json!({"using": "css selector", "value": css})),
            )
            .ok()?;
        let id = value[ELEMENT_KEY].as_str()?;
        let text = self
            .try_call("GET", &format!("{}/element/{id}/text", self.session), None)
            .ok()?;
        text.as_str().map(str::to_string)
    }

    /// The page's visible body text.
    pub fn page_text(&self) -> String {
        self.try_text("body").unwrap_or_default()
    }

    /// The cookies the browser holds for the current page (WebDriver's JSON: name, value, secure, ...).
    pub fn cookies(&self) -> Vec<Value> {
        self.command("GET", "/cookie", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        let encoded = self.command("GET", "/screenshot", None);
        base64_decode(encoded.as_str().expect("a base64 screenshot"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.try_call("DELETE", &self.session.clone(), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 with padding (Chromium's SPKI pins are written this way).
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 (with padding, whitespace ignored), as WebDriver returns screenshots.
pub fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        other => panic!("not base64: {other:?}"),
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .map(value)
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, d)| acc | (u32::from(*d) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}
