//! `GET`/`HEAD /avatar/<username>` and `/avatar/uid/<userId>` (R6): the stored avatar, a rendition
//! of it, or the initials image, with Rocket.Chat's caching headers plus what Rocket.Chat lacks:
//! strong `ETag`s, `If-None-Match`, versioned `?etag=` URLs that are immutable while current and
//! redirect once stale, byte ranges, and compressed SVG.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::convert::Infallible;

use avatard_domain::Error;
use avatard_domain::avatars::{
    self, AvatarView, INITIALS_LAST_MODIFIED, Proxied, Representation, Variant,
};
use avatard_imaging::initials;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use range_requests::headers::range::HttpRange;
use tower::{Layer as _, ServiceExt as _};
use tower_http::compression::CompressionLayer;

use crate::AppState;

/// The query parameters `/avatar/...` reads, borrowed from the request where no decoding is needed.
/// As with Rocket.Chat's parser, the last of repeated parameters wins.
#[derive(Default)]
struct Params<'a> {
    raw: &'a str,
    size: Option<Cow<'a, str>>,
    format: Option<Cow<'a, str>>,
    etag: Option<Cow<'a, str>>,
    cache_time: Option<Cow<'a, str>>,
    rc_uid: Option<Cow<'a, str>>,
    rc_token: Option<Cow<'a, str>>,
}

impl<'a> Params<'a> {
    fn parse(raw: &'a str) -> Params<'a> {
        let mut params = Params {
            raw,
            ..Params::default()
        };
        for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
            let slot = match name.as_ref() {
                "size" => &mut params.size,
                "format" => &mut params.format,
                "etag" => &mut params.etag,
                "cacheTime" => &mut params.cache_time,
                "rc_uid" => &mut params.rc_uid,
                "rc_token" => &mut params.rc_token,
                _ => continue,
            };
            *slot = Some(value);
        }
        params
    }

    /// `?etag=`, when given and not empty.
    fn version(&self) -> Option<&str> {
        self.etag.as_deref().filter(|v| !v.is_empty())
    }
}

/// How responses may be kept: by whom, and for how long unless the URL says otherwise.
#[derive(Clone, Copy)]
struct Caching {
    audience: Audience,
    /// `Accounts_AvatarCacheTime`.
    max_age: i64,
}

/// `Cache-Control` of a URL naming the current version: cached for a year, never revalidated.
fn immutable(audience: Audience) -> HeaderValue {
    HeaderValue::from_static(match audience {
        Audience::Public => "public, max-age=31536000, immutable",
        Audience::Private => "private, max-age=31536000, immutable",
    })
}

/// Who may keep a response: `public`, as Rocket.Chat sends; `private` while avatars are only for
/// logged-in users, so that a shared cache does not hand one to anybody.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Audience {
    Public,
    Private,
}

impl Audience {
    fn as_str(self) -> &'static str {
        match self {
            Audience::Public => "public",
            Audience::Private => "private",
        }
    }
}

/// The content codings the compression middleware may apply, as they are marked in entity tags.
const CODINGS: [&str; 2] = ["gzip", "br"];

/// `/avatar/...`: the hot path, thousands of reads for every write. It is answered before the
/// router ([`crate::app`]) so that it pays for neither route matching, extractors and boxed
/// layers nor the API's request spans.
pub async fn serve(state: AppState, request: Request) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, HeaderValue::from_static("GET,HEAD"))],
        )
            .into_response();
    }
    // Only SVG compresses (tower-http leaves other images alone). Without `Accept-Encoding` the
    // middleware would only wrap the body to send it as it is.
    if !request.headers().contains_key(header::ACCEPT_ENCODING) {
        return avatar(state, request).await;
    }
    // Boxed: its state would otherwise make every request's future larger.
    Box::pin(compressed(state, request)).await
}

/// [`avatar`] behind the compression middleware.
async fn compressed(state: AppState, request: Request) -> Response {
    let handler = tower::service_fn(move |request| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(avatar(state, request).await) }
    });
    let response = CompressionLayer::new()
        .layer(handler)
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    mark_coding(response.map(Body::new))
}

