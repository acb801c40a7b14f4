//! The HTTP front door on `--http`. Routes arrive with app deployment; until one
//! matches, every request gets API Gateway's 404.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};

/// The front door's router.
pub fn router() -> Router {
    Router::new().fallback(not_found)
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "message": "Not Found" })),
    )
        .into_response()
}
