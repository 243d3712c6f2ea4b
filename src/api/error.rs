//! Error answers of the API: a stable code, a message and the HTTP status,
//! serialized the way the SDKs parse them.

use serde::Serialize;

/// An error the control plane answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// Stable error code, e.g. `SignatureDoesNotMatch`.
    pub code: String,
    /// Plain-words explanation.
    pub message: String,
    /// HTTP status of the answer.
    pub status: u16,
}

impl ApiError {
    /// An error with any code.
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            code: code.into(),
            message: message.into(),
            status,
        }
    }

    /// A required parameter is absent.
    pub fn missing(parameter: &str) -> Self {
        Self::new(
            400,
            format!("MissingParameter.{parameter}"),
            format!("The input parameter \"{parameter}\" that is mandatory for processing this request is not supplied."),
        )
    }

    /// A parameter has a value the action cannot use.
    pub fn invalid(parameter: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            format!("InvalidParameter.{parameter}"),
            format!("The parameter \"{parameter}\" is not valid: {why}"),
        )
    }

    /// The named resource does not exist.
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }

    /// An internal failure; the message is generic, details go to the log.
    pub fn internal() -> Self {
        Self::new(
            500,
            "InternalError",
            "The request processing has failed due to some unknown error.",
        )
    }

    /// The JSON body of this error for a request.
    pub fn body(&self, request_id: &str) -> ErrorBody {
        ErrorBody {
            request_id: request_id.to_string(),
            code: self.code.clone(),
            message: self.message.clone(),
            err_code: self.code.clone(),
            err_message: self.message.clone(),
            success: false,
            http_status_code: self.status,
        }
    }
}

/// The JSON body of an error: the common `Code`/`Message` that SDK cores
/// raise from, and the `ErrCode`/`ErrMessage`/`Success`/`HttpStatusCode`
/// fields of the DBS response models.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorBody {
    /// Request id, also in every successful answer.
    pub request_id: String,
    /// Error code.
    pub code: String,
    /// Error message.
    pub message: String,
    /// Error code again, as the DBS models name it.
    pub err_code: String,
    /// Error message again, as the DBS models name it.
    pub err_message: String,
    /// Always false.
    pub success: bool,
    /// The HTTP status.
    pub http_status_code: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_carries_both_code_fields() {
        let body = serde_json::to_value(ApiError::missing("TaskId").body("r1")).unwrap();
        assert_eq!(body["Code"], "MissingParameter.TaskId");
        assert_eq!(body["ErrCode"], "MissingParameter.TaskId");
        assert_eq!(body["RequestId"], "r1");
        assert_eq!(body["Success"], false);
        assert_eq!(body["HttpStatusCode"], 400);
    }
}