/// Every `/avatar/...` read, dispatched the way Rocket.Chat mounts its handlers (R6.1).
async fn avatar(state: AppState, request: Request) -> Response {
    // Read from the request itself: the extractors would copy the headers and the query.
    let (uri, headers) = (request.uri(), request.headers());
    let Some(rest) = uri.path().strip_prefix("/avatar/").and_then(|rest| {
        percent_encoding::percent_decode_str(rest)
            .decode_utf8()
            .ok()
    }) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let params = Params::parse(uri.query().unwrap_or_default());
    let serving = state.domain.settings.avatar_serving();
    let blocking = serving.block_unauthenticated;
    if blocking && !authenticated(&state, &params, headers).await {
        return blocked(uri.path_and_query().map_or("", |pq| pq.as_str()));
    }
    let caching = Caching {
        audience: if blocking {
            Audience::Private
        } else {
            Audience::Public
        },
        max_age: serving.cache_time,
    };
    let variant = Variant {
        size: params.size.as_deref(),
        format: params.format.as_deref(),
        version: params.version(),
        accept: headers
            .get(header::ACCEPT)
            .and_then(|accept| accept.to_str().ok()),
    };
    match view_of(&state, &rest, variant).await {
        Ok(Some(view)) => respond(&state, &rest, view, &params, caching, headers),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(Error::Unavailable(detail)) => {
            tracing::warn!(%detail, "avatar request while storage is unavailable");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Err(other) => {
            tracing::error!(err = %other, "avatar request failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// What the path names: `uid/<id>` (R6.5) or a username (R6.4). `None` is a 404: an empty name, or a
/// room (avatard has no rooms, so every room is unknown, R6.9).
async fn view_of(
    state: &AppState,
    rest: &str,
    variant: Variant<'_>,
) -> Result<Option<AvatarView>, Error> {
    let avatars = &state.domain.avatars;
    match rest.strip_prefix("uid/") {
        Some("") => Ok(None),
        Some(id) => avatars.for_user_id(id, variant).await.map(Some),
        None if rest.is_empty() || rest.starts_with("room/") => Ok(None),
        None => avatars.for_username(rest, variant).await.map(Some),
    }
}

fn respond(
    state: &AppState,
    rest: &str,
    view: AvatarView,
    params: &Params<'_>,
    caching: Caching,
    headers: &HeaderMap,
) -> Response {
    let (image, revalidate, version, negotiated) = match &view {
        AvatarView::NotFound => return unknown_user_id(headers),
        AvatarView::ProviderFailed => return StatusCode::BAD_GATEWAY.into_response(),
        AvatarView::Proxied(proxied) => return proxied_response(params, caching, proxied),
        AvatarView::Stored { image, negotiated } => {
            (image, true, image.version.as_deref(), *negotiated)
        }
        AvatarView::Initials { image, revalidate } => (image, *revalidate, None, false),
    };
    let requested_version = params.version();
    if let Some(requested) = requested_version
        && version != Some(requested)
    {
        return redirect_to_current(state, rest, params, version);
    }
    let cache_control = if requested_version.is_some() {
        immutable(caching.audience)
    } else {
        cache_time(params, caching)
    };
    let prepared = prepared(image);
    let mut response = if not_modified(image, revalidate, headers) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        let h = response.headers_mut();
        h.insert(header::CONTENT_DISPOSITION, INLINE);
        h.insert(header::ETAG, prepared.etag.clone());
        h.insert(header::LAST_MODIFIED, prepared.last_modified.clone());
        response
    } else {
        body_response(image, &prepared, headers)
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, cache_control);
    if negotiated {
        h.insert(header::VARY, ACCEPT);
    } else {
        h.remove(header::VARY);
    }
    response
}

const INLINE: HeaderValue = HeaderValue::from_static("inline");
const ACCEPT: HeaderValue = HeaderValue::from_static("Accept");

/// The headers of one representation that are the same on every response, made on its first
/// response and kept with it ([`Representation::presentation`]).
#[derive(Clone)]
struct Prepared {
    /// Every header a 200 for it can carry; `Cache-Control` and `Vary` hold placeholders the
    /// request's values overwrite (or remove), so that filling them in never grows the map. A
    /// clone of this map costs about two thirds of building one, and copies no validator.
    full: HeaderMap,
    etag: HeaderValue,
    last_modified: HeaderValue,
}

impl Prepared {
    fn of(image: &Representation) -> Prepared {
        let etag = header_value(&image.etag);
        let last_modified = header_value(&image.last_modified);
        let mut full = HeaderMap::with_capacity(10);
        full.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(image.content_type),
        );
        full.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        protect(&mut full);
        full.insert(header::CONTENT_DISPOSITION, INLINE);
        full.insert(header::ETAG, etag.clone());
        full.insert(header::LAST_MODIFIED, last_modified.clone());
        full.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        // Last: removing the last entry moves no other.
        full.insert(header::VARY, ACCEPT);
        Prepared {
            full,
            etag,
            last_modified,
        }
    }
}

fn prepared(image: &Representation) -> Cow<'_, Prepared> {
    image
        .presentation
        .get_or_init(|| Prepared::of(image))
        .map_or_else(|| Cow::Owned(Prepared::of(image)), Cow::Borrowed)
}

/// The external provider's answer (R6.7): the common headers, overridden by the provider's, then
/// our own protections, which the provider cannot relax.
fn proxied_response(params: &Params<'_>, caching: Caching, proxied: &Proxied) -> Response {
    let mut response = proxied.body.clone().into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, cache_time(params, caching));
    h.insert(header::CONTENT_DISPOSITION, INLINE);
    for (name, value) in &proxied.headers {
        h.insert(name, value.clone());
    }
    protect(h);
    response
}

/// Avatars can be SVG, and a provider's answer anything: never let a browser run or sniff them as
/// a page.
fn protect(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// `/avatar/uid/<id>` of nobody: 404, but the constant-date check comes first (R6.5).
fn unknown_user_id(headers: &HeaderMap) -> Response {
    let revalidated = headers
        .get(header::IF_MODIFIED_SINCE)
        .is_some_and(|since| since == INITIALS_LAST_MODIFIED);
    if revalidated {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// RFC 9110 §13.1: `If-None-Match` (weak comparison) decides when present; otherwise Rocket.Chat's
/// exact-string `If-Modified-Since` rules: the upload date for a stored file (R6.6), the constant
/// date for initials (R6.4 step 6), never for `@name` requests.
fn not_modified(image: &Representation, revalidate: bool, headers: &HeaderMap) -> bool {
    if let Some(candidates) = headers.get(header::IF_NONE_MATCH) {
        return candidates.to_str().is_ok_and(|list| {
            list.split(',').map(str::trim).any(|tag| {
                tag == "*" || without_coding(tag.strip_prefix("W/").unwrap_or(tag)) == image.etag
            })
        });
    }
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok());
    revalidate && since == Some(image.last_modified.as_str())
}

/// An entity tag as [`mark_coding`] sent it, back to the tag of the uncompressed bytes.
fn without_coding(tag: &str) -> String {
    CODINGS
        .iter()
        .find_map(|coding| tag.strip_suffix(&format!("-{coding}\"")))
        .map_or_else(|| tag.to_owned(), |base| format!("{base}\""))
}

/// After the compression middleware: a compressed body is another representation, so it gets its
/// own strong tag (`"<tag>-gzip"`); [`not_modified`] maps it back.
fn mark_coding(mut response: Response) -> Response {
    let coding = response
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .filter(|coding| CODINGS.contains(coding))
        .map(str::to_owned);
    if let Some(coding) = coding
        && let Some(tag) = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .and_then(|tag| tag.strip_suffix('"'))
            .map(|base| format!("{base}-{coding}\""))
    {
        response
            .headers_mut()
            .insert(header::ETAG, header_value(&tag));
    }
    response
}

/// The image, or the one byte range asked for (an unparseable or multi-range `Range` is ignored,
/// as RFC 9110 allows; a stale `If-Range` gets the whole image).
fn body_response(image: &Representation, prepared: &Prepared, headers: &HeaderMap) -> Response {
    let range = headers
        .get(header::RANGE)
        .filter(|_| {
            headers
                .get(header::IF_RANGE)
                .is_none_or(|validator| validator.as_bytes() == image.etag.as_bytes())
        })
        .and_then(|value| HttpRange::try_from(value).ok());
    let Some(range) = range else {
        let mut response = Response::new(Body::from(image.body.clone()));
        *response.headers_mut() = prepared.full.clone();
        return response;
    };
    // The ranged response's own headers describe an anonymous byte body (its content type is
    // `application/octet-stream`): only its `Content-Range` is kept.
    let mut response = ranged(image, range);
    let content_range = response.headers_mut().remove(header::CONTENT_RANGE);
    *response.headers_mut() = prepared.full.clone();
    if let Some(content_range) = content_range {
        response
            .headers_mut()
            .insert(header::CONTENT_RANGE, content_range);
    }
    response
}

/// The one byte range asked for: 206, or 416 when the image has no such bytes.
fn ranged(image: &Representation, range: HttpRange) -> Response {
    match range_requests::serve_file_with_http_range(image.body.clone(), Some(range)) {
        Ok(ranged) => {
            let content_range = ranged.header();
            let mut response = ranged.into_body().into_response();
            if let Some(content_range) = content_range {
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                response
                    .headers_mut()
                    .insert(header::CONTENT_RANGE, HeaderValue::from(&content_range));
            }
            response
        }
        Err(unsatisfiable) => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(
                header::CONTENT_RANGE,
                HeaderValue::from(&unsatisfiable.header()),
            )],
        )
            .into_response(),
    }
}

/// A versioned URL naming another version than the current one: 302 to the current version's URL
/// (or, when the user now shows initials, to the unversioned one), keeping the other parameters.
fn redirect_to_current(
    state: &AppState,
    rest: &str,
    params: &Params<'_>,
    current: Option<&str>,
) -> Response {
    let mut query = url_query(params.raw);
    if let Some(current) = current {
        query.append_pair("etag", current);
    }
    let query = query.finish();
    let path = format!("{}/avatar/{}", state.public_url, encode_path(rest));
    let location = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, header_value(&location)),
            // Where the current version is can change again at any time.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
    )
        .into_response()
}

