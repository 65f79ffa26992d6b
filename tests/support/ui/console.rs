//! An HTTP client for the console as a browser would use it: logs in, keeps the session cookie,
//! reads the CSRF token from pages, posts forms. Redirects are not followed, so tests see them.

use std::time::Duration;

/// One HTTP answer, read whole.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of the page's first hidden `csrf` field.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self
            .body
            .find(marker)
            .map(|i| i + marker.len())
            .expect("a CSRF field on the page");
        let end = self.body[start..]
            .find('"')
            .expect("the end of the CSRF value");
        self.body[start..start + end].to_string()
    }
}

/// A console client at `base` (`http://127.0.0.1:PORT`), with or without a session.
pub struct Console {
    pub base: String,
    agent: ureq::Agent,
    pub cookie: Option<String>,
}

/// `application/x-www-form-urlencoded` of `fields`.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Console {
    pub fn new(base: &str) -> Console {
        Console::trusting(base, &[])
    }

    /// A console client for an HTTPS console whose certificate chains to one of `roots` (PEM).
    pub fn trusting(base: &str, roots: &[String]) -> Console {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)));
        if !roots.is_empty() {
            let certs = roots
                .iter()
                .flat_map(|pem| ureq::tls::parse_pem(pem.as_bytes()))
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert),
                    _ => None,
                })
                .collect();
            let tls = ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(certs)))
                .build();
            config = config.tls_config(tls);
        }
        let agent: ureq::Agent = config.build().into();
        Console {
            base: base.to_string(),
            agent,
            cookie: None,
        }
    }

    fn finish(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Page {
        let mut response = response.expect("an HTTP answer from the console");
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        Page {
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, path: &str) -> Page {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("Cookie", cookie);
        }
        Console::finish(request.call())
    }

    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded");
        if let Some(cookie) = &self.cookie {
            request = request.header("Cookie", cookie);
        }
        Console::finish(request.send(form_body(fields)))
    }

    /// Logs in as `admin`; keeps the session cookie. Returns the login answer.
    pub fn login(&mut self, password: &str) -> Page {
        let page = self.post("/login", &[("user", "admin"), ("password", password)]);
        if let Some(set) = page.header("set-cookie") {
            self.cookie = set.split(';').next().map(str::to_string);
        }
        page
    }

    /// The CSRF token of the logged-in session (from the dashboard's logout form).
    pub fn csrf(&self) -> String {
        self.get("/").csrf()
    }
}
