//! Safe SVG rasterising, shared by uploaded avatars and generated initials.
//!
//! An uploaded SVG is hostile input. usvg's defaults would read local files
//! named by `<image href>`, load system fonts and build whatever tree the
//! document describes, so here: every image reference resolves to nothing,
//! the only font is the embedded one ([`crate::fonts`]), the document is
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
        Target::Square(n) | Target::Natural { fallback: n } => n as f32,
    };
    let options = usvg::Options {
        resources_dir: None,
        font_family: fonts::FAMILY.to_owned(),
        default_size: usvg::Size::from_wh(fallback, fallback)
            .ok_or_else(|| ImageError::Invalid("the SVG output size must not be zero".into()))?,
        image_href_resolver: ImageHrefResolver {
            resolve_data: Box::new(|_, _, _| None),
            resolve_string: Box::new(|_, _| None),
        },
        fontdb: fonts::database(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_xmltree(&doc, &options).map_err(|e| match e {
        usvg::Error::ElementsLimitReached
        | usvg::Error::ParsingFailed(usvg::roxmltree::Error::NodesLimitReached) => {
            ImageError::TooLarge(format!("the SVG image is too complex: {e}"))
        }
        other => ImageError::Invalid(format!("the SVG image could not be parsed: {other}")),
    })?;

    let natural = tree.size();
    let (width, height) = match target {
        Target::Square(n) => (n, n),
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
