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
//!
//! What a document costs is bounded in three places:
//! - [`guard`] bounds what usvg builds and what parsing costs: elements
//!   (counting what `<use>` and the resources usvg copies per use pull in),
//!   nesting, characters of text, CSS selector matching and `href`
//!   inheritance chains.
//! - Parsing and rendering run against [`Limits::max_svg_render_time`]. resvg
//!   cannot be interrupted, so [`paint`] draws the tree as `resvg::render`
//!   does but in many calls: it walks the groups resvg would not isolate and
//!   the glyphs of texts, hands every other node to `resvg::render_node`, and
//!   checks the clock before each call.
//! - A call runs to completion once made, and one node (an isolated group
//!   with everything inside it) can hold most of a document's work, so
//!   [`cost`] prices each call first and refuses it if it alone would
//!   outlast the time limit, or hold more than [`Limits::max_alloc`] bytes
//!   of layers at once.
//!
//! A document is thus refused once parsing plus rendering has taken the time
//! limit, or before a call that alone would take it: at worst it runs about
//! twice the limit (the prices are measured on one machine; see [`cost`]).

mod cost;
mod guard;

use std::time::{Duration, Instant};

use image::RgbaImage;
use resvg::tiny_skia::{Pixmap, PixmapMut, Transform};
use resvg::usvg::{self, Group, ImageHrefResolver, Node};

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
    let deadline = Deadline::start(limits.max_svg_render_time);
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
    deadline.check()?;

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
    paint(
        &tree,
        Transform::from_row(scale, 0.0, 0.0, scale, dx, dy),
        &mut pixmap.as_mut(),
        &deadline,
        limits,
    )?;

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

/// When parsing and rendering must have finished.
struct Deadline {
    started: Instant,
    limit: Duration,
}

impl Deadline {
    fn start(limit: Duration) -> Self {
        Deadline {
            started: Instant::now(),
            limit,
        }
    }

    fn check(&self) -> Result<(), ImageError> {
        if self.started.elapsed() > self.limit {
            return Err(ImageError::TooLarge(format!(
                "the SVG image took longer than {:?} to render",
                self.limit
            )));
        }
        Ok(())
    }
}

/// One call into resvg.
enum Piece<'a> {
    /// `resvg::render_node` with `shifted`, which draws `node` where
    /// `resvg::render` draws it with `transform`.
    Node {
        node: &'a Node,
        transform: Transform,
        shifted: Transform,
    },
    /// `resvg::render`, when some node can be drawn neither alone nor as its
    /// children.
    Tree,
}

/// Draws `tree` onto `pixmap` as `resvg::render` does, but in as many resvg
/// calls as possible, each priced first and preceded by a look at the clock.
fn paint(
    tree: &usvg::Tree,
    transform: Transform,
    pixmap: &mut PixmapMut,
    deadline: &Deadline,
    limits: &Limits,
) -> Result<(), ImageError> {
    let mut pieces = Vec::new();
    if !split(tree.root(), transform, &mut pieces) {
        pieces = vec![Piece::Tree];
    }
    for piece in pieces {
        deadline.check()?;
        let mut price = cost::Price::new(
            pixmap.width(),
            pixmap.height(),
            limits.max_svg_render_time,
            limits.max_alloc,
        );
        match piece {
            Piece::Node {
                node,
                transform,
                shifted,
            } => {
                price
                    .node(node, transform)
                    .map_err(|o| overrun(o, limits))?;
                resvg::render_node(node, shifted, pixmap);
            }
            Piece::Tree => {
                price
                    .children(tree.root(), transform)
                    .map_err(|o| overrun(o, limits))?;
                resvg::render(tree, transform, pixmap);
            }
        }
    }
    Ok(())
}

