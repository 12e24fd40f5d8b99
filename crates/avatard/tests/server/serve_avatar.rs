//! `GET`/`HEAD /avatar/...` (R6.2–R6.6, R6.8): initials byte for byte, stored files, caching headers,
//! conditional requests, the uid route and the unauthenticated-access block.

use crate::common::{Server, decode, png};
use image::GenericImageView as _;
use serde_json::json;

const ARTHUR: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 200 200\">\n<rect width=\"100%\" height=\"100%\" fill=\"#158D65\"/>\n<text x=\"50%\" y=\"50%\" dy=\"0.36em\" text-anchor=\"middle\" pointer-events=\"none\" fill=\"#ffffff\" font-family=\"'Helvetica', 'Arial', 'Lucida Grande', 'sans-serif'\" font-size=\"125\">\nA\n</text>\n</svg>";
const INITIALS_DATE: &str = "Thu, 01 Jan 2015 00:00:00 GMT";

async fn text(server: &Server, path: &str) -> String {
    let response = server.avatar(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn the_cache_time_setting_applies_to_the_next_request() {
    let server = Server::start().await;
    let user = server.create_user("cached").await;
    assert_eq!(server.upload(&user, png(40, 40), "image/png").await.0, 200);
    server
        .set_setting("Accounts_AvatarCacheTime", json!(120))
        .await;
    for path in ["/avatar/cached", "/avatar/nobody", "/avatar/cached?size=20"] {
        let response = server.avatar(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["cache-control"],
            "public, max-age=120",
            "{path}"
        );
    }
    server
        .set_setting("Accounts_AvatarCacheTime", json!(0))
        .await;
    let response = server.avatar("/avatar/cached").await;
    assert_eq!(response.headers()["cache-control"], "public, max-age=0");
}

#[tokio::test]
async fn unknown_names_get_initials_byte_for_byte() {
    let server = Server::start().await;
    let response = server.avatar("/avatar/arthur").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/svg+xml");
    assert_eq!(headers["cache-control"], "public, max-age=3600");
    assert_eq!(headers["content-disposition"], "inline");
    assert_eq!(headers["last-modified"], INITIALS_DATE);
    assert_eq!(response.text().await.unwrap(), ARTHUR);

    // Colour by length (UTF-16 units) mod 6, size clamp, font size by count of initials.
    let svg = text(&server, "/avatar/bo?size=64").await;
    assert!(
        svg.contains("viewBox=\"0 0 64 64\"")
            && svg.contains("fill=\"#B68D00\"")
            && svg.contains("font-size=\"40\"")
    );
    assert!(
        text(&server, "/avatar/x?size=5000")
            .await
            .contains("viewBox=\"0 0 1024 1024\"")
    );
    assert!(
        text(&server, "/avatar/x?size=3")
            .await
            .contains("viewBox=\"0 0 16 16\"")
    );
    assert!(
        text(&server, "/avatar/%E5%B1%B1%E7%94%B0")
            .await
            .contains("\n山\n")
    );
    let question = text(&server, "/avatar/%3F").await;
    assert!(question.contains("fill=\"#000\"") && question.contains("\n?\n"));
}

#[tokio::test]
async fn initials_support_the_constant_date_304_but_not_for_at_names() {
    let server = Server::start().await;
    let conditional = |path: &str| {
        server
            .http
            .get(server.url(path))
            .header("If-Modified-Since", INITIALS_DATE)
            .send()
    };
    let response = conditional("/avatar/arthur").await.unwrap();
    assert_eq!(response.status(), 304);
    assert!(response.bytes().await.unwrap().is_empty());
    assert_eq!(conditional("/avatar/@arthur").await.unwrap().status(), 200);
}

#[tokio::test]
async fn at_names_force_initials_and_the_name_setting_uses_display_names() {
    let server = Server::start().await;
    let user = server.create_user("alice").await;
    assert_eq!(server.upload(&user, png(40, 40), "image/png").await.0, 200);
    assert!(text(&server, "/avatar/@alice").await.contains("\nA\n"));
    // The stored file is found by exact name only.
    assert!(text(&server, "/avatar/ALICE").await.starts_with("<svg"));

    server.create_user("bob").await; // display name "bob Name"
    server.set_setting("UI_Use_Name_Avatar", json!(true)).await;
    assert!(text(&server, "/avatar/bob").await.contains("\nBN\n"));
    assert!(
        text(&server, "/avatar/@bob%20marley%20x%20y")
            .await
            .contains("\nBMX\n")
    );
}

#[tokio::test]
async fn initials_rasterise_to_png_and_jpeg() {
    let server = Server::start().await;
    for (format, content_type) in [
        ("png", "image/png"),
        ("jpg", "image/jpg"),
        ("jpeg", "image/jpeg"),
    ] {
        let response = server
            .avatar(&format!("/avatar/zaphod?format={format}&size=48"))
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], content_type);
        let image = decode(&response.bytes().await.unwrap());
        assert_eq!(image.dimensions(), (48, 48), "{format}");
    }
    assert_eq!(
        server.avatar("/avatar/zaphod?format=PNG").await.headers()["content-type"],
        "image/svg+xml"
    );
}

