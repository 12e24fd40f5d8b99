//! The image pipeline over HTTP: every input format through `users.setAvatar` and back out of
//! `/avatar/...`, animations kept, renditions in other formats by `?format=` and by `Accept`
//! (with `Vary: Accept`), renditions kept in the blob store, and refusals that keep the old avatar.

use std::io::Cursor;

use crate::common::{Server, Session, decode, png, two_tone};
use image::codecs::gif::{GifEncoder, Repeat};
use image::{AnimationDecoder, DynamicImage, GenericImageView as _, ImageFormat};
use serde_json::json;

fn encoded(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

const FRAME_COLOURS: [[u8; 4]; 3] = [[230, 20, 20, 255], [20, 230, 20, 255], [20, 20, 230, 255]];

fn frames() -> impl Iterator<Item = image::RgbaImage> {
    FRAME_COLOURS
        .iter()
        .map(|c| image::RgbaImage::from_pixel(240, 160, image::Rgba(*c)))
}

fn animated_gif() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut out);
        encoder.set_repeat(Repeat::Infinite).expect("repeat");
        encoder
            .encode_frames(frames().map(|canvas| {
                image::Frame::from_parts(canvas, 0, 0, image::Delay::from_numer_denom_ms(120, 1))
            }))
            .expect("gif");
    }
    out
}

fn animated_webp() -> Vec<u8> {
    let canvases: Vec<_> = frames().collect();
    let config = webp::WebPConfig::new().expect("config");
    let mut encoder = webp::AnimEncoder::new(240, 160, &config);
    for (i, canvas) in canvases.iter().enumerate() {
        encoder.add_frame(webp::AnimFrame::from_rgba(
            canvas.as_raw(),
            240,
            160,
            i as i32 * 120,
        ));
    }
    encoder.try_encode().expect("webp").to_vec()
}

fn apng() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, 240, 160);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_animated(3, 0).expect("animated");
        let mut writer = encoder.write_header().expect("header");
        for canvas in frames() {
            writer.set_frame_delay(12, 100).expect("delay");
            writer.write_image_data(canvas.as_raw()).expect("frame");
        }
        writer.finish().expect("finish");
    }
    out
}

/// An AVIF photo, made by the pipeline's own AVIF encoder (ravif).
fn avif() -> Vec<u8> {
    let options = avatard_imaging::AvatarOptions {
        size: 300,
        resize: false,
        auto_orient: false,
        animated: false,
        output: Some(avatard_imaging::Encoding::Avif),
        limits: avatard_imaging::Limits::default(),
    };
    avatard_imaging::process_avatar(&crate::common::jpeg(300, 240), &options)
        .expect("encode avif")
        .bytes
}

/// Frames of a served animation, by their centre colour.
fn frame_count(bytes: &[u8], format: ImageFormat) -> usize {
    let cursor = Cursor::new(bytes);
    match format {
        ImageFormat::Gif => image::codecs::gif::GifDecoder::new(cursor)
            .expect("gif")
            .into_frames()
            .count(),
        ImageFormat::WebP => image::codecs::webp::WebPDecoder::new(cursor)
            .expect("webp")
            .into_frames()
            .count(),
        ImageFormat::Png => image::codecs::png::PngDecoder::new(cursor)
            .expect("png")
            .apng()
            .expect("apng")
            .into_frames()
            .count(),
        other => panic!("{other:?}"),
    }
}

async fn set(server: &Server, user: &Session, bytes: Vec<u8>) {
    let (status, body) = server.upload(user, bytes, "image/png").await;
    assert_eq!((status.as_u16(), body), (200, json!({"success": true})));
}

