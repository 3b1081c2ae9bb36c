//! The one place where application errors become wire errors. Every Socket.IO ack and every
//! HTTP error body carries the same envelope: `{ok:false, error:{code, message, field?}}`.

use serde::Serialize;
use serde_json::{Value, json};

/// Stable error codes clients can switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    Unauthenticated,
    Forbidden,
    NotFound,
    Invalid,
    Conflict,
    RateLimited,
    TooLarge,
    Internal,
}

impl Code {
    /// The code as it goes over the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Invalid => "invalid",
            Self::Conflict => "conflict",
            Self::RateLimited => "rate_limited",
            Self::TooLarge => "too_large",
            Self::Internal => "internal",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("sign in first")]
    Unauthenticated,
    /// A sign-in with an unknown username or a wrong password (one answer for both).
    #[error("wrong username or password")]
    WrongCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Invalid {
        message: String,
        field: Option<String>,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("too many attempts; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    TooLarge(String),
    /// The detail is logged (and shown by the CLI), never sent: it may name paths or internals.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
            field: None,
        }
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }

    pub fn code(&self) -> Code {
        match self {
            Self::Unauthenticated | Self::WrongCredentials => Code::Unauthenticated,
            Self::Forbidden(_) => Code::Forbidden,
            Self::NotFound(_) => Code::NotFound,
            Self::Invalid { .. } => Code::Invalid,
            Self::Conflict(_) => Code::Conflict,
            Self::RateLimited { .. } => Code::RateLimited,
            Self::TooLarge(_) => Code::TooLarge,
            Self::Internal(_) => Code::Internal,
        }
    }

    pub fn http_status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self.code() {
            Code::Unauthenticated => S::UNAUTHORIZED,
            Code::Forbidden => S::FORBIDDEN,
            Code::NotFound => S::NOT_FOUND,
            Code::Invalid => S::BAD_REQUEST,
            Code::Conflict => S::CONFLICT,
            Code::RateLimited => S::TOO_MANY_REQUESTS,
            Code::TooLarge => S::PAYLOAD_TOO_LARGE,
            Code::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// The wire envelope. Internal details are logged here, once, and replaced by a generic text.
    pub fn envelope(&self) -> Value {
        if let Self::Internal(detail) = self {
            tracing::error!(%detail, "internal error");
        }
        let message = match self {
            Self::Internal(_) => "internal error; the server log has the details".to_string(),
            other => other.to_string(),
        };
        let mut error = json!({ "code": self.code(), "message": message });
        if let Self::Invalid {
            field: Some(field), ..
        } = self
        {
            error["field"] = json!(field);
        }
        if let Self::RateLimited { retry_after_secs } = self {
            error["retryAfter"] = json!(retry_after_secs);
        }
        json!({ "ok": false, "error": error })
    }
}

pub fn ok_envelope(data: impl Serialize) -> Value {
    match serde_json::to_value(data) {
        Ok(data) => json!({ "ok": true, "data": data }),
        Err(e) => AppError::internal(format!("serialising a response: {e}")).envelope(),
    }
}

pub type AppResult<T> = Result<T, AppError>;

impl From<sled::Error> for AppError {
    fn from(e: sled::Error) -> Self {
        Self::internal(format!("database: {e}"))
    }
}

impl From<sled::transaction::TransactionError<AppError>> for AppError {
    fn from(e: sled::transaction::TransactionError<AppError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => e.into(),
        }
    }
}

impl From<chillfi_plugin_host::PluginError> for AppError {
    fn from(e: chillfi_plugin_host::PluginError) -> Self {
        use chillfi_plugin_host::PluginError as P;
        match e {
            P::NotFound(_) => Self::NotFound("plugin"),
            P::Failed { name, reason } => {
                Self::Conflict(format!("plugin {name} could not be loaded: {reason}"))
            }
            P::Grant { plugin, message } => Self::Invalid {
                message: format!("plugin {plugin}: {message}"),
                field: Some("hosts".into()),
            },
            P::InvalidConfig { key, message, .. } => Self::Invalid {
                message: format!("{key}: {message}"),
                field: Some(format!("values.{key}")),
            },
            other => Self::internal(format!("plugins: {other}")),
        }
    }
}

/// Turns a serde error from a request payload into `invalid` naming the field when serde does.
pub fn payload_error_text(text: &str) -> AppError {
    // serde_json: "missing field `username` at line 1 column 2" / "invalid type: ..., expected ..."
    let field = text.split('`').nth(1).map(str::to_string);
    let message = text.split(" at line ").next().unwrap_or(text).to_string();
    match field {
        Some(field) if text.starts_with("missing field") || text.starts_with("unknown field") => {
            AppError::Invalid {
                message,
                field: Some(field),
            }
        }
        _ => AppError::Invalid {
            message: format!("malformed payload: {message}"),
            field: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_codes_are_the_wire_codes() {
        for code in [
            Code::Unauthenticated,
            Code::Forbidden,
            Code::NotFound,
            Code::Invalid,
            Code::Conflict,
            Code::RateLimited,
            Code::TooLarge,
            Code::Internal,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn internal_details_never_reach_the_wire() {
        let env = AppError::internal("/var/lib/chillfi/db is corrupt").envelope();
        assert_eq!(env["ok"], false);
        assert_eq!(env["error"]["code"], "internal");
        assert!(!env.to_string().contains("/var/lib"));
    }

    #[test]
    fn invalid_carries_the_field() {
        let env = AppError::invalid_field("username", "too short").envelope();
        assert_eq!(env["error"]["field"], "username");
        assert_eq!(env["error"]["code"], "invalid");
    }

    #[test]
    fn missing_field_names_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct P {
            username: String,
        }
        let err = serde_json::from_value::<P>(json!({})).unwrap_err();
        let app = payload_error_text(&err.to_string());
        assert!(matches!(&app, AppError::Invalid { field: Some(f), .. } if f == "username"));
    }
}