/// The query without `etag`, its parameters sorted: a stable order gives caches one URL per
/// version, whatever order the client used.
fn url_query(raw: &str) -> form_urlencoded::Serializer<'static, String> {
    let mut sorted: Vec<_> = form_urlencoded::parse(raw.as_bytes())
        .filter(|(name, _)| name != "etag")
        .collect();
    sorted.sort();
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in sorted {
        query.append_pair(&name, &value);
    }
    query
}

/// Percent-encode a path remainder segment by segment, keeping its slashes (`uid/<id>`).
fn encode_path(rest: &str) -> String {
    rest.split('/')
        .map(avatars::encode_uri_component)
        .collect::<Vec<_>>()
        .join("/")
}

/// R6.2: `?cacheTime=` verbatim when given, else `Accounts_AvatarCacheTime`.
fn cache_time(params: &Params<'_>, caching: Caching) -> HeaderValue {
    params
        .cache_time
        .as_deref()
        .filter(|raw| !raw.is_empty())
        .and_then(|raw| {
            HeaderValue::from_str(&format!("{}, max-age={raw}", caching.audience.as_str())).ok()
        })
        .unwrap_or_else(|| max_age(caching.audience, caching.max_age))
}

/// `<audience>, max-age=<seconds>` for the configured cache time. Nearly every request sends the
/// same value, so each thread keeps the last one it made instead of formatting it again.
fn max_age(audience: Audience, seconds: i64) -> HeaderValue {
    thread_local! {
        static LAST: RefCell<Option<(Audience, i64, HeaderValue)>> = const { RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| match last {
        Some((a, s, value)) if *a == audience && *s == seconds => value.clone(),
        _ => {
            let value = header_value(&format!("{}, max-age={seconds}", audience.as_str()));
            *last = Some((audience, seconds, value.clone()));
            value
        }
    })
}

fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// R6.3, and more: `rc_uid` + `rc_token` from the query, else from cookies, else the API's
/// `X-User-Id` + `X-Auth-Token` headers (which Rocket.Chat ignores here, though its own mobile
/// clients send them).
async fn authenticated(state: &AppState, params: &Params<'_>, headers: &HeaderMap) -> bool {
    let cookies = cookies(headers);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (uid, token) = if let Some(uid) = params.rc_uid.as_deref() {
        (Some(uid), params.rc_token.as_deref())
    } else if let Some(uid) = cookies.get("rc_uid") {
        (
            Some(uid.as_str()),
            cookies.get("rc_token").map(String::as_str),
        )
    } else {
        (header("x-user-id"), header("x-auth-token"))
    };
    match (uid, token) {
        (Some(uid), Some(token)) => state.domain.accounts.authenticate(uid, token).await.is_ok(),
        _ => false,
    }
}

fn cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The answer to a blocked request: the initials of the raw first path segment (query included, not
/// decoded), 200 and no cache headers, so the response reveals nothing about the user.
fn blocked(path_and_query: &str) -> Response {
    let rest = path_and_query.strip_prefix("/avatar/").unwrap_or_default();
    let segment = rest.split('/').next().unwrap_or_default();
    let segment = if segment.is_empty() {
        "Anonymous"
    } else {
        segment
    };
    let svg = initials::svg(segment, initials::view_size(None), false);
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
}
