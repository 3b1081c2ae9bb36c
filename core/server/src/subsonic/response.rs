//! The Subsonic response model and its three encodings: XML (the default, in the
//! `http://subsonic.org/restapi` namespace), JSON and JSONP.
//!
//! One tree serves all three. An [`Elem`] has attributes (XML attributes, JSON fields), optional
//! text (XML text, JSON `value`) and named children: one element (JSON object), a list of
//! elements (repeated XML elements, a JSON array) or a list of plain values (repeated XML
//! elements holding text, a JSON array of scalars).

use std::fmt::Write as _;

use serde_json::{Map, Value};

pub const API_VERSION: &str = "1.16.1";
pub const NAMESPACE: &str = "http://subsonic.org/restapi";
pub const SERVER_TYPE: &str = "chillfi";

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Self::Str(v.to_string())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Self::Str(v)
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Self::Str(v.clone())
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}
macro_rules! int_val {
    ($($t:ty),*) => {$(
        impl From<$t> for Val {
            fn from(v: $t) -> Self {
                Self::Int(v as i64)
            }
        }
    )*};
}
int_val!(i32, i64, u8, u16, u32, u64, usize);

impl Val {
    fn to_json(&self) -> Value {
        match self {
            Self::Str(s) => Value::String(clean(s)),
            Self::Int(i) => Value::from(*i),
            Self::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Self::Bool(b) => Value::Bool(*b),
        }
    }

