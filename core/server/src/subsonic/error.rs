//! The Subsonic error codes and how ChillFi's own errors map onto them.

use crate::error::AppError;

/// A failed Subsonic answer: one of the spec's codes and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubError {
    pub code: u32,
    pub message: String,
    /// Set when the login throttle refused the attempt: answered with HTTP 429 + Retry-After.
    pub retry_after_secs: Option<u64>,
}

pub const GENERIC: u32 = 0;
pub const MISSING_PARAMETER: u32 = 10;
pub const WRONG_CREDENTIALS: u32 = 40;
pub const AUTH_NOT_SUPPORTED: u32 = 42;
pub const CONFLICTING_AUTH: u32 = 43;
pub const INVALID_API_KEY: u32 = 44;
pub const NOT_AUTHORIZED: u32 = 50;
pub const NOT_FOUND: u32 = 70;

impl SubError {
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub fn generic(message: impl Into<String>) -> Self {
        Self::new(GENERIC, message)
    }

    pub fn missing(name: &str) -> Self {
        Self::new(
            MISSING_PARAMETER,
            format!("required parameter '{name}' is missing"),
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(NOT_FOUND, format!("{what} not found"))
    }

    pub fn not_authorized(message: impl Into<String>) -> Self {
        Self::new(NOT_AUTHORIZED, message)
    }

    pub fn not_implemented(method: &str) -> Self {
        Self::generic(format!("not implemented: {method}"))
    }
}

impl From<AppError> for SubError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound(what) => Self::not_found(what),
            AppError::Forbidden(m) => Self::not_authorized(m),
            AppError::Unauthenticated => Self::new(WRONG_CREDENTIALS, "wrong username or password"),
            AppError::RateLimited { retry_after_secs } => Self {
                code: WRONG_CREDENTIALS,
                message: format!("too many failed attempts; try again in {retry_after_secs} s"),
                retry_after_secs: Some(retry_after_secs),
            },
            AppError::Internal(detail) => {
                tracing::error!(%detail, "internal error (subsonic)");
                Self::generic("internal error; the server log has the details")
            }
            other => Self::generic(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_errors_map_to_spec_codes() {
        assert_eq!(SubError::from(AppError::NotFound("song")).code, NOT_FOUND);
        assert_eq!(
            SubError::from(AppError::Forbidden("no".into())).code,
            NOT_AUTHORIZED
        );
        let limited = SubError::from(AppError::RateLimited {
            retry_after_secs: 7,
        });
        assert_eq!(limited.retry_after_secs, Some(7));
        let internal = SubError::from(AppError::internal("/secret/path"));
        assert_eq!(internal.code, GENERIC);
        assert!(!internal.message.contains("/secret"));
    }
}
