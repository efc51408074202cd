//! axum integration (feature `axum`): the [`WebSocketUpgrade`] extractor, written the way axum
//! users write WebSocket handlers, for an HTTP/1.1 upgrade and an HTTP/2 extended CONNECT
//! (RFC 8441) alike.
//!
//! Owns only the extractor's glue: taking hyper's upgrade out of the request parts and turning
//! [`crate::hyper::upgrade`]'s answer into an axum response. Every protocol decision is the
//! core's, as with [`crate::hyper`].
//!
//! The same handler, with axum's own `ws` module and with websock:
//!
//! ```ignore
//! // axum::extract::ws
//! async fn handler(ws: axum::extract::WebSocketUpgrade) -> axum::response::Response {
//!     ws.protocols(["chat"]).on_upgrade(|mut socket| async move {
//!         while let Some(Ok(msg)) = socket.recv().await {
//!             if socket.send(msg).await.is_err() { break }
//!         }
//!     })
//! }
//! ```
//!
//! ```
//! // websock::axum
//! async fn handler(ws: websock::axum::WebSocketUpgrade) -> axum::response::Response {
//!     ws.protocols(["chat"]).on_upgrade(|mut socket| async move {
//!         while let Some(Ok(msg)) = socket.recv().await {
//!             if msg.is_data() && socket.send(msg).await.is_err() { break }
//!         }
//!     })
//! }
//! # let _ = axum::Router::<()>::new().route("/ws", axum::routing::any(handler));
//! ```
//!
//! Differences: websock's handler sees pings and pongs as messages but answers pings itself
//! (hence `is_data`), closes with the RFC's codes on bad input, and accepts the stream over
//! HTTP/2 as well (`axum::serve` advertises extended CONNECT when axum's `http2` feature is
//! on). Route it with `any(..)`, not `get(..)`: an HTTP/2 WebSocket is a CONNECT.
#![forbid(unsafe_code)]

use std::future::Future;

use axum_core::body::Body;
use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;

use crate::hyper::{upgrade, HyperWebSocket, Refused};
use crate::proto::handshake::server::{Accept, Request};
use crate::Config;

/// Extracts a WebSocket handshake (HTTP/1.1 `GET` + `Upgrade`, or HTTP/2 extended CONNECT).
/// A request that is no WebSocket handshake at all is rejected with the core's answer
/// (`426 Upgrade Required` with `Sec-WebSocket-Version: 13`); one that is but breaks a rule is
/// refused by [`on_upgrade`](Self::on_upgrade) with the status the rule calls for.
#[derive(Debug)]
pub struct WebSocketUpgrade {
    req: http::Request<()>,
    config: Config,
    protocols: Vec<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Refused> {
        let mut req = http::Request::new(());
        *req.method_mut() = parts.method.clone();
        *req.uri_mut() = parts.uri.clone();
        *req.version_mut() = parts.version;
        *req.headers_mut() = parts.headers.clone();
        if let Some(protocol) = parts.extensions.get::<::hyper::ext::Protocol>() {
            req.extensions_mut().insert(protocol.clone());
        }
        if !crate::hyper::is_upgrade_request(&req) {
            // The core's answer to a plain request; `upgrade` builds it and takes nothing.
            return Err(
                match upgrade(&mut req, Config::default(), |_| Ok(Accept::new())) {
                    Err(refused) => refused,
                    Ok(_) => Refused::internal("a plain request passed as a WebSocket handshake"),
                },
            );
        }
        if let Some(on) = parts.extensions.remove::<::hyper::upgrade::OnUpgrade>() {
            req.extensions_mut().insert(on);
        }
        Ok(WebSocketUpgrade {
            req,
            config: Config::default(),
            protocols: Vec::new(),
        })
    }
}

impl WebSocketUpgrade {
    /// The connection's configuration (limits, timers, permessage-deflate).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The subprotocols this server speaks, in its order of preference: the first of them that
    /// the client offered is chosen, none if it offered none of them.
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// The request's method, URI, version and headers (`Origin`, cookies), to check before
    /// accepting.
    pub fn request(&self) -> &http::Request<()> {
        &self.req
    }

    /// The HTTP version the WebSocket is arriving on: `HTTP_11` or `HTTP_2`.
    pub fn http_version(&self) -> http::Version {
        self.req.version()
    }

    /// Judges the handshake and, if it passes, returns the answer (`101`, or `200` on HTTP/2)
    /// and runs `callback` on the WebSocket in a new task once hyper hands the stream over; a
    /// refusal comes back as its response and `callback` never runs.
    pub fn on_upgrade<F, Fut>(mut self, callback: F) -> Response
    where
        F: FnOnce(HyperWebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let protocols = self.protocols;
        let choose = move |req: &Request| {
            let offered = req.protocols();
            Ok(
                match protocols.iter().find(|p| offered.contains(&p.as_str())) {
                    Some(p) => Accept::new().protocol(p.clone()),
                    None => Accept::new(),
                },
            )
        };
        match upgrade(&mut self.req, self.config, choose) {
            Ok((response, upgrade)) => {
                tokio::spawn(async move {
                    // Err: the client went away before hyper could hand the stream over.
                    if let Ok(ws) = upgrade.await {
                        callback(ws).await;
                    }
                });
                response.map(Body::new)
            }
            Err(refused) => IntoResponse::into_response(refused),
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        Refused::into_response(self).map(Body::new)
    }
}
