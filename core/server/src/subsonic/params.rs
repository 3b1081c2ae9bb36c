//! Request parameters: the query string and, for POST, a form body (the `formPost`
//! extension), merged in that order; names may repeat (`id=a&id=b`).

use super::error::{CONFLICTING_AUTH, INVALID_API_KEY, SubError, WRONG_CREDENTIALS};

/// Largest form body accepted (a `savePlayQueue` of 10 000 ids fits).
pub const MAX_FORM_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn parse(query: &str, form: Option<&[u8]>) -> Self {
        let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some(body) = form {
            pairs.extend(
                form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())),
            );
        }
        Self { pairs }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// A required parameter (error 10 when missing or empty).
    pub fn req(&self, name: &str) -> Result<&str, SubError> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(SubError::missing(name)),
        }
    }

    /// An optional integer parameter; a malformed one is error 0 naming it.
    pub fn int<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, SubError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                SubError::generic(format!("parameter '{name}' is not a valid number"))
            }),
        }
    }

    /// An integer with a default, clamped to `max`.
    pub fn count(&self, name: &str, default: usize, max: usize) -> Result<usize, SubError> {
        Ok(self.int::<usize>(name)?.unwrap_or(default).min(max))
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        self.get(name)
            .map(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }
}

/// How a request proves who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    ApiKey(String),
    Password {
        user: String,
        password: String,
    },
    Token {
        user: String,
        token: String,
        salt: String,
    },
}

/// Reads the credentials parameters, applying the spec's rules: `apiKey` alone (with `u`, `p`
/// or `t` → 43), else `u` with `p` (clear or `enc:` hex) or `t`+`s` (both → 43).
pub fn credentials(p: &Params) -> Result<Credentials, SubError> {
    let user = p.get("u").filter(|u| !u.is_empty());
    let password = p.get("p").filter(|v| !v.is_empty());
    let token = p.get("t").filter(|v| !v.is_empty());
    if let Some(key) = p.get("apiKey") {
        if user.is_some() || password.is_some() || token.is_some() {
            return Err(SubError::new(
                CONFLICTING_AUTH,
                "an API key must not be combined with u, p or t",
            ));
        }
        if key.is_empty() {
            return Err(SubError::new(INVALID_API_KEY, "invalid API key"));
        }
        return Ok(Credentials::ApiKey(key.to_string()));
    }
    let user = user.ok_or_else(|| SubError::missing("u"))?.to_string();
    match (password, token) {
        (Some(_), Some(_)) => Err(SubError::new(
            CONFLICTING_AUTH,
            "send either p or t and s, not both",
        )),
        (Some(p), None) => Ok(Credentials::Password {
            user,
            password: decode_password(p)?,
        }),
        (None, Some(t)) => Ok(Credentials::Token {
            user,
            token: t.to_ascii_lowercase(),
            salt: p.req("s")?.to_string(),
        }),
        (None, None) => Err(SubError::missing("p")),
    }
}

fn decode_password(p: &str) -> Result<String, SubError> {
    let Some(hex_text) = p.strip_prefix("enc:") else {
        return Ok(p.to_string());
    };
    hex::decode(hex_text)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| SubError::new(WRONG_CREDENTIALS, "wrong username or password"))
}

/// The query with credential values replaced, for log lines.
pub fn redact_query(query: &str) -> String {
    const SECRET: [&str; 4] = ["p", "t", "s", "apiKey"];
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if SECRET.contains(&k) => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(q: &str) -> Result<Credentials, u32> {
        credentials(&Params::parse(q, None)).map_err(|e| e.code)
    }

    #[test]
    fn query_and_form_merge_and_repeat() {
        let p = Params::parse("id=a&f=json", Some(b"id=b&name=Hello+World%21"));
        assert_eq!(p.all("id"), vec!["a", "b"]);
        assert_eq!(p.get("name"), Some("Hello World!"));
        assert_eq!(p.req("missing").unwrap_err().code, 10);
        assert_eq!(p.req("f").unwrap(), "json");
    }

    #[test]
    fn numbers_are_checked_and_clamped() {
        let p = Params::parse("size=20&offset=x&big=100000", None);
        assert_eq!(p.int::<u32>("size").unwrap(), Some(20));
        assert_eq!(p.int::<u32>("offset").unwrap_err().code, 0);
        assert_eq!(p.count("big", 10, 500).unwrap(), 500);
        assert_eq!(p.count("none", 10, 500).unwrap(), 10);
    }

    #[test]
    fn the_three_credential_forms() {
        assert_eq!(creds("apiKey=k1"), Ok(Credentials::ApiKey("k1".into())));
        assert_eq!(
            creds("u=ann&p=secret"),
            Ok(Credentials::Password {
                user: "ann".into(),
                password: "secret".into()
            })
        );
        assert_eq!(
            creds("u=ann&p=enc:736563726574"),
            Ok(Credentials::Password {
                user: "ann".into(),
                password: "secret".into()
            })
        );
        assert_eq!(
            creds("u=ann&t=ABCDEF&s=salt"),
            Ok(Credentials::Token {
                user: "ann".into(),
                token: "abcdef".into(),
                salt: "salt".into()
            })
        );
    }

    #[test]
    fn conflicting_missing_and_malformed_credentials() {
        assert_eq!(creds("apiKey=k&u=ann"), Err(43));
        assert_eq!(creds("apiKey=k&p=x"), Err(43));
        assert_eq!(creds("u=ann&p=x&t=y&s=z"), Err(43));
        assert_eq!(creds("apiKey="), Err(44));
        assert_eq!(creds(""), Err(10));
        assert_eq!(creds("u=ann"), Err(10));
        assert_eq!(creds("u=ann&t=abc"), Err(10));
        assert_eq!(creds("u=ann&p=enc:zz"), Err(40));
    }

    #[test]
    fn secrets_are_redacted_from_queries() {
        let q = "u=ann&p=enc:73&t=abc&s=salt&apiKey=k&id=song1&c=DSub";
        assert_eq!(
            redact_query(q),
            "u=ann&p=***&t=***&s=***&apiKey=***&id=song1&c=DSub"
        );
    }
}
