//! Safe SVG rasterising, shared by uploaded avatars and generated initials.
//!
//! An uploaded SVG is hostile input. usvg's defaults would read local files
//! named by `<image href>`, load system fonts and build whatever tree the
//! document describes, so here: every image reference resolves to nothing,
//! the only fonts are the embedded ones ([`crate::fonts`]), the document is
//! measured by [`guard`] before usvg sees it, and the pixmap is never larger
//! than the requested output. Scripts, animations and links are inert in
//! resvg, and the result is re-encoded as pixels, so nothing of the SVG
//! itself survives.

mod guard;

use image::RgbaImage;
use resvg::tiny_skia::{Pixmap, Transform};
use resvg::usvg::{self, ImageHrefResolver};

use crate::{ImageError, Limits, fonts};

/// usvg and resvg recurse over the document (clip-path chains set through
/// CSS, for instance, are not visible to [`guard`]), so they run on a thread
/// whose stack comfortably outlasts any document the guard lets through.
const RENDER_STACK: usize = 64 * 1024 * 1024;

/// The pixel size to render at.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// Exactly `n`×`n`, the drawing scaled to fit and centred.
    Square(u32),
    /// The document's own size, scaled down to fit the limits; `fallback`
    /// is used per side when the document declares no size at all.
    Natural { fallback: u32 },
}

/// Rasterises `data` onto a transparent canvas.
pub(crate) fn rasterize(
    data: &[u8],
    target: Target,
    limits: &Limits,
) -> Result<RgbaImage, ImageError> {
    let text = std::str::from_utf8(data)
        .map_err(|_| ImageError::Invalid("the SVG image is not valid UTF-8 text".into()))?;
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("svg-render".into())
            .stack_size(RENDER_STACK)
            .spawn_scoped(scope, || render(text, target, limits))
            .map_err(|e| ImageError::Invalid(format!("the SVG image could not be rendered: {e}")))?
            .join()
            .unwrap_or_else(|_| {
                Err(ImageError::Invalid(
                    "the SVG image could not be rendered".into(),
                ))
            })
    })
}

fn render(text: &str, target: Target, limits: &Limits) -> Result<RgbaImage, ImageError> {
    let doc = guard::parse(text, limits)?;
    let fallback = match target {
        Target::Square(n) | Target::Natural { fallback: n } => n,
    };
    let tree = usvg::Tree::from_xmltree(&doc, &options(fallback)?).map_err(|e| match e {
        usvg::Error::ElementsLimitReached
        | usvg::Error::ParsingFailed(usvg::roxmltree::Error::NodesLimitReached) => {
            ImageError::TooLarge(format!("the SVG image is too complex: {e}"))
        }
        other => ImageError::Invalid(format!("the SVG image could not be parsed: {other}")),
    })?;

    let natural = tree.size();
    let (width, height) = match target {
        Target::Square(n) => (n, n),
        // usvg sizes such a document by its content's bounding box instead.
        Target::Natural { fallback } if !declares_size(doc.root_element()) => (fallback, fallback),
        Target::Natural { .. } => limits.fit(natural.width().into(), natural.height().into()),
    };
    let mut pixmap = Pixmap::new(width, height).ok_or_else(|| {
        ImageError::TooLarge(format!("cannot allocate a {width}x{height} canvas"))
    })?;
    let scale = (width as f32 / natural.width()).min(height as f32 / natural.height());
    let dx = (width as f32 - natural.width() * scale) / 2.0;
    let dy = (height as f32 - natural.height() * scale) / 2.0;
    resvg::render(
        &tree,
        Transform::from_row(scale, 0.0, 0.0, scale, dx, dy),
        &mut pixmap.as_mut(),
    );

    // tiny-skia stores premultiplied alpha; image expects straight alpha.
    let straight = pixmap
        .pixels()
        .iter()
        .flat_map(|p| {
            let c = p.demultiply();
            [c.red(), c.green(), c.blue(), c.alpha()]
        })
        .collect();
    RgbaImage::from_raw(width, height, straight)
        .ok_or_else(|| ImageError::Invalid("the SVG image could not be rendered".into()))
}

/// Options that keep usvg away from the file system, embedded images and
/// system fonts.
fn options(fallback: u32) -> Result<usvg::Options<'static>, ImageError> {
    Ok(usvg::Options {
        resources_dir: None,
        font_family: fonts::FAMILY.to_owned(),
        default_size: usvg::Size::from_wh(fallback as f32, fallback as f32)
            .ok_or_else(|| ImageError::Invalid("the SVG output size must not be zero".into()))?,
        image_href_resolver: ImageHrefResolver {
            resolve_data: Box::new(|_, _, _| None),
            resolve_string: Box::new(|_, _| None),
        },
        fontdb: fonts::database(),
        ..usvg::Options::default()
    })
}

/// Whether the root element gives the document a size of its own: a
/// viewBox, or absolute width and height.
fn declares_size(svg: usvg::roxmltree::Node) -> bool {
    let absolute = |name| {
        svg.attribute(name)
            .is_some_and(|v: &str| !v.trim_end().ends_with('%'))
    };
    svg.has_attribute("viewBox") || (absolute("width") && absolute("height"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, Rgb, RgbImage};

    fn has_image(group: &usvg::Group) -> bool {
        group.children().iter().any(|node| match node {
            usvg::Node::Image(_) => true,
            usvg::Node::Group(g) => has_image(g),
            _ => false,
        })
    }

    #[test]
    fn image_references_resolve_to_nothing() {
        let dir = std::env::temp_dir().join(format!("avatard-svg-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("red.png");
        let mut png = Vec::new();
        DynamicImage::ImageRgb8(RgbImage::from_pixel(4, 4, Rgb([255, 0, 0])))
            .write_with_encoder(image::codecs::png::PngEncoder::new(&mut png))
            .expect("png");
        std::fs::write(&path, &png).expect("write");
        // A tiny SVG as a data URL: usvg would load it without any raster codec.
        let data_url = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' \
            width='4' height='4'%3E%3Crect width='4' height='4'/%3E%3C/svg%3E";
        let hrefs = [path.to_str().expect("utf-8 path"), data_url];
        for href in hrefs {
            let svg = format!(
                "<svg xmlns='http://www.w3.org/2000/svg' width='4' height='4'>\
                 <image width='4' height='4' href=\"{href}\"/></svg>"
            );
            // Control: with usvg's default resolvers the image is loaded.
            let default = usvg::Tree::from_str(&svg, &usvg::Options::default()).expect("parses");
            assert!(has_image(default.root()), "control for {href}");
            let ours = usvg::Tree::from_str(&svg, &options(4).expect("options")).expect("parses");
            assert!(!has_image(ours.root()), "{href} was resolved");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn natural_size_of_documents_without_one_is_the_fallback() {
        let limits = Limits::default();
        let natural = |svg: &str| {
            let image = rasterize(svg.as_bytes(), Target::Natural { fallback: 48 }, &limits)
                .expect("renders");
            image.dimensions()
        };
        let ns = "xmlns='http://www.w3.org/2000/svg'";
        assert_eq!(
            natural(&format!("<svg {ns}><circle r='5'/></svg>")),
            (48, 48)
        );
        assert_eq!(
            natural(&format!("<svg {ns} width='100%' height='30'/>")),
            (48, 48)
        );
        assert_eq!(
            natural(&format!("<svg {ns} width='70' height='30'/>")),
            (70, 30)
        );
        assert_eq!(
            natural(&format!("<svg {ns} viewBox='0 0 20 10'/>")),
            (20, 10)
        );
    }
}
