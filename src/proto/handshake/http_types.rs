//! Conversions between the handshake types and the `http` crate's (feature `http`), so a request
//! parsed by another server (hyper, axum) can be judged by [`server::accept`](super::server::accept)
//! and our responses can be sent through it.
#![forbid(unsafe_code)]

#[allow(unused_imports)]
use crate::proto::prelude::*;

use bytes::Bytes;

use super::server::Request;
use super::{Headers, Response};
use crate::proto::error::HandshakeError;

impl Request {
    /// A request as the `http` crate holds it (body ignored).
    pub fn from_http<B>(req: &http::Request<B>) -> Result<Request, HandshakeError> {
        let version = match req.version() {
            http::Version::HTTP_11 => 1,
            http::Version::HTTP_10 => 0,
            _ => 2,
        };
        let mut headers = Headers::new();
        for (name, value) in req.headers() {
            headers.push(name.as_str(), value.as_bytes());
        }
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_string(), |pq| pq.as_str().to_string());
        Ok(Request::from_parts(
            req.method().as_str().to_string(),
            target,
            version,
            headers,
        ))
    }

    /// The request as an `http::Request<()>`.
    pub fn to_http(&self) -> Result<http::Request<()>, HandshakeError> {
        let mut b = http::Request::builder()
            .method(self.method())
            .uri(self.target())
            .version(http::Version::HTTP_11);
        for (name, value) in self.headers().iter() {
            b = b.header(name, value);
        }
        b.body(())
            .map_err(|_| HandshakeError::Malformed("not representable as http::Request"))
    }
}

impl TryFrom<&Response> for http::Response<Bytes> {
    type Error = HandshakeError;
    fn try_from(r: &Response) -> Result<Self, HandshakeError> {
        let mut b = http::Response::builder().status(r.status);
        for (name, value) in &r.headers {
            b = b.header(name.as_str(), value.as_str());
        }
        b.body(r.body.clone())
            .map_err(|_| HandshakeError::Malformed("not representable as http::Response"))
    }
}

impl<B: Into<Bytes>> TryFrom<http::Response<B>> for Response {
    type Error = HandshakeError;
    fn try_from(r: http::Response<B>) -> Result<Self, HandshakeError> {
        let (parts, body) = r.into_parts();
        let mut out = Response::new(parts.status.as_u16());
        for (name, value) in &parts.headers {
            let value = value
                .to_str()
                .map_err(|_| HandshakeError::InvalidHeader(name.to_string()))?;
            out.headers.push((name.to_string(), value.to_string()));
        }
        out.body = body.into();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::handshake::server::{accept, Accept};

    #[test]
    fn http_request_is_judged_like_a_parsed_one() {
        let req = http::Request::builder()
            .uri("/chat?x=1")
            .header("Host", "example.com")
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Sec-WebSocket-Version", "13")
            .body(())
            .unwrap();
        let ours = Request::from_http(&req).unwrap();
        assert_eq!(ours.path(), "/chat");
        assert_eq!(ours.query(), Some("x=1"));
        let resp = accept(&ours, &Accept::new()).unwrap();
        let http_resp = http::Response::<Bytes>::try_from(&resp).unwrap();
        assert_eq!(http_resp.status(), 101);
        assert_eq!(
            http_resp.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let back = Response::try_from(http_resp).unwrap();
        assert_eq!(
            back.header("Sec-WebSocket-Accept"),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
        let round = ours.to_http().unwrap();
        assert_eq!(round.uri(), "/chat?x=1");
        assert_eq!(round.headers()["upgrade"], "websocket");
    }

    #[test]
    fn http2_request_is_refused_by_the_rules() {
        let req = http::Request::builder()
            .version(http::Version::HTTP_2)
            .uri("/")
            .body(())
            .unwrap();
        let ours = Request::from_http(&req).unwrap();
        assert_eq!(ours.validate(), Err(HandshakeError::NotHttp11));
    }
}
