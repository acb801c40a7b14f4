//! The one place API errors become HTTP: AWS's status codes, `x-amzn-ErrorType`
//! with the modeled exception name, and `{"Type","message"}` bodies botocore parses.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use ondol_core::InvokeError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    ProvisionedNotFound(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    InvalidRequestContent(String),
    /// A member outside its modeled constraints (pattern, enum), as AWS's front end says.
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    RequestTooLarge(String),
    #[error("{0}")]
    CodeStorageExceeded(String),
    #[error("{message}")]
    Throttled {
        reason: &'static str,
        message: String,
    },
    #[error("{0}")]
    Service(String),
    #[error("{0}")]
    Unavailable(String),
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
            Self::ProvisionedNotFound(_) => (
                StatusCode::NOT_FOUND,
                "ProvisionedConcurrencyConfigNotFoundException",
            ),
            Self::InvalidParameter(_) => {
                (StatusCode::BAD_REQUEST, "InvalidParameterValueException")
            }
            Self::Validation(_) => (StatusCode::BAD_REQUEST, "ValidationException"),
            Self::InvalidRequestContent(_) => {
                (StatusCode::BAD_REQUEST, "InvalidRequestContentException")
            }
            Self::Conflict(_) => (StatusCode::CONFLICT, "ResourceConflictException"),
            Self::PreconditionFailed(_) => (
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailedException",
            ),
            Self::RequestTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLargeException"),
            Self::CodeStorageExceeded(_) => {
                (StatusCode::BAD_REQUEST, "CodeStorageExceededException")
            }
            Self::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException"),
            Self::Service(_) => (StatusCode::INTERNAL_SERVER_ERROR, "ServiceException"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "ServiceException"),
        }
    }
}

impl From<InvokeError> for ApiError {
    fn from(e: InvokeError) -> Self {
        match e {
            InvokeError::NotFound(m) => Self::NotFound(format!("Function not found: {m}")),
            InvokeError::Throttled { reason, message } => Self::Throttled { reason, message },
            e @ InvokeError::RequestTooLarge { .. } => Self::RequestTooLarge(e.to_string()),
            e @ InvokeError::ShuttingDown => Self::Unavailable(e.to_string()),
            InvokeError::WrongMode(m) => Self::InvalidParameter(m),
        }
    }
}

impl From<ondol_store::Error> for ApiError {
    fn from(e: ondol_store::Error) -> Self {
        use ondol_store::Error as E;
        match e {
            E::Conflict(m) => Self::Conflict(format!("{m} already exist")),
            E::NotFound(m) => Self::NotFound(format!("{m} not found")),
            E::BadArchive(m) => Self::InvalidParameter(m),
            other => Self::Service(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = self.parts();
        let message = self.to_string();
        let mut body = serde_json::json!({ "Type": "User", "message": message });
        if let Self::Throttled { reason, .. } = &self {
            body["Reason"] = serde_json::Value::String((*reason).to_string());
        }
        // Ours, not the caller's: logged with the id the caller sees, to find it by.
        let request_id = status
            .is_server_error()
            .then(|| uuid::Uuid::new_v4().to_string());
        if let Some(id) = &request_id {
            body["Type"] = "Service".into();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                tracing::warn!(request_id = %id, %message, "management API unavailable");
            } else {
                tracing::error!(request_id = %id, %message, "management API error");
            }
        }
        let mut resp = (status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        if let Some(v) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
            h.insert("x-amzn-RequestId", v);
        }
        h.insert("x-amzn-ErrorType", HeaderValue::from_static(kind));
        if matches!(self, Self::Throttled { .. }) {
            h.insert("Retry-After", HeaderValue::from_static("1"));
        }
        resp
    }
}