/// Appends the pieces that draw `group`'s children with `transform`, as
/// resvg's `render_nodes` does; false if some child can be drawn neither
/// alone nor as its own children, and the group must be drawn in one call.
fn split<'a>(group: &'a Group, transform: Transform, pieces: &mut Vec<Piece<'a>>) -> bool {
    group.children().iter().all(|node| {
        // resvg draws a group it does not isolate by drawing its children
        // with its transform, and a text as its group of glyphs.
        let inner = match node {
            Node::Group(group) => Some(group.as_ref()),
            Node::Text(text) => Some(text.flattened()),
            Node::Path(_) | Node::Image(_) => None,
        };
        if let Some(inner) = inner.filter(|g| !g.should_isolate()) {
            let mark = pieces.len();
            if split(inner, transform.pre_concat(inner.transform()), pieces) {
                return true;
            }
            pieces.truncate(mark);
        }
        match alone(node, transform) {
            Some(shifted) => {
                pieces.push(Piece::Node {
                    node,
                    transform,
                    shifted,
                });
                true
            }
            None => false,
        }
    })
}

/// The transform that makes `resvg::render_node` draw `node` where
/// `resvg::render` draws it with `transform`, if it can draw it at all.
///
/// `resvg::render_node` is meant for drawing a node onto a pixmap of its own:
/// it moves the node by minus the origin of its layer bounding box, which
/// moving it by plus that origin first cancels, up to f32 rounding of the
/// translation (below 1e-4 px; see the tests). It draws nothing for a node
/// without a layer bounding box, such as a stroked horizontal line.
fn alone(node: &Node, transform: Transform) -> Option<Transform> {
    let bbox = node.abs_layer_bounding_box()?;
    Some(transform.pre_translate(bbox.x(), bbox.y()))
}

