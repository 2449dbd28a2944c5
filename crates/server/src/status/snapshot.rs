//! The public status surfaces as an in-memory snapshot: every page, JSON document, feed and
//! the badge rendered once per change, each kept plain, gzip- and brotli-compressed with its
//! ETag, and served without touching the database. A surge of readers costs a hash lookup
//! and a memcpy per request; a database outage leaves the last snapshot serving.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use herald_core::status::{Board, advisory, feeds, page, v2};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;

/// One surface in its three encodings.
#[derive(Debug, Clone)]
pub struct Asset {
    pub content_type: &'static str,
    pub plain: Bytes,
    pub gzip: Bytes,
    pub brotli: Bytes,
    /// Hex digest of `plain`: the ETag's base.
    pub digest: String,
}

impl Asset {
    pub fn new(content_type: &'static str, body: String) -> Self {
        let plain = Bytes::from(body);
        let digest = hex_digest(&plain);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&plain).expect("writing to memory");
        let gzip = Bytes::from(gz.finish().expect("writing to memory"));
        let mut br = Vec::new();
        {
            // Quality 9 compresses within a few percent of 11 at a tenth of the time; a
            // snapshot is rebuilt at every change.
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 9, 22);
            w.write_all(&plain).expect("writing to memory");
        }
        Self {
            content_type,
            plain,
            gzip,
            brotli: Bytes::from(br),
            digest,
        }
    }
}