    fn to_text(&self) -> String {
        match self {
            Self::Str(s) => s.clone(),
            Self::Int(i) => i.to_string(),
            Self::Float(f) => f.to_string(),
            Self::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Child {
    One(Elem),
    Many(Vec<Elem>),
    Values(Vec<Val>),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Elem {
    attrs: Vec<(&'static str, Val)>,
    text: Option<String>,
    children: Vec<(&'static str, Child)>,
}

impl Elem {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an attribute.
    pub fn a(mut self, name: &'static str, value: impl Into<Val>) -> Self {
        self.attrs.push((name, value.into()));
        self
    }

    /// Adds an attribute when there is a value.
    pub fn opt(self, name: &'static str, value: Option<impl Into<Val>>) -> Self {
        match value {
            Some(v) => self.a(name, v),
            None => self,
        }
    }

    /// Adds a text attribute unless it is empty.
    pub fn nonempty(self, name: &'static str, value: &str) -> Self {
        if value.is_empty() {
            self
        } else {
            self.a(name, value)
        }
    }

    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    pub fn child(mut self, name: &'static str, child: Elem) -> Self {
        self.children.push((name, Child::One(child)));
        self
    }

    pub fn list(mut self, name: &'static str, items: Vec<Elem>) -> Self {
        self.children.push((name, Child::Many(items)));
        self
    }

    pub fn values(mut self, name: &'static str, items: Vec<Val>) -> Self {
        self.children.push((name, Child::Values(items)));
        self
    }

    fn to_json(&self) -> Value {
        let mut map = Map::new();
        for (name, value) in &self.attrs {
            map.insert((*name).to_string(), value.to_json());
        }
        if let Some(text) = &self.text {
            map.insert("value".into(), Value::String(clean(text)));
        }
        for (name, child) in &self.children {
            let value = match child {
                Child::One(e) => e.to_json(),
                Child::Many(items) => Value::Array(items.iter().map(Elem::to_json).collect()),
                Child::Values(items) => Value::Array(items.iter().map(Val::to_json).collect()),
            };
            map.insert((*name).to_string(), value);
        }
        Value::Object(map)
    }

    fn write_xml(&self, out: &mut String, name: &str, root_ns: bool) {
        out.push('<');
        out.push_str(name);
        if root_ns {
            let _ = write!(out, " xmlns=\"{NAMESPACE}\"");
        }
        for (attr, value) in &self.attrs {
            let _ = write!(out, " {attr}=\"");
            escape_into(out, &value.to_text());
            out.push('"');
        }
        let has_children = self.children.iter().any(|(_, c)| match c {
            Child::One(_) => true,
            Child::Many(v) => !v.is_empty(),
            Child::Values(v) => !v.is_empty(),
        });
        if self.text.is_none() && !has_children {
            out.push_str("/>");
            return;
        }
        out.push('>');
        if let Some(text) = &self.text {
            escape_into(out, text);
        }
        for (child_name, child) in &self.children {
            match child {
                Child::One(e) => e.write_xml(out, child_name, false),
                Child::Many(items) => {
                    for e in items {
                        e.write_xml(out, child_name, false);
                    }
                }
                Child::Values(items) => {
                    for v in items {
                        let _ = write!(out, "<{child_name}>");
                        escape_into(out, &v.to_text());
                        let _ = write!(out, "</{child_name}>");
                    }
                }
            }
        }
        let _ = write!(out, "</{name}>");
    }
}

/// Characters XML 1.0 cannot carry at all (most control characters) are dropped.
fn allowed_in_xml(c: char) -> bool {
    let code = c as u32;
    matches!(c, '\t' | '\n' | '\r') || (code >= 0x20 && code != 0xFFFE && code != 0xFFFF)
}

fn clean(s: &str) -> String {
    s.chars().filter(|c| allowed_in_xml(*c)).collect()
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if allowed_in_xml(c) => out.push(c),
            _ => {}
        }
    }
}

/// The answer format a client asked for with `f` (and `callback` for JSONP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Xml,
    Json,
    Jsonp(String),
}

impl Format {
    /// `f=xml|json|jsonp`; anything else (or nothing) is XML, as in the reference server. A
    /// JSONP callback must be a plain JavaScript name path, or the answer is JSON.
    pub fn from_params(f: Option<&str>, callback: Option<&str>) -> Self {
        match f {
            Some("json") => Self::Json,
            Some("jsonp") => match callback {
                Some(cb) if is_callback_name(cb) => Self::Jsonp(cb.to_string()),
                _ => Self::Json,
            },
            _ => Self::Xml,
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Self::Xml => "application/xml; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
            Self::Jsonp(_) => "application/javascript; charset=utf-8",
        }
    }
}

fn is_callback_name(cb: &str) -> bool {
    !cb.is_empty()
        && cb.len() <= 128
        && cb
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.'))
        && !cb.starts_with('.')
        && !cb.ends_with('.')
        && !cb.contains("..")
}

/// A whole `subsonic-response`: status plus the method's payload (or the error).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    ok: bool,
    body: Elem,
}

impl Response {
    /// A successful answer; `payload` is `(element name, element)` or nothing (ping).
    pub fn ok(payload: Option<(&'static str, Elem)>) -> Self {
        let mut body = Elem::new();
        if let Some((name, elem)) = payload {
            body = body.child(name, elem);
        }
        Self { ok: true, body }
    }

    pub fn ok_with(name: &'static str, elem: Elem) -> Self {
        Self::ok(Some((name, elem)))
    }

    pub fn failed(code: u32, message: &str) -> Self {
        Self {
            ok: false,
            body: Elem::new().child("error", Elem::new().a("code", code).a("message", message)),
        }
    }

    /// Adds a list directly under the root (`openSubsonicExtensions` is an array there).
    pub fn with_list(mut self, name: &'static str, items: Vec<Elem>) -> Self {
        self.body = self.body.list(name, items);
        self
    }

    fn root(&self) -> Elem {
        let mut root = Elem::new()
            .a("status", if self.ok { "ok" } else { "failed" })
            .a("version", API_VERSION)
            .a("type", SERVER_TYPE)
            .a("serverVersion", env!("CARGO_PKG_VERSION"))
            .a("openSubsonic", true);
        root.children = self.body.children.clone();
        root
    }

    pub fn encode(&self, format: &Format) -> String {
        match format {
            Format::Xml => {
                let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
                self.root().write_xml(&mut out, "subsonic-response", true);
                out
            }
            Format::Json => self.json().to_string(),
            Format::Jsonp(cb) => format!("{cb}({});", self.json()),
        }
    }

    pub fn json(&self) -> Value {
        let mut map = Map::new();
        map.insert("subsonic-response".into(), self.root().to_json());
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn album() -> Response {
        Response::ok_with(
            "album",
            Elem::new()
                .a("id", "a1")
                .a("name", "Tom & \"Jerry\" <live>")
                .a("songCount", 2u32)
                .a("starred", false)
                .list(
                    "song",
                    vec![Elem::new().a("id", "s1"), Elem::new().a("id", "s2")],
                )
                .values("versions", vec![Val::Int(1), Val::Int(2)]),
        )
    }

    #[test]
    fn xml_has_the_namespace_and_root_attributes_and_escapes_text() {
        let xml = album().encode(&Format::Xml);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><subsonic-response xmlns=\"http://subsonic.org/restapi\" status=\"ok\" version=\"1.16.1\" type=\"chillfi\" serverVersion=\""), "{xml}");
        assert!(xml.contains("openSubsonic=\"true\""));
        assert!(
            xml.contains("name=\"Tom &amp; &quot;Jerry&quot; &lt;live&gt;\""),
            "{xml}"
        );
        assert!(xml.contains("<song id=\"s1\"/><song id=\"s2\"/>"), "{xml}");
        assert!(
            xml.contains("<versions>1</versions><versions>2</versions>"),
            "{xml}"
        );
        assert!(xml.ends_with("</album></subsonic-response>"), "{xml}");
    }

    #[test]
    fn json_nests_lists_as_arrays_and_keeps_types() {
        let json = album().json();
        let root = &json["subsonic-response"];
        assert_eq!(root["status"], "ok");
        assert_eq!(root["version"], "1.16.1");
        assert_eq!(root["type"], "chillfi");
        assert_eq!(root["openSubsonic"], true);
        assert_eq!(root["album"]["songCount"], 2);
        assert_eq!(root["album"]["starred"], false);
        assert_eq!(root["album"]["song"][1]["id"], "s2");
        assert_eq!(root["album"]["versions"], serde_json::json!([1, 2]));
    }

    #[test]
    fn errors_carry_code_and_message() {
        let r = Response::failed(70, "song not found");
        let json = r.json();
        assert_eq!(json["subsonic-response"]["status"], "failed");
        assert_eq!(json["subsonic-response"]["error"]["code"], 70);
        let xml = r.encode(&Format::Xml);
        assert!(
            xml.contains("<error code=\"70\" message=\"song not found\"/>"),
            "{xml}"
        );
    }

    #[test]
    fn jsonp_wraps_and_refuses_script_in_the_callback() {
        assert_eq!(
            Format::from_params(Some("jsonp"), Some("cb.x_1")),
            Format::Jsonp("cb.x_1".into())
        );
        let out = Response::ok(None).encode(&Format::Jsonp("cb".into()));
        assert!(out.starts_with("cb({\"subsonic-response\":"), "{out}");
        assert!(out.ends_with("});"));
        for bad in ["alert(1)//", "a;b", "", "a b", "<x>", ".a"] {
            assert_eq!(
                Format::from_params(Some("jsonp"), Some(bad)),
                Format::Json,
                "{bad}"
            );
        }
        assert_eq!(Format::from_params(None, None), Format::Xml);
        assert_eq!(Format::from_params(Some("json"), None), Format::Json);
    }

    #[test]
    fn control_characters_never_reach_the_xml() {
        let r = Response::ok_with("x", Elem::new().a("t", "a\u{1}b\u{0}c").text("d\u{8}e"));
        let xml = r.encode(&Format::Xml);
        assert!(xml.contains("t=\"abc\""), "{xml}");
        assert!(xml.contains(">de</x>"), "{xml}");
        assert_eq!(r.json()["subsonic-response"]["x"]["value"], "de");
    }

    #[test]
    fn text_content_is_value_in_json() {
        let r = Response::ok_with("lyrics", Elem::new().a("artist", "A").text("la la"));
        assert_eq!(r.json()["subsonic-response"]["lyrics"]["value"], "la la");
        assert!(
            r.encode(&Format::Xml)
                .contains("<lyrics artist=\"A\">la la</lyrics>")
        );
    }
}
