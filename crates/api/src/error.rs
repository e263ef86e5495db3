//! Errors as RFC 9457 `application/problem+json`, each with a stable `code`.
use crate::wire::Problem;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use thabian_register::RegisterError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_owned(),
            detail: detail.into(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid-request", detail)
    }
}

impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> ApiError {
        let status = match &e {
            RegisterError::Invalid(_) => StatusCode::BAD_REQUEST,
            RegisterError::Rule(_) => StatusCode::UNPROCESSABLE_ENTITY,
            RegisterError::NotFound(_) => StatusCode::NOT_FOUND,
            RegisterError::Forbidden(_) => StatusCode::FORBIDDEN,
            RegisterError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            RegisterError::VersionMismatch { .. } => StatusCode::PRECONDITION_FAILED,
            RegisterError::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            RegisterError::IdempotencyKeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            RegisterError::Contention | RegisterError::AccessLog(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            RegisterError::Store(_) | RegisterError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let detail = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // Storage errors may quote data; they go to the log, not to the client.
            tracing::error!(error = %e, "internal error");
            "internal error; the operators have the details in the server log".to_owned()
        } else {
            e.to_string()
        };
        ApiError {
            status,
            code: e.code().to_owned(),
            detail,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: format!("urn:thabian:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