#[tokio::test]
async fn every_input_format_round_trips() {
    let server = Server::start().await;
    let user = server.create_user("formats").await;
    let opaque = DynamicImage::ImageRgb8(two_tone(300, 200));
    let alpha = DynamicImage::ImageRgba8(image::RgbaImage::from_fn(64, 64, |x, _| {
        image::Rgba([200, 30, 30, if x < 32 { 255 } else { 0 }])
    }));
    let cases: Vec<(&str, Vec<u8>, &str, usize)> = vec![
        (
            "bmp",
            encoded(opaque.clone(), ImageFormat::Bmp),
            "image/png",
            1,
        ),
        (
            "ico",
            encoded(alpha.clone(), ImageFormat::Ico),
            "image/png",
            1,
        ),
        (
            "tiff",
            encoded(opaque.clone(), ImageFormat::Tiff),
            "image/png",
            1,
        ),
        ("animated gif", animated_gif(), "image/gif", 3),
        ("animated webp", animated_webp(), "image/webp", 3),
        ("apng", apng(), "image/png", 3),
        ("avif", avif(), "image/avif", 1),
    ];
    for (name, bytes, served_type, frames) in cases {
        set(&server, &user, bytes).await;
        let (content_type, served) = server.avatar_bytes("formats").await;
        assert_eq!(content_type, served_type, "{name}");
        // `image` decodes no AVIF; the pipeline's own header reader sees its size.
        assert_eq!(
            avatard_imaging::dimensions(&served),
            Some((200, 200)),
            "{name}"
        );
        if name != "avif" {
            assert_eq!(decode(&served).dimensions(), (200, 200), "{name}");
        }
        assert_eq!(avatard_imaging::frames(&served), frames as u32, "{name}");
        if frames > 1 {
            let format = ImageFormat::from_mime_type(served_type).expect("format");
            assert_eq!(frame_count(&served, format), frames, "{name}");
        }
        let (_, info) = server
            .get(Some(&user), "/api/v1/users.info?username=formats")
            .await;
        assert_eq!(info["user"]["avatarOrigin"], "rest", "{name}");
    }
}

#[tokio::test]
async fn animation_off_keeps_rocket_chats_first_frame_png() {
    let server = Server::start().await;
    server
        .set_setting("Accounts_AvatarAnimated", json!(false))
        .await;
    let user = server.create_user("still").await;
    set(&server, &user, animated_gif()).await;
    let (content_type, served) = server.avatar_bytes("still").await;
    assert_eq!(content_type, "image/png");
    assert_eq!(avatard_imaging::frames(&served), 1);
    let first = decode(&served).to_rgb8();
    assert_eq!(first.get_pixel(100, 100).0, [230, 20, 20]);
}

#[tokio::test]
async fn refused_images_name_the_reason_and_keep_the_avatar() {
    let server = Server::start().await;
    let user = server.create_user("keeper").await;
    set(&server, &user, png(64, 64)).await;
    let (_, before) = server.avatar_bytes("keeper").await;

    let mut bomb = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff".to_vec();
    for _ in 0..10_000 {
        bomb.extend_from_slice(b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00");
    }
    bomb.push(0x3b);
    let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    // 249 bytes that once made resvg allocate a 160 GB pattern tile and abort the server.
    let pattern = b"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 100 100'>\
        <pattern id='p' width='1e5' height='1e5' patternUnits='userSpaceOnUse'>\
        <rect width='5' height='5'/></pattern><rect width='100' height='100' fill='url(#p)'/></svg>"
        .to_vec();
    for (bytes, reason) in [
        (
            bomb,
            "the animation has 10000 frames, more than the limit of 1000",
        ),
        (heic, "HEIC images are not supported"),
        (pattern, "would need more than 268435456 bytes of memory"),
    ] {
        let (status, body) = server.upload(&user, bytes, "image/gif").await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["success"], false);
        assert_eq!(body["errorType"], "error-invalid-file-type");
        assert!(body["error"].as_str().unwrap().contains(reason), "{body}");
        assert_eq!(server.avatar_bytes("keeper").await.1, before);
    }
}

