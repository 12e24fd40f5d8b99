//! What avatard adds to `/avatar/...` beyond Rocket.Chat: strong `ETag`s that are `users.info`'s
//! `avatarETag`, `If-None-Match`, versioned `?etag=` URLs (immutable while current, redirected once
//! stale), immediate invalidation on every change, renditions, byte ranges, SVG-only compression,
//! `HEAD`, and every form of credentials that passes the unauthenticated-access block.

use std::collections::BTreeSet;

use crate::common::{Server, Session, decode, jpeg, png, png_with_alpha};
use image::GenericImageView as _;
use reqwest::header::HeaderMap;
use serde_json::json;

const INITIALS_DATE: &str = "Thu, 01 Jan 2015 00:00:00 GMT";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const DEFAULT_CACHE: &str = "public, max-age=3600";

/// A response read in full.
struct Got {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Got {
    /// A header that must be there, as text.
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .expect("ASCII header")
    }

    fn optional(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ASCII"))
    }

    fn names(&self) -> BTreeSet<String> {
        self.headers.keys().map(|name| name.to_string()).collect()
    }

    /// Every header but `Date` (the only one that may differ between two identical answers).
    fn timeless(&self) -> Vec<(String, String)> {
        let mut all: Vec<_> = self
            .headers
            .iter()
            .filter(|(name, _)| name.as_str() != "date")
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        all.sort();
        all
    }
}

async fn read(response: reqwest::Response) -> Got {
    Got {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("body").to_vec(),
    }
}

async fn get(server: &Server, path: &str) -> Got {
    read(server.avatar(path).await).await
}

async fn get_with(server: &Server, path: &str, headers: &[(&str, &str)]) -> Got {
    read(server.avatar_with(path, headers).await).await
}

/// Follow a `Location` (absolute, from the server's public URL).
async fn follow(server: &Server, location: &str) -> Got {
    let response = server.http.get(location).send().await.expect("follow");
    read(response).await
}

/// `user.avatarETag` as `users.info` reports it (asked as the admin).
async fn avatar_etag(server: &Server, username: &str) -> Option<String> {
    let (status, info) = server
        .get(
            Some(&server.admin),
            &format!("/api/v1/users.info?username={username}"),
        )
        .await;
    assert_eq!(status, 200, "users.info {username}: {info}");
    info["user"]["avatarETag"].as_str().map(str::to_owned)
}

/// Upload `bytes` as `user`'s avatar and return the new `avatarETag`.
async fn set_avatar(server: &Server, user: &Session, bytes: Vec<u8>, mime: &str) -> String {
    let (status, body) = server.upload(user, bytes, mime).await;
    assert_eq!(status, 200, "upload: {body}");
    avatar_etag(server, &user.username)
        .await
        .expect("avatarETag after an upload")
}

async fn reset(server: &Server, user: &Session) {
    let (status, body) = server
        .post(
            Some(&server.admin),
            "/api/v1/users.resetAvatar",
            json!({"userId": user.user_id}),
        )
        .await;
    assert_eq!(status, 200, "resetAvatar: {body}");
    assert_eq!(avatar_etag(server, &user.username).await, None);
}

fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// The path and the query pairs (sorted) of a `Location`, which must point at this server.
fn location_parts(server: &Server, location: &str) -> (String, BTreeSet<(String, String)>) {
    assert!(
        location.starts_with(&format!("{}/", server.base)),
        "Location {location} is not on {}",
        server.base
    );
    let url = url::Url::parse(location).expect("absolute Location");
    let pairs = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (url.path().to_owned(), pairs)
}