#[tokio::test]
async fn stored_avatars_carry_safe_headers_and_revalidate() {
    let server = Server::start().await;
    let user = server.create_user("stored").await;
    assert_eq!(server.upload(&user, png(40, 40), "image/png").await.0, 200);
    let response = server.avatar("/avatar/stored?cacheTime=60").await;
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["content-security-policy"], "default-src 'none'");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "public, max-age=60");
    assert_eq!(headers["content-disposition"], "inline");
    assert_eq!(headers["content-length"], body.len().to_string().as_str());
    let last_modified = headers["last-modified"].to_str().unwrap().to_owned();
    assert!(last_modified.ends_with(" GMT") && last_modified != INITIALS_DATE);

    let response = server
        .http
        .get(server.url("/avatar/stored"))
        .header("If-Modified-Since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
    assert_eq!(response.headers()["last-modified"], last_modified.as_str());
    // The constant initials date does not revalidate a stored file.
    let response = server
        .http
        .get(server.url("/avatar/stored"))
        .header("If-Modified-Since", INITIALS_DATE)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let head = server
        .http
        .head(server.url("/avatar/stored"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "image/png");
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_uid_route() {
    let server = Server::start().await;
    let user = server.create_user("uid-user").await;
    assert!(
        text(&server, &format!("/avatar/uid/{}", user.user_id))
            .await
            .contains("\nU\n")
    );
    assert_eq!(server.upload(&user, png(40, 40), "image/png").await.0, 200);
    let response = server
        .avatar(&format!("/avatar/uid/{}", user.user_id))
        .await;
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(server.avatar("/avatar/uid/unknown-id").await.status(), 404);
    assert_eq!(server.avatar("/avatar/uid/").await.status(), 404);
    assert_eq!(server.avatar("/avatar/").await.status(), 404);
    assert_eq!(server.avatar("/avatar/room/GENERAL").await.status(), 404);
    let response = server
        .http
        .get(server.url("/avatar/uid/unknown-id"))
        .header("If-Modified-Since", INITIALS_DATE)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
}

#[tokio::test]
async fn unauthenticated_access_can_be_blocked() {
    let server = Server::start().await;
    let user = server.create_user("private").await;
    assert_eq!(server.upload(&user, png(40, 40), "image/png").await.0, 200);
    server
        .set_setting("Accounts_AvatarBlockUnauthenticatedAccess", json!(true))
        .await;

    let response = server.avatar("/avatar/private").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    assert!(response.headers().get("cache-control").is_none());
    assert!(response.text().await.unwrap().contains("\nP\n"));

    let with_query = server
        .avatar(&format!(
            "/avatar/private?rc_uid={}&rc_token={}",
            user.user_id, user.token
        ))
        .await;
    assert_eq!(with_query.headers()["content-type"], "image/png");
    let with_cookies = server
        .http
        .get(server.url("/avatar/private"))
        .header(
            "Cookie",
            format!("rc_uid={}; rc_token={}", user.user_id, user.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(with_cookies.headers()["content-type"], "image/png");
    let wrong = server
        .avatar(&format!(
            "/avatar/private?rc_uid={}&rc_token=nope",
            user.user_id
        ))
        .await;
    assert_eq!(wrong.headers()["content-type"], "image/svg+xml");
}

#[tokio::test]
async fn a_name_seen_as_unknown_shows_its_new_user_soon_and_their_avatar_at_once() {
    let server = Server::start().await;
    server.set_setting("UI_Use_Name_Avatar", json!(true)).await;
    assert!(text(&server, "/avatar/newbie").await.contains("\nN\n"));
    assert!(text(&server, "/avatar/latecomer").await.contains("\nL\n"));
    // "Nobody is called newbie" is remembered for a few seconds, then their display name shows.
    server.create_user("newbie").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    while !text(&server, "/avatar/newbie").await.contains("\nNN\n") {
        assert!(
            std::time::Instant::now() < deadline,
            "the new user's name never showed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    // An avatar change is an event: it shows at once, whatever was remembered about the name.
    let latecomer = server.create_user("latecomer").await;
    assert_eq!(
        server.upload(&latecomer, png(40, 40), "image/png").await.0,
        200
    );
    assert_eq!(server.avatar_bytes("latecomer").await.0, "image/png");
}

/// Rocket.Chat's initials SVG holds the initial unescaped, so some names make no well-formed XML;
/// their PNG and JPEG renditions are still images, never a 500.
#[tokio::test]
async fn initials_of_any_name_render_to_png_and_jpeg() {
    let server = Server::start().await;
    for name in ["@%3Cb%3E", "@%26x", "@%01x", "%3Cscript%3E", "@%EF%BF%BF"] {
        for format in ["png", "jpg"] {
            let response = server
                .avatar(&format!("/avatar/{name}?format={format}"))
                .await;
            assert_eq!(response.status(), 200, "{name} as {format}");
            let bytes = response.bytes().await.unwrap();
            assert!(
                image::load_from_memory(&bytes).is_ok(),
                "{name} as {format}"
            );
        }
    }
}
