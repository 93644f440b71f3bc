//! `POST /v1/signed-cookies`: cookies in the body and as `Set-Cookie`
//! headers with the distribution's attributes.

use axum::Router;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::post;
use serde::Serialize;

use super::asked;
use crate::auth::Caller;
use crate::config::{CookieConfig, SameSite};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ClientAddr, JsonBody};
use crate::http::request_id::RequestId;
use crate::http::state::AppState;
use crate::service::{CookieAnswer, CookieRequest, Kind};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route(super::SIGNED_COOKIES, post(sign_cookies))
}

/// The answer's body: the cookies, and the `Set-Cookie` values for callers
/// that set them themselves (a backend relaying them to a browser).
#[derive(Debug, Serialize)]
struct CookieBody {
    #[serde(flatten)]
    answer: CookieAnswer,
    set_cookie: Vec<String>,
}

impl JsonBody for CookieBody {}

async fn sign_cookies(
    State(state): State<AppState>,
    caller: Caller,
    ClientAddr(client_ip): ClientAddr,
    RequestId(request_id): RequestId,
    body: Result<ApiJson<CookieRequest>, ApiError>,
) -> Result<(HeaderMap, ApiJson<CookieBody>), ApiError> {
    let ctx = asked(&caller, &request_id, client_ip);
    let req = super::body(&state, &ctx, Kind::Cookies, body).await?;
    let answer = state.signing.cookies(&ctx, &req).await?;
    let attrs = attributes(&answer.attributes);
    let set_cookie: Vec<String> = answer
        .cookies
        .0
        .iter()
        .map(|(n, v)| format!("{n}={v}{attrs}"))
        .collect();
    let mut headers = HeaderMap::new();
    for value in &set_cookie {
        let value = HeaderValue::from_str(value).map_err(|e| ApiError::Internal(Box::new(e)))?;
        headers.append(SET_COOKIE, value);
    }
    Ok((headers, ApiJson(CookieBody { answer, set_cookie })))
}

/// `; Domain=..; Path=..; Secure; HttpOnly; SameSite=..` — no `Expires` or
/// `Max-Age`: AWS recommends session cookies; the policy carries the expiry.
fn attributes(c: &CookieConfig) -> String {
    let mut out = String::new();
    if let Some(domain) = &c.domain {
        out.push_str("; Domain=");
        out.push_str(domain);
    }
    out.push_str("; Path=");
    out.push_str(&c.path);
    if c.secure {
        out.push_str("; Secure");
    }
    if c.http_only {
        out.push_str("; HttpOnly");
    }
    out.push_str(match c.same_site {
        SameSite::Lax => "; SameSite=Lax",
        SameSite::Strict => "; SameSite=Strict",
        SameSite::None => "; SameSite=None",
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_follow_the_configuration_in_a_fixed_order() {
        let c = CookieConfig {
            domain: Some("example.com".into()),
            path: "/hls".into(),
            secure: true,
            http_only: true,
            same_site: SameSite::None,
        };
        assert_eq!(
            attributes(&c),
            "; Domain=example.com; Path=/hls; Secure; HttpOnly; SameSite=None"
        );
        let host_only = CookieConfig {
            domain: None,
            secure: false,
            http_only: false,
            ..CookieConfig::default()
        };
        assert_eq!(attributes(&host_only), "; Path=/; SameSite=Lax");
    }
}