fn pairs(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn stored_avatars_carry_the_avatar_etag_and_every_serving_header() {
    let server = Server::start().await;
    let user = server.create_user("tagged").await;
    let etag = set_avatar(&server, &user, png(300, 300), "image/png").await;

    for path in [
        "/avatar/tagged".to_owned(),
        format!("/avatar/uid/{}", user.user_id),
    ] {
        let got = get(&server, &path).await;
        assert_eq!(got.status, 200, "{path}");
        assert_eq!(got.header("etag"), quoted(&etag), "{path}");
        assert_eq!(got.header("content-type"), "image/png");
        assert_eq!(got.header("accept-ranges"), "bytes");
        assert_eq!(got.header("content-security-policy"), "default-src 'none'");
        assert_eq!(got.header("x-content-type-options"), "nosniff");
        assert_eq!(got.header("content-disposition"), "inline");
        assert_eq!(got.header("cache-control"), DEFAULT_CACHE);
        assert_eq!(got.header("content-length"), got.body.len().to_string());
        let last_modified = got.header("last-modified");
        assert!(
            last_modified.ends_with(" GMT") && last_modified != INITIALS_DATE,
            "{last_modified}"
        );
        assert_eq!(decode(&got.body).dimensions(), (200, 200));
    }
}

#[tokio::test]
async fn if_none_match_revalidates_and_takes_precedence_over_if_modified_since() {
    let server = Server::start().await;
    let user = server.create_user("cond").await;
    let etag = set_avatar(&server, &user, png(200, 200), "image/png").await;
    let full = get(&server, "/avatar/cond").await;
    let last_modified = full.header("last-modified").to_owned();
    let tag = quoted(&etag);

    for candidates in [
        tag.clone(),
        format!("\"x\", {tag}"),
        format!("\"x\",{tag} , \"y\""),
        format!("W/{tag}"),
        "*".to_owned(),
    ] {
        let got = get_with(&server, "/avatar/cond", &[("If-None-Match", &candidates)]).await;
        assert_eq!(got.status, 304, "If-None-Match: {candidates}");
        assert_eq!(got.header("etag"), tag, "If-None-Match: {candidates}");
        assert_eq!(got.header("cache-control"), DEFAULT_CACHE);
        assert!(got.body.is_empty(), "If-None-Match: {candidates}");
    }

    // A list that names only other versions: the full body, whatever the date says.
    for candidates in [
        "\"x\"".to_owned(),
        format!("\"x\", \"{etag}-64\""),
        etag.clone(), // unquoted: not the same entity tag
    ] {
        let got = get_with(
            &server,
            "/avatar/cond",
            &[
                ("If-None-Match", &candidates),
                ("If-Modified-Since", &last_modified),
            ],
        )
        .await;
        assert_eq!(got.status, 200, "If-None-Match: {candidates}");
        assert_eq!(got.body, full.body);
        assert_eq!(got.header("etag"), tag);
    }

    let got = get_with(
        &server,
        "/avatar/cond",
        &[("If-Modified-Since", &last_modified)],
    )
    .await;
    assert_eq!(got.status, 304);
    assert_eq!(got.header("etag"), tag);
    assert!(got.body.is_empty());
}

#[tokio::test]
async fn a_url_naming_the_current_version_is_immutable() {
    let server = Server::start().await;
    let user = server.create_user("versioned").await;
    let etag = set_avatar(&server, &user, png(200, 200), "image/png").await;
    let plain = get(&server, "/avatar/versioned").await;
    assert_eq!(plain.header("cache-control"), DEFAULT_CACHE);

    let got = get(&server, &format!("/avatar/versioned?etag={etag}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("cache-control"), IMMUTABLE);
    assert_eq!(got.header("etag"), quoted(&etag));
    assert_eq!(got.body, plain.body);

    // `cacheTime` does not shorten a versioned URL's lifetime.
    let got = get(
        &server,
        &format!("/avatar/versioned?cacheTime=60&etag={etag}"),
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("cache-control"), IMMUTABLE);

    let got = get(
        &server,
        &format!("/avatar/uid/{}?etag={etag}", user.user_id),
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("cache-control"), IMMUTABLE);
    assert_eq!(got.body, plain.body);

    // Revalidating a versioned URL keeps it immutable.
    let got = get_with(
        &server,
        &format!("/avatar/versioned?etag={etag}"),
        &[("If-None-Match", &quoted(&etag))],
    )
    .await;
    assert_eq!(got.status, 304);
    assert_eq!(got.header("cache-control"), IMMUTABLE);
}

#[tokio::test]
async fn a_stale_versioned_url_redirects_to_the_current_version_keeping_other_parameters() {
    let server = Server::start().await;
    let user = server.create_user("mover").await;
    let old = set_avatar(&server, &user, png(200, 200), "image/png").await;
    let new = set_avatar(&server, &user, png_with_alpha(200, 200), "image/png").await;
    assert_ne!(old, new, "a new upload must change avatarETag");
    let current = get(&server, "/avatar/mover").await;
    assert_eq!(current.header("etag"), quoted(&new));

    let got = get(&server, &format!("/avatar/mover?etag={old}")).await;
    assert_eq!(got.status, 302);
    assert_eq!(got.header("cache-control"), "no-cache");
    assert_eq!(
        got.header("location"),
        server.url(&format!("/avatar/mover?etag={new}"))
    );
    let followed = follow(&server, got.header("location")).await;
    assert_eq!(followed.status, 200);
    assert_eq!(followed.header("cache-control"), IMMUTABLE);
    assert_eq!(followed.header("etag"), quoted(&new));
    assert_eq!(followed.body, current.body);

    // Other parameters survive, in a stable order whatever order the client used.
    let sized = get(&server, &format!("/avatar/mover?size=64&etag={old}")).await;
    let swapped = get(&server, &format!("/avatar/mover?etag={old}&size=64")).await;
    assert_eq!((sized.status, swapped.status), (302, 302));
    assert_eq!(sized.header("cache-control"), "no-cache");
    assert_eq!(sized.header("location"), swapped.header("location"));
    let (path, query) = location_parts(&server, sized.header("location"));
    assert_eq!(path, "/avatar/mover");
    assert_eq!(query, pairs(&[("etag", &new), ("size", "64")]));
    let followed = follow(&server, sized.header("location")).await;
    assert_eq!(followed.status, 200);
    assert_eq!(followed.header("cache-control"), IMMUTABLE);
    assert_eq!(followed.header("etag"), quoted(&format!("{new}-64")));
    assert_eq!(decode(&followed.body).dimensions(), (64, 64));

    // The uid route redirects to itself.
    let got = get(&server, &format!("/avatar/uid/{}?etag={old}", user.user_id)).await;
    assert_eq!(got.status, 302);
    assert_eq!(
        got.header("location"),
        server.url(&format!("/avatar/uid/{}?etag={new}", user.user_id))
    );
    let followed = follow(&server, got.header("location")).await;
    assert_eq!(followed.status, 200);
    assert_eq!(followed.body, current.body);
}

#[tokio::test]
async fn after_a_reset_versioned_urls_redirect_to_the_unversioned_url() {
    let server = Server::start().await;
    let user = server.create_user("resetme").await;
    let old = set_avatar(&server, &user, png(200, 200), "image/png").await;
    reset(&server, &user).await;

    for requested in [old.as_str(), "anything"] {
        let got = get(&server, &format!("/avatar/resetme?etag={requested}")).await;
        assert_eq!(got.status, 302, "etag={requested}");
        assert_eq!(got.header("cache-control"), "no-cache");
        assert_eq!(got.header("location"), server.url("/avatar/resetme"));
        let followed = follow(&server, got.header("location")).await;
        assert_eq!(followed.status, 200);
        assert_eq!(followed.header("content-type"), "image/svg+xml");
        assert_eq!(followed.header("cache-control"), DEFAULT_CACHE);
    }
    let got = get(&server, &format!("/avatar/resetme?etag={old}&size=64")).await;
    assert_eq!(got.status, 302);
    assert_eq!(
        got.header("location"),
        server.url("/avatar/resetme?size=64")
    );
}

#[tokio::test]
async fn versioned_urls_of_unknown_users_and_users_without_avatars_redirect_alike() {
    let server = Server::start().await;
    server.create_user("ghost2").await;
    let unknown = get(&server, "/avatar/ghost1?etag=x").await;
    let known = get(&server, "/avatar/ghost2?etag=x").await;
    assert_eq!(unknown.status, 302);
    assert_eq!(known.status, unknown.status);
    assert_eq!(unknown.header("location"), server.url("/avatar/ghost1"));
    assert_eq!(known.header("location"), server.url("/avatar/ghost2"));
    assert_eq!(known.names(), unknown.names());
    for name in ["cache-control", "content-type", "last-modified"] {
        assert_eq!(known.optional(name), unknown.optional(name), "{name}");
    }
    assert_eq!(known.body, unknown.body);
}

#[tokio::test]
async fn unknown_users_and_users_without_an_avatar_are_indistinguishable() {
    let server = Server::start().await;
    server.create_user("ghost2").await;
    // ghost3 had an avatar once.
    let ghost3 = server.create_user("ghost3").await;
    set_avatar(&server, &ghost3, png(64, 64), "image/png").await;
    reset(&server, &ghost3).await;

    let unknown = get(&server, "/avatar/ghost1").await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.header("content-type"), "image/svg+xml");
    assert!(unknown.header("etag").starts_with("\"i-"));
    for name in ["ghost2", "ghost3"] {
        let known = get(&server, &format!("/avatar/{name}")).await;
        assert_eq!(known.status, unknown.status, "{name}");
        assert_eq!(known.names(), unknown.names(), "{name}");
        assert_eq!(known.timeless(), unknown.timeless(), "{name}");
        assert_eq!(known.body, unknown.body, "{name}");
        assert_eq!(known.header("etag"), unknown.header("etag"), "{name}");
    }
}

#[tokio::test]
async fn every_url_of_an_avatar_changes_at_once_on_upload_reset_and_delete() {
    let server = Server::start().await;
    let user = server.create_user("fresh").await;
    let uid_path = format!("/avatar/uid/{}", user.user_id);
    let paths = [
        "/avatar/fresh".to_owned(),
        "/avatar/fresh?size=64".to_owned(),
        "/avatar/fresh?size=100".to_owned(),
        uid_path.clone(),
        format!("{uid_path}?size=64"),
    ];
    let read_all = || async {
        let mut all = Vec::new();
        for path in &paths {
            // Twice: the second read is the one a cache would answer.
            get(&server, path).await;
            all.push(get(&server, path).await);
        }
        all
    };

    set_avatar(&server, &user, png(200, 200), "image/png").await;
    let before = read_all().await;
    let new = set_avatar(&server, &user, png_with_alpha(200, 200), "image/png").await;
    let after = read_all().await;
    for ((path, old), new_got) in paths.iter().zip(&before).zip(&after) {
        assert_eq!((old.status, new_got.status), (200, 200), "{path}");
        assert_ne!(old.body, new_got.body, "{path} still serves the old avatar");
        assert!(
            new_got.header("etag").starts_with(&format!("\"{new}")),
            "{path}: {}",
            new_got.header("etag")
        );
    }
    let master = get(&server, &format!("/avatar/fresh?etag={new}")).await;
    assert_eq!(master.status, 200);
    assert_eq!(after[0].body, master.body);
    assert_eq!(after[3].body, master.body);
    assert_eq!(decode(&after[1].body).dimensions(), (64, 64));
    assert_eq!(decode(&after[2].body).dimensions(), (100, 100));

    reset(&server, &user).await;
    for (path, got) in paths.iter().zip(read_all().await) {
        assert_eq!(got.status, 200, "{path}");
        assert_eq!(got.header("content-type"), "image/svg+xml", "{path}");
        assert!(String::from_utf8(got.body).unwrap().contains("\nF\n"));
    }

    set_avatar(&server, &user, jpeg(200, 200), "image/jpeg").await;
    for (path, got) in paths.iter().zip(read_all().await) {
        assert_eq!(got.header("content-type"), "image/jpeg", "{path}");
    }
    let (status, body) = server
        .post(
            Some(&server.admin),
            "/api/v1/users.delete",
            json!({"userId": user.user_id}),
        )
        .await;
    assert_eq!(status, 200, "users.delete: {body}");
    for path in &paths[..3] {
        let got = get(&server, path).await;
        assert_eq!(got.status, 200, "{path}");
        assert_eq!(got.header("content-type"), "image/svg+xml", "{path}");
    }
    for path in &paths[3..] {
        assert_eq!(get(&server, path).await.status, 404, "{path}");
    }
}

#[tokio::test]
async fn renditions_are_smaller_copies_with_their_own_etag() {
    let server = Server::start().await;
    let user = server.create_user("sizes").await;
    let etag = set_avatar(&server, &user, png(300, 300), "image/png").await;
    let master = get(&server, "/avatar/sizes").await;
    assert_eq!(decode(&master.body).dimensions(), (200, 200));

    let small = get(&server, "/avatar/sizes?size=64").await;
    assert_eq!(small.status, 200);
    assert_eq!(small.header("etag"), quoted(&format!("{etag}-64")));
    assert_eq!(small.header("content-type"), "image/png");
    assert_eq!(
        small.header("last-modified"),
        master.header("last-modified")
    );
    assert_eq!(decode(&small.body).dimensions(), (64, 64));
    // A rendition revalidates under its own tag, not the master's.
    let got = get_with(
        &server,
        "/avatar/sizes?size=64",
        &[("If-None-Match", &quoted(&etag))],
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, small.body);

    // Never larger than what is stored, and a size that does not parse is no size.
    for path in [
        "/avatar/sizes?size=500",
        "/avatar/sizes?size=200",
        "/avatar/sizes?size=abc",
    ] {
        let got = get(&server, path).await;
        assert_eq!(got.status, 200, "{path}");
        assert_eq!(got.header("etag"), quoted(&etag), "{path}");
        assert_eq!(got.body, master.body, "{path}");
    }

    let photo = server.create_user("photo").await;
    let etag = set_avatar(&server, &photo, jpeg(200, 200), "image/jpeg").await;
    let small = get(&server, "/avatar/photo?size=32").await;
    assert_eq!(small.header("content-type"), "image/jpeg");
    assert_eq!(small.header("etag"), quoted(&format!("{etag}-32")));
    assert_eq!(decode(&small.body).dimensions(), (32, 32));
}

#[tokio::test]
async fn byte_ranges_of_a_stored_avatar() {
    let server = Server::start().await;
    let user = server.create_user("ranged").await;
    let etag = set_avatar(&server, &user, png(200, 200), "image/png").await;
    let full = get(&server, "/avatar/ranged").await;
    let len = full.body.len();
    assert!(len > 10);

    let got = get_with(&server, "/avatar/ranged", &[("Range", "bytes=0-9")]).await;
    assert_eq!(got.status, 206);
    assert_eq!(got.header("content-range"), format!("bytes 0-9/{len}"));
    assert_eq!(got.header("content-length"), "10");
    assert_eq!(got.header("etag"), quoted(&etag));
    // A part of the image is still described as the image.
    assert_eq!(got.header("content-type"), "image/png");
    assert_eq!(got.header("x-content-type-options"), "nosniff");
    assert_eq!(got.body, full.body[..10]);

    let got = get_with(&server, "/avatar/ranged", &[("Range", "bytes=-5")]).await;
    assert_eq!(got.status, 206);
    assert_eq!(
        got.header("content-range"),
        format!("bytes {}-{}/{len}", len - 5, len - 1)
    );
    assert_eq!(got.body, full.body[len - 5..]);

    let got = get_with(
        &server,
        "/avatar/ranged",
        &[("Range", &format!("bytes={len}-"))],
    )
    .await;
    assert_eq!(got.status, 416);
    assert_eq!(got.header("content-range"), format!("bytes */{len}"));
    assert_ne!(got.header("content-type"), "application/octet-stream");

    // If-Range: the current tag gets the range, a stale one the whole image.
    let got = get_with(
        &server,
        "/avatar/ranged",
        &[("Range", "bytes=0-9"), ("If-Range", &quoted(&etag))],
    )
    .await;
    assert_eq!(got.status, 206);
    assert_eq!(got.body, full.body[..10]);
    let got = get_with(
        &server,
        "/avatar/ranged",
        &[("Range", "bytes=0-9"), ("If-Range", "\"stale\"")],
    )
    .await;
    assert_eq!(got.status, 200);
    assert!(got.optional("content-range").is_none());
    assert_eq!(got.body, full.body);

    let got = get_with(&server, "/avatar/ranged", &[("Range", "bytes=abc")]).await;
    assert_eq!(got.status, 200);
    assert!(got.optional("content-range").is_none());
    assert_eq!(got.body, full.body);
}

#[tokio::test]
async fn initials_are_gzipped_on_request_but_stored_images_never() {
    let server = Server::start().await;
    let plain = get(&server, "/avatar/zipped").await;
    assert_eq!(plain.header("content-type"), "image/svg+xml");
    assert!(plain.optional("content-encoding").is_none());

    let gz = get_with(&server, "/avatar/zipped", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-type"), "image/svg+xml");
    assert_eq!(gz.header("content-encoding"), "gzip");
    assert!(
        gz.headers.get_all("vary").iter().any(|v| v
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("accept-encoding")),
        "{:?}",
        gz.headers
    );
    // The harness's client decompresses nothing, so these are the bytes on the wire: a gzip
    // member (magic, deflate) whose trailer names the plain SVG's CRC-32 and length.
    assert_ne!(gz.body, plain.body);
    let n = gz.body.len();
    assert!(
        n > 18 && gz.body[..3] == [0x1f, 0x8b, 0x08],
        "{:?}",
        gz.body
    );
    let crc = u32::from_le_bytes(gz.body[n - 8..n - 4].try_into().unwrap());
    let size = u32::from_le_bytes(gz.body[n - 4..].try_into().unwrap());
    assert_eq!(crc, crc32fast::hash(&plain.body));
    assert_eq!(size as usize, plain.body.len());
    // Other bytes, another strong tag; revalidating with it still works.
    let plain_tag = plain.header("etag").trim_end_matches('"');
    assert_eq!(gz.header("etag"), format!("{plain_tag}-gzip\""));
    let revalidated = get_with(
        &server,
        "/avatar/zipped",
        &[
            ("Accept-Encoding", "gzip"),
            ("If-None-Match", gz.header("etag")),
        ],
    )
    .await;
    assert_eq!(revalidated.status, 304);

    let user = server.create_user("pngzip").await;
    set_avatar(&server, &user, png(200, 200), "image/png").await;
    let plain = get(&server, "/avatar/pngzip").await;
    let got = get_with(&server, "/avatar/pngzip", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(got.status, 200);
    assert!(got.optional("content-encoding").is_none());
    assert_eq!(got.header("accept-ranges"), "bytes");
    assert_eq!(got.header("content-length"), plain.body.len().to_string());
    assert_eq!(got.body, plain.body);
}

#[tokio::test]
async fn head_answers_the_get_headers_without_a_body() {
    let server = Server::start().await;
    let user = server.create_user("header").await;
    let etag = set_avatar(&server, &user, png(200, 200), "image/png").await;
    let full = get(&server, "/avatar/header").await;
    let head = read(
        server
            .http
            .head(server.url("/avatar/header"))
            .send()
            .await
            .expect("HEAD"),
    )
    .await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("etag"), quoted(&etag));
    assert_eq!(head.header("content-type"), "image/png");
    assert_eq!(head.header("content-length"), full.body.len().to_string());
    assert_eq!(head.timeless(), full.timeless());
}

#[tokio::test]
async fn every_form_of_credentials_passes_the_unauthenticated_access_block() {
    let server = Server::start().await;
    let user = server.create_user("private").await;
    let etag = set_avatar(&server, &user, png(200, 200), "image/png").await;
    let real = get(&server, "/avatar/private").await;
    server
        .set_setting("Accounts_AvatarBlockUnauthenticatedAccess", json!(true))
        .await;

    let blocked = |got: &Got, how: &str| {
        assert_eq!(got.status, 200, "{how}");
        assert_eq!(got.header("content-type"), "image/svg+xml", "{how}");
        assert!(got.optional("etag").is_none(), "{how}");
        assert!(got.optional("cache-control").is_none(), "{how}");
        let svg = String::from_utf8(got.body.clone()).unwrap();
        assert!(svg.contains("\nP\n"), "{how}: {svg}");
    };
    let passed = |got: &Got, how: &str| {
        assert_eq!(got.status, 200, "{how}");
        assert_eq!(got.header("content-type"), "image/png", "{how}");
        assert_eq!(got.header("etag"), quoted(&etag), "{how}");
        assert_eq!(got.body, real.body, "{how}");
        // Only for this user: no shared cache may keep it.
        assert_eq!(
            got.header("cache-control"),
            "private, max-age=3600",
            "{how}"
        );
    };

    blocked(&get(&server, "/avatar/private").await, "no credentials");

    for (token, ok) in [(user.token.as_str(), true), ("wrong-token", false)] {
        let query = get(
            &server,
            &format!("/avatar/private?rc_uid={}&rc_token={token}", user.user_id),
        )
        .await;
        let cookie = format!("rc_uid={}; rc_token={token}", user.user_id);
        let cookies = get_with(&server, "/avatar/private", &[("Cookie", &cookie)]).await;
        let headers = get_with(
            &server,
            "/avatar/private",
            &[("X-User-Id", &user.user_id), ("X-Auth-Token", token)],
        )
        .await;
        for (got, how) in [(query, "query"), (cookies, "cookies"), (headers, "headers")] {
            if ok {
                passed(&got, how);
            } else {
                blocked(&got, &format!("{how} with a wrong token"));
            }
        }
    }
}

// A rendition is never larger than the stored file, whatever `Accounts_AvatarSize` says (uploads
// made with `Accounts_AvatarResize` off, or before the size setting was raised).
#[tokio::test]
async fn a_size_above_the_stored_file_gets_the_file_whatever_the_size_setting() {
    let server = Server::start().await;
    server
        .set_setting("Accounts_AvatarResize", json!(false))
        .await;
    let user = server.create_user("small").await;
    let etag = set_avatar(&server, &user, png(40, 40), "image/png").await;
    let master = get(&server, "/avatar/small").await;
    assert_eq!(decode(&master.body).dimensions(), (40, 40));
    let got = get(&server, "/avatar/small?size=100").await;
    assert_eq!(got.status, 200);
    assert_eq!(
        decode(&got.body).dimensions(),
        (40, 40),
        "a 40px avatar was upscaled for ?size=100"
    );
    assert_eq!(got.header("etag"), quoted(&etag));
    assert_eq!(got.body, master.body);

    // Stored at 100px; the setting raised to 400 afterwards.
    server
        .set_setting("Accounts_AvatarResize", json!(true))
        .await;
    server.set_setting("Accounts_AvatarSize", json!(100)).await;
    let user = server.create_user("raised").await;
    let etag = set_avatar(&server, &user, png(300, 300), "image/png").await;
    server.set_setting("Accounts_AvatarSize", json!(400)).await;
    let master = get(&server, "/avatar/raised").await;
    assert_eq!(decode(&master.body).dimensions(), (100, 100));
    let got = get(&server, "/avatar/raised?size=300").await;
    assert_eq!(
        decode(&got.body).dimensions(),
        (100, 100),
        "a 100px avatar was upscaled for ?size=300"
    );
    assert_eq!(got.header("etag"), quoted(&etag));
}
