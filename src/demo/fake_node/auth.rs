//! AISBF's auth rules as 0.99.92 applies them: global and user endpoints,
//! token scopes, and the exact refusal texts.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::routes::error;
use super::spec::{FakeNodeSpec, TokenScope};

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    // AISBF does not trim: trailing whitespace makes a valid token unknown.
    v.strip_prefix("Bearer ")
}

/// AISBF's global-endpoint auth.
pub(super) fn global_auth(spec: &FakeNodeSpec, headers: &HeaderMap) -> Option<Response> {
    if !spec.auth_enabled {
        return None;
    }
    let Some(token) = bearer(headers) else {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "Missing or invalid Authorization header.",
        ));
    };
    if spec.global_tokens.iter().any(|t| t == token) {
        return None;
    }
    if spec.tokens.iter().any(|t| t.token == token) {
        return Some(error(
            StatusCode::FORBIDDEN,
            "User tokens cannot access global endpoints.",
        ));
    }
    Some(error(StatusCode::FORBIDDEN, "Invalid authentication token"))
}

/// A refusal: status and AISBF's `{"error"}` text.
pub(super) type Refusal = (StatusCode, &'static str);

/// AISBF's user-endpoint auth: `Ok(scope)` or the refusal.
pub(super) fn user_auth(
    spec: &FakeNodeSpec,
    headers: &HeaderMap,
    user: &str,
) -> Result<TokenScope, Refusal> {
    if !spec.auth_enabled {
        return Err((
            StatusCode::UNAUTHORIZED,
            "Authentication required. Use a valid API token.",
        ));
    }
    let Some(token) = bearer(headers) else {
        return Err((
            StatusCode::UNAUTHORIZED,
            "Missing or invalid Authorization header.",
        ));
    };
    if spec.global_tokens.iter().any(|t| t == token) {
        return Err((
            StatusCode::FORBIDDEN,
            "Global tokens cannot access user-specific endpoints.",
        ));
    }
    let Some(t) = spec.tokens.iter().find(|t| t.token == token) else {
        return Err((StatusCode::FORBIDDEN, "Invalid authentication token"));
    };
    if t.user != user {
        return Err((
            StatusCode::FORBIDDEN,
            "You can only access your own user-specific endpoints.",
        ));
    }
    Ok(t.scope)
}

/// The refusal of a user API endpoint, if any: an MCP-only token has no API access.
pub(super) fn api_access(spec: &FakeNodeSpec, headers: &HeaderMap, user: &str) -> Option<Response> {
    match user_auth(spec, headers, user) {
        Err((status, text)) => Some(error(status, text)),
        Ok(TokenScope::Mcp) => Some(error(
            StatusCode::FORBIDDEN,
            "This token does not have API access.",
        )),
        Ok(_) => None,
    }
}

/// The refusal of an MCP endpoint, if any: an API-only token has no MCP access.
pub(super) fn mcp_access(spec: &FakeNodeSpec, headers: &HeaderMap, user: &str) -> Option<Response> {
    match user_auth(spec, headers, user) {
        Err((status, text)) => Some(error(status, text)),
        Ok(TokenScope::Api) => Some(error(
            StatusCode::FORBIDDEN,
            "This token does not have MCP access.",
        )),
        Ok(_) => None,
    }
}