fn hex_digest(b: &[u8]) -> String {
    let d = Sha256::digest(b);
    d[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// Every public surface of one board, by path.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub assets: HashMap<String, Asset>,
    /// The page for an incident id that is not on the page.
    pub missing_incident: Option<Asset>,
    /// When the board was read.
    pub read_at: Option<Timestamp>,
}

const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";

/// The v2 documents by path.
pub fn v2_documents(board: &Board) -> Vec<(&'static str, String)> {
    let d = v2::Documents::new(board);
    vec![
        ("/api/v2/summary.json", d.summary_json()),
        ("/api/v2/status.json", d.status_json()),
        ("/api/v2/components.json", d.components_json()),
        ("/api/v2/incidents.json", d.incidents_json()),
        ("/api/v2/incidents/unresolved.json", d.unresolved_json()),
        ("/api/v2/scheduled-maintenances.json", d.maintenances_json()),
        (
            "/api/v2/scheduled-maintenances/upcoming.json",
            d.upcoming_json(),
        ),
        (
            "/api/v2/scheduled-maintenances/active.json",
            d.active_json(),
        ),
    ]
}

/// Every surface as (path, content type, body): what the snapshot serves and what
/// `herald status export` writes.
pub fn surfaces(
    board: &Board,
    now: Timestamp,
    stale_since: Option<Timestamp>,
) -> Vec<(String, &'static str, String)> {
    let pages = page::Pages::new(board, now, stale_since);
    let mut out = vec![
        ("/".to_string(), HTML, pages.home()),
        ("/history".to_string(), HTML, pages.history()),
        (
            "/history.atom".to_string(),
            "application/atom+xml; charset=utf-8",
            feeds::atom(board),
        ),
        (
            "/history.rss".to_string(),
            "application/rss+xml; charset=utf-8",
            feeds::rss(board),
        ),
        (
            "/badge.svg".to_string(),
            "image/svg+xml",
            feeds::badge(board),
        ),
    ];
    for i in &board.incidents {
        if let Some(html) = pages.incident(&i.id) {
            out.push((format!("/incidents/{}", i.id), HTML, html));
        }
    }
    for (path, body) in v2_documents(board) {
        out.push((path.to_string(), JSON, body));
    }
    out.push((
        "/api/v1/advisory".to_string(),
        JSON,
        advisory::json(board, now),
    ));
    out.push((
        "/advisory.js".to_string(),
        "text/javascript; charset=utf-8",
        advisory::SCRIPT.to_string(),
    ));
    out
}

impl Snapshot {
    pub fn build(board: &Board, now: Timestamp, stale_since: Option<Timestamp>) -> Self {
        let assets = surfaces(board, now, stale_since)
            .into_iter()
            .map(|(path, ct, body)| (path, Asset::new(ct, body)))
            .collect();
        Self {
            assets,
            missing_incident: Some(Asset::new(HTML, page::not_found(board))),
            read_at: Some(board.read_at),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

/// The best encoding the client accepts (q=0 refuses one).
fn negotiate(headers: &HeaderMap) -> Encoding {
    let Some(accept) = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return Encoding::Identity;
    };
    let accepts = |name: &str| {
        accept.split(',').any(|part| {
            let mut it = part.split(';');
            let coding = it.next().unwrap_or("").trim();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (coding.eq_ignore_ascii_case(name) || coding == "*") && q > 0.0
        })
    };
    if accepts("br") {
        Encoding::Brotli
    } else if accepts("gzip") {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// `Cache-Control` for public surfaces: shared caches and browsers may keep a copy for 10 s,
/// serve it stale for a minute while refreshing, and for a day if herald cannot answer.
pub const CACHE_CONTROL: &str =
    "public, max-age=10, stale-while-revalidate=60, stale-if-error=86400";

/// Answers `asset` for a request: the best encoding, 304 when the client's copy is current.
pub fn respond(asset: &Asset, status: StatusCode, headers: &HeaderMap, head: bool) -> Response {
    let enc = negotiate(headers);
    let (body, suffix, ce) = match enc {
        Encoding::Brotli => (&asset.brotli, "-br", Some("br")),
        Encoding::Gzip => (&asset.gzip, "-gz", Some("gzip")),
        Encoding::Identity => (&asset.plain, "", None),
    };
    let etag = format!("\"{}{}\"", asset.digest, suffix);
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag || t.trim_matches('"') == asset.digest);
    let mut resp = if matches && status == StatusCode::OK {
        StatusCode::NOT_MODIFIED.into_response()
    } else if head {
        let mut r = status.into_response();
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        r
    } else {
        (status, Body::from(body.clone())).into_response()
    };
    let full = resp.status() != StatusCode::NOT_MODIFIED;
    let h = resp.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    if full {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        if let Some(ce) = ce {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(ce));
        }
    }
    // The JSON documents are read by storefront widgets on other sites.
    if asset.content_type == JSON {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    if asset.content_type == HTML {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            ),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset() -> Asset {
        Asset::new(JSON, "{\"status\":\"ok\"}".repeat(50))
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_best_accepted_encoding_is_served_and_refusals_are_honoured() {
        let a = asset();
        let r = respond(
            &a,
            StatusCode::OK,
            &headers(&[(header::ACCEPT_ENCODING, "gzip, br")]),
            false,
        );
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "br");
        let r = respond(
            &a,
            StatusCode::OK,
            &headers(&[(header::ACCEPT_ENCODING, "gzip, br;q=0")]),
            false,
        );
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        let r = respond(&a, StatusCode::OK, &HeaderMap::new(), false);
        assert!(r.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(a.brotli.len() < a.plain.len() && a.gzip.len() < a.plain.len());
    }

    #[test]
    fn a_current_copy_gets_304_whatever_encoding_it_was_fetched_in() {
        let a = asset();
        let r = respond(
            &a,
            StatusCode::OK,
            &headers(&[(header::ACCEPT_ENCODING, "gzip")]),
            false,
        );
        let tag = r.headers()[header::ETAG].to_str().unwrap().to_string();
        let again = respond(
            &a,
            StatusCode::OK,
            &headers(&[
                (header::ACCEPT_ENCODING, "gzip"),
                (header::IF_NONE_MATCH, &tag),
            ]),
            false,
        );
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let other = respond(
            &a,
            StatusCode::OK,
            &headers(&[(header::IF_NONE_MATCH, "\"0000\"")]),
            false,
        );
        assert_eq!(other.status(), StatusCode::OK);
    }
}