fn overrun(overrun: cost::Overrun, limits: &Limits) -> ImageError {
    ImageError::TooLarge(match overrun {
        cost::Overrun::Time => format!(
            "the SVG image would take longer than {:?} to render",
            limits.max_svg_render_time
        ),
        cost::Overrun::Memory => format!(
            "the SVG image would need more than {} bytes of memory to render",
            limits.max_alloc
        ),
    })
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

    /// Ordinary documents covering what the painter treats apart: plain
    /// groups it walks (nested transforms, a viewBox with an offset), texts,
    /// isolated groups it hands over whole (opacity, blend mode, clip path,
    /// mask, filter), paint servers, and a stroked horizontal line, which
    /// makes its group be drawn in one call.
    const ORDINARY: [&str; 6] = [
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='-13.7 7.3 91 77'>\
         <g transform='translate(10.3 5.1) rotate(23 40 40)'><g transform='scale(0.83 1.1)'>\
         <rect x='3.3' y='9.7' width='40.1' height='30.9' fill='#c84'/>\
         <circle cx='40' cy='40' r='17.3' fill='#48c' stroke='#222' stroke-width='2.5'/>\
         </g><path d='M5 70 q20 -30 40 0 t40 0' fill='none' stroke='#393' stroke-width='3' \
         stroke-dasharray='5 2.5'/></g></svg>",
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 100 100'>\
         <rect width='100' height='100' fill='#eee'/>\
         <g opacity='0.6' transform='translate(7.5 3.25)'><rect x='10' y='10' width='50' \
         height='50' fill='red'/><g><circle cx='50' cy='50' r='30' fill='blue'/></g></g>\
         <g style='mix-blend-mode:multiply'><circle cx='70' cy='70' r='25' fill='#0c0'/></g>\
         <line x1='5' y1='90.5' x2='95' y2='90.5' stroke='black' stroke-width='2'/></svg>",
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 120 60'>\
         <text x='6.5' y='40.25' font-size='31' fill='#336'>Ab Яж</text>\
         <g transform='translate(2 3)'><text x='60' y='52' font-size='12' opacity='0.7' \
         text-decoration='underline'>avatar</text></g></svg>",
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 100 100'><defs>\
         <linearGradient id='l' x1='0' x2='1' gradientTransform='rotate(30)'>\
         <stop offset='0' stop-color='#f80'/><stop offset='1' stop-color='#08f'/></linearGradient>\
         <radialGradient id='r' cx='0.4' cy='0.4' r='0.6'><stop offset='0' stop-color='white'/>\
         <stop offset='1' stop-color='#606' stop-opacity='0.5'/></radialGradient>\
         <pattern id='p' width='7.3' height='7.3' patternUnits='userSpaceOnUse'>\
         <circle cx='3' cy='3' r='2' fill='#444'/></pattern></defs>\
         <rect width='100' height='50' fill='url(#l)'/><circle cx='50' cy='62' r='35' \
         fill='url(#r)'/><rect x='60' y='60' width='35' height='35' fill='url(#p)'/></svg>",
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 100 100'><defs>\
         <clipPath id='c'><circle cx='50' cy='50' r='41.5'/></clipPath>\
         <mask id='m'><rect width='100' height='100' fill='#888'/></mask></defs>\
         <g clip-path='url(#c)'><rect width='100' height='100' fill='#9c6'/>\
         <g transform='translate(3.3 0)'><rect x='20' y='20' width='30' height='30' \
         fill='#36c'/></g></g><rect x='55' y='5' width='40' height='40' fill='black' \
         mask='url(#m)'/></svg>",
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 100 100'><defs>\
         <filter id='s' x='-20%' y='-20%' width='150%' height='150%'>\
         <feGaussianBlur in='SourceAlpha' stdDeviation='3'/><feOffset dx='2' dy='3'/>\
         <feMerge><feMergeNode/><feMergeNode in='SourceGraphic'/></feMerge></filter></defs>\
         <g transform='translate(0.5 0.25)'><rect x='20' y='20' width='50' height='45' rx='6' \
         fill='#fc3' filter='url(#s)'/></g></svg>",
    ];

    /// Renders `svg` at `size`×`size` with `draw`, as [`render`] would.
    fn rendered(
        svg: &str,
        size: u32,
        draw: impl FnOnce(&usvg::Tree, Transform, &mut Pixmap),
    ) -> Pixmap {
        let tree = usvg::Tree::from_str(svg, &options(size).expect("options")).expect("parses");
        let natural = tree.size();
        let scale = (size as f32 / natural.width()).min(size as f32 / natural.height());
        let dx = (size as f32 - natural.width() * scale) / 2.0;
        let dy = (size as f32 - natural.height() * scale) / 2.0;
        let mut pixmap = Pixmap::new(size, size).expect("pixmap");
        draw(
            &tree,
            Transform::from_row(scale, 0.0, 0.0, scale, dx, dy),
            &mut pixmap,
        );
        pixmap
    }

    /// `paint` draws what `resvg::render` draws. Not always bit for bit: the
    /// translation that undoes `resvg::render_node`'s own is rounded to f32,
    /// which moves a node by under 1e-4 px and can tip one of tiny-skia's 16
    /// anti-aliasing samples on an edge pixel. Over 1 200 random documents of
    /// rotated and scaled shapes, strokes, texts and opacity groups, 37
    /// differed, in at most 0.3% of their pixels, by at most 23 levels; these
    /// documents happen to come out identical. A node drawn in the wrong
    /// place, or not at all, differs by far more.
    #[test]
    fn paint_draws_what_resvg_render_draws() {
        let limits = Limits::default();
        for (index, svg) in ORDINARY.iter().enumerate() {
            for size in [64, 200, 257] {
                let expected = rendered(svg, size, |tree, ts, pixmap| {
                    resvg::render(tree, ts, &mut pixmap.as_mut());
                });
                let painted = rendered(svg, size, |tree, ts, pixmap| {
                    let deadline = Deadline::start(limits.max_svg_render_time);
                    paint(tree, ts, &mut pixmap.as_mut(), &deadline, &limits).expect("painted");
                });
                assert!(
                    expected.pixels().iter().any(|p| p.alpha() > 0),
                    "document {index} draws something"
                );
                let differing: Vec<u8> = expected
                    .data()
                    .chunks(4)
                    .zip(painted.data().chunks(4))
                    .filter(|(a, b)| a != b)
                    .map(|(a, b)| {
                        a.iter()
                            .zip(b)
                            .map(|(x, y)| x.abs_diff(*y))
                            .max()
                            .unwrap_or(0)
                    })
                    .collect();
                let at_most = (size * size / 100) as usize;
                assert!(
                    differing.len() <= at_most && differing.iter().all(|&d| d <= 32),
                    "document {index} at {size} px: {} pixels differ, by up to {:?} levels",
                    differing.len(),
                    differing.iter().max()
                );
            }
        }
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