#[tokio::test]
async fn renditions_by_format_and_by_accept() {
    let server = Server::start().await;
    let user = server.create_user("carol").await;
    set(&server, &user, crate::common::jpeg(400, 300)).await;

    let plain = server.avatar("/avatar/carol").await;
    assert_eq!(plain.headers()["content-type"], "image/jpeg");
    // Even the stored file depends on Accept, so shared caches must key on it.
    assert_eq!(plain.headers()["vary"], "Accept");
    let stored_tag = plain.headers()["etag"].to_str().unwrap().to_owned();

    let mut tags = vec![stored_tag];
    for (query, content_type, format) in [
        ("format=webp", "image/webp", ImageFormat::WebP),
        ("format=png", "image/png", ImageFormat::Png),
        ("format=avif", "image/avif", ImageFormat::Avif),
        ("format=webp&size=64", "image/webp", ImageFormat::WebP),
    ] {
        let response = server.avatar(&format!("/avatar/carol?{query}")).await;
        assert_eq!(response.status(), 200, "{query}");
        assert_eq!(response.headers()["content-type"], content_type, "{query}");
        assert!(
            response.headers().get("vary").is_none(),
            "{query}: named format"
        );
        let tag = response.headers()["etag"].to_str().unwrap().to_owned();
        assert!(!tags.contains(&tag), "{query}: {tag} reused");
        tags.push(tag);
        let body = response.bytes().await.unwrap();
        assert_eq!(
            avatard_imaging::sniff(&body),
            avatard_imaging::Sniffed::Supported(
                avatard_imaging::Format::from_mime(content_type).unwrap()
            ),
            "{query}"
        );
        if format != ImageFormat::Avif {
            let side = if query.contains("size=64") { 64 } else { 200 };
            let image = image::load_from_memory_with_format(&body, format).expect("decodes");
            assert_eq!(image.dimensions(), (side, side), "{query}");
        }
    }
    // `?format=` naming the stored format is the stored file.
    let jpg = server.avatar("/avatar/carol?format=jpg").await;
    assert_eq!(jpg.headers()["etag"].to_str().unwrap(), tags[0]);

    for (accept, content_type) in [
        ("image/avif,image/webp,image/apng,*/*;q=0.8", "image/avif"),
        ("image/webp,*/*", "image/webp"),
        ("image/avif;q=0,image/webp", "image/webp"),
        ("*/*", "image/jpeg"),
    ] {
        let response = server
            .avatar_with("/avatar/carol", &[("accept", accept)])
            .await;
        assert_eq!(response.headers()["content-type"], content_type, "{accept}");
        assert_eq!(response.headers()["vary"], "Accept", "{accept}");
    }
    // An animation is offered as WebP, which keeps it moving, never as a still AVIF.
    set(&server, &user, animated_gif()).await;
    let response = server
        .avatar_with("/avatar/carol", &[("accept", "image/avif,image/webp,*/*")])
        .await;
    assert_eq!(response.headers()["content-type"], "image/webp");
    let body = response.bytes().await.unwrap();
    assert_eq!(frame_count(&body, ImageFormat::WebP), 3);
}

#[tokio::test]
async fn renditions_are_kept_in_the_blob_store_and_swept_with_their_avatar() {
    // The sweep lease lasts two sweep intervals: short ones let the last server take it over.
    let server = Server::start_with(&[
        ("AVATARD_ORPHAN_SWEEP_SECS", "1"),
        ("AVATARD_ORPHAN_GRACE_SECS", "3600"),
    ])
    .await;
    let user = server.create_user("dave").await;
    set(&server, &user, png(300, 300)).await;
    let first = server.avatar("/avatar/dave?format=webp&size=48").await;
    let first_tag = first.headers()["etag"].to_str().unwrap().to_owned();
    let first_bytes = first.bytes().await.unwrap();
    let keys = server.blob_keys().await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    let rendition = keys.iter().find(|k| k.ends_with(".48.webp")).expect("kept");

    // A restarted server (empty memory cache) serves the kept bytes instead of encoding again.
    let rendition = rendition.clone();
    let server = server.restart().await;
    let again = server.avatar("/avatar/dave?format=webp&size=48").await;
    assert_eq!(again.headers()["etag"].to_str().unwrap(), first_tag);
    assert_eq!(again.bytes().await.unwrap(), first_bytes);

    // Replaced: the old rendition goes with the old avatar when the sweep runs.
    set(&server, &user, png(100, 100)).await;
    let server = server
        .restart_with(&[
            ("AVATARD_ORPHAN_SWEEP_SECS", "1"),
            ("AVATARD_ORPHAN_GRACE_SECS", "0"),
        ])
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let keys = server.blob_keys().await;
        if !keys.contains(&rendition) {
            assert_eq!(keys.len(), 1, "{keys:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not swept: {keys:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let response = server.avatar("/avatar/dave?format=webp&size=48").await;
    assert_eq!(response.status(), 200);
}
