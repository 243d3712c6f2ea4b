//! The HTTP side: one RPC endpoint at `/` (POST or GET), parsed, authenticated
//! and dispatched to [`super::actions`]; JSON answers with a `RequestId`.
//! Beside it, the route of set bytes ([`sets`], with its `Range` choice in
//! [`range`]) and the route gateways upload sets on ([`uploads`]).

mod part_writer;
pub mod range;
pub mod sets;
pub mod uploads;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{middleware, Json, Router};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::api::{ApiError, API_VERSION};

use super::auth::{self, RawCall};
use super::call::Call;
use super::limits::{self, refusal_log};
use super::{actions, store, ControlPlane};

/// The router of the control plane. RPC bodies are read under the limits of
/// `plane.settings.limits` before the handler runs.
pub fn router(plane: ControlPlane) -> Router {
    let limits = Arc::new(plane.settings.limits.clone());
    Router::new()
        .route(
            "/",
            any(rpc).layer(middleware::from_fn_with_state(limits, limits::limit_body)),
        )
        .route(sets::ROUTE, get(sets::serve_set))
        .route(
            crate::api::gateway::UPLOAD_ROUTE,
            get(uploads::serve_upload)
                .put(uploads::serve_upload)
                .post(uploads::serve_upload),
        )
        .with_state(plane)
}

/// Serves (over TLS when `tls` is given) until `shutdown` is cancelled,
/// then drains open requests; see [`super::listener`] for the bounds.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    plane: ControlPlane,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    tokio::spawn(prune_nonces(plane.clone(), shutdown.clone()));
    let limits = Arc::new(plane.settings.limits.clone());
    super::listener::run(listener, tls, router(plane), limits, shutdown).await
}

/// Forgets nonces whose timestamps are refused anyway, and removes the
/// uploads of ended tasks ([`uploads::sweep`]), once a minute.
async fn prune_nonces(plane: ControlPlane, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = store::now_ms();
        if let Err(e) = plane.store.call(move |c| store::prune_nonces(c, now)).await {
            tracing::warn!(error = %e, "pruning nonces failed");
        }
        let swept = plane
            .store
            .call(|c| match super::catalog::sets::data_dir_of(c) {
                Some(dir) => uploads::sweep(c, &dir),
                None => Ok(0),
            });
        if let Err(e) = swept.await {
            tracing::warn!(error = %e, "removing the uploads of ended tasks failed");
        }
    }
}

fn pairs(text: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn rpc(
    State(plane): State<ControlPlane>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string().to_uppercase();
    let query = pairs(query.as_deref().unwrap_or_default());
    let is_form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form = if is_form {
        pairs(&String::from_utf8_lossy(&body))
    } else {
        Vec::new()
    };
    let raw = RawCall {
        method: method.as_str(),
        query: &query,
        form: &form,
        headers: &headers,
        body: &body,
    };
    let from_header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let param = |name: &str| {
        query
            .iter()
            .chain(form.iter())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let action = param("Action").or_else(|| from_header("x-acs-action"));
    let version = param("Version").or_else(|| from_header("x-acs-version"));

    let span = tracing::info_span!("rpc", request_id = %request_id, action = action.as_deref().unwrap_or("-"));
    let outcome = async {
        let action = action.ok_or_else(|| ApiError::missing("Action"))?;
        match version.as_deref() {
            Some(API_VERSION) => {}
            Some(other) => {
                return Err(ApiError::new(
                    400,
                    "InvalidVersion",
                    format!("Version {other} is not supported; use {API_VERSION}."),
                ))
            }
            None => return Err(ApiError::missing("Version")),
        }
        let caller = auth::authenticate(&plane.store, &raw).await?;
        let call = Call {
            request_id: request_id.clone(),
            action,
            params: query.iter().chain(form.iter()).cloned().collect(),
            caller,
        };
        actions::dispatch(&plane, &call).await
    }
    .instrument(span.clone())
    .await;
    match outcome {
        Ok(mut body) => {
            if let Some(map) = body.as_object_mut() {
                map.insert("RequestId".into(), request_id.into());
                map.entry("Success").or_insert(true.into());
                map.insert("HttpStatusCode".into(), 200.into());
            }
            Json(body).into_response()
        }
        Err(error) => {
            if error.status >= 500 {
                tracing::error!(parent: &span, code = %error.code, "request failed");
            } else {
                refusal_log(|suppressed| {
                    tracing::info!(parent: &span, code = %error.code, suppressed, "request refused");
                });
            }
            let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, Json(error.body(&request_id))).into_response()
        }
    }
}
