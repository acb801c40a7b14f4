//! Finding a request's route: a Function URL by host, else the route table by
//! host + method + path; CORS preflights answered from the app's settings.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use http::HeaderMap;

use crate::dispatch::dispatch;
use crate::error::GatewayError;
use crate::served::{At, Served};
use crate::{cors, Gateway};

pub(crate) async fn route(
    gw: &Arc<Gateway>,
    peer: SocketAddr,
    req: Request,
    served: &mut Served,
) -> Result<Response, GatewayError> {
    let table = gw.table.read().clone();
    let host = host_of(req.headers());
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let (target, params, matched, prefix) = match table.url(&host) {
        Some(t) if t.iam => {
            served.route = "$default (AWS_IAM)".into();
            return Err(GatewayError::IamUnsupported);
        }
        Some(t) => (t, Vec::new(), path.as_str(), None),
        None => match table.find(&host, &method, &path) {
            Some(m)
                if !(method == "OPTIONS"
                    && is_preflight(req.headers())
                    && m.target.route.method.as_deref() != Some("OPTIONS")) =>
            {
                (m.target, m.params, m.path, m.prefix)
            }
            _ => {
                // A preflight is answered from the app's CORS unless a route takes OPTIONS itself.
                if method == "OPTIONS" && is_preflight(req.headers()) {
                    if let Some(cors) = table.any_method(&host, &path).and_then(|t| t.cors.clone())
                    {
                        served.route = "preflight".into();
                        return Ok(cors::preflight(&cors, req.headers()));
                    }
                }
                return Err(GatewayError::RouteNotFound {
                    method: method.clone(),
                    path: path.clone(),
                });
            }
        },
    };
    served.route = target.route.key.clone();
    served.stats = Some(target.stats.clone());
    served.function = Some(target.route.function.clone());
    // Only CORS needs the request's headers after it is consumed.
    served.cors = target
        .cors
        .clone()
        .and_then(|c| Some((c, req.headers().get("origin")?.clone())));
    let at = At {
        params,
        path: matched,
        prefix,
    };
    dispatch(gw, target, at, peer, req, served).await
}

fn host_of(h: &HeaderMap) -> String {
    h.get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase())
        .unwrap_or_default()
}

/// A CORS preflight: it carries no credentials and is answered before auth.
pub(crate) fn is_preflight(h: &HeaderMap) -> bool {
    h.contains_key("origin") && h.contains_key("access-control-request-method")
}
