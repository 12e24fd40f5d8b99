//! Pricing what resvg does in one call, before making it.
//!
//! [`super::paint`] checks its clock between resvg calls, but resvg draws a
//! path or an isolated group (opacity, clip-path, mask, filter, blend mode)
//! in one call that can hide any amount of work: a single group can wrap the
//! whole document; clip paths, masks, patterns and `feImage` are drawn again
//! at every use; every isolated group and every filter result is a pixmap up
//! to five times the canvas per side; and some filters cost far more than
//! one pass per pixel. So each call is priced from the usvg tree first,
//! mirroring what resvg 0.49 and tiny-skia 0.12 will do, and refused when it
//! alone would outlast the render time limit or hold more pixmaps at once
//! than the allocation limit.
//!
//! Prices are nanoseconds, per device pixel unless said otherwise, measured
//! on a 2-core x86-64 machine (release build) and rounded up generously.
//! They are a bound, not a forecast: cheap work (a solid fill, a path of
//! short segments) is overestimated most.

use std::time::Duration;

use resvg::tiny_skia::{Path as PathData, PathSegment, Point, Rect, Transform};
use resvg::usvg::filter::{Filter, Kind};
use resvg::usvg::{ClipPath, Group, Mask, Node, Paint, Path, Pattern, Stroke};

/// Any node: resvg's dispatch and a path's setup.
const NODE_NS: f64 = 2_000.0;
/// A pixel filled with a solid colour (measured 0.21 ns).
const SOLID_NS: f64 = 0.5;
/// A pixel filled with a gradient or pattern (measured 6.4 to 8.6 ns).
const SHADER_NS: f64 = 12.0;
/// A layer pixel allocated and cleared (measured 1.7 ns).
const LAYER_NS: f64 = 3.0;
/// A layer pixel drawn back onto its parent (measured 7 ns).
const COMPOSITE_NS: f64 = 10.0;
/// A layer pixel clipped: one more pixmap, filled, inverted and applied
/// (measured 8 ns beside the layer itself).
const CLIP_NS: f64 = 15.0;
/// A layer pixel masked: a pixmap and an alpha mask (measured 14 ns).
const MASK_NS: f64 = 25.0;
/// Each filter primitive, per pixel of the filter region: copying its input
/// and converting between colour spaces (measured 5 to 13 ns for the
/// cheapest primitives).
const PRIMITIVE_NS: f64 = 30.0;
/// A path segment turned into scan-converter edges (a path of a million
/// short segments: 30 ms).
const SEGMENT_NS: f64 = 40.0;
/// Per device row and per square of the edges active on it: tiny-skia keeps
/// the active edges sorted along the row, and edges that cross swap places
/// one step at a time, so a path of long crossing segments is quadratic in
/// its length (100 000 of them: 10 s at any output size).
const CROSSING_NS: f64 = 0.05;
/// tiny-skia gives up dashing a path beyond this many dashes.
const MAX_DASHES: f64 = 1_000_000.0;
/// Rows of the histogram that counts active edges; rows beyond it are merged,
/// which only overestimates.
const MAX_BUCKETS: f64 = 1_024.0;

/// Why a call was refused.
#[derive(Debug)]
pub(super) enum Overrun {
    /// It would take longer than the time allowed.
    Time,
    /// It would hold more pixmap bytes at once than allowed.
    Memory,
}

/// A pixmap being drawn into.
#[derive(Clone, Copy)]
struct Target {
    /// Where it lies in device space, when that is known; pixels outside it
    /// are never touched. A layer is placed at its unclamped bounding box,
    /// which contains the clamped layer.
    place: Option<Rect>,
    /// How many pixels it has at most.
    pixels: f64,
}

impl Target {
    /// The pixels drawing over `bbox`, in the user space `ts` maps to device
    /// space, can touch.
    fn covered(&self, bbox: Rect, ts: Transform) -> f64 {
        let area = match (bbox.transform(ts), self.place) {
            (Some(r), Some(place)) => r.intersect(&place).map_or(0.0, area),
            (Some(r), None) => area(r),
            // Coordinates beyond f32: assume all of it.
            (None, _) => self.pixels,
        };
        area.min(self.pixels)
    }
}

fn area(r: Rect) -> f64 {
    f64::from(r.width()) * f64::from(r.height())
}

/// The running price of one resvg call.
pub(super) struct Price {
    canvas: Target,
    /// resvg clamps every layer to five times the canvas per side.
    max_layer: (f64, f64),
    budget_ns: f64,
    spent_ns: f64,
    max_bytes: f64,
    held_bytes: f64,
}

impl Price {
    /// A price for drawing onto a `width`×`height` canvas, refused beyond
    /// `budget` or when more than `max_bytes` of pixmaps would be alive.
    pub(super) fn new(width: u32, height: u32, budget: Duration, max_bytes: u64) -> Self {
        let (w, h) = (f64::from(width), f64::from(height));
        Price {
            canvas: Target {
                place: Rect::from_xywh(0.0, 0.0, width as f32, height as f32),
                pixels: w * h,
            },
            max_layer: (5.0 * w, 5.0 * h),
            budget_ns: budget.as_secs_f64() * 1e9,
            spent_ns: 0.0,
            max_bytes: max_bytes as f64,
            held_bytes: 0.0,
        }
    }

    /// Adds `node`, drawn where `resvg::render` draws it with `ts`.
    pub(super) fn node(&mut self, node: &Node, ts: Transform) -> Result<(), Overrun> {
        self.draw(node, ts, self.canvas)
    }

    /// Adds `group`'s children, drawn with `ts` as `resvg::render` draws the
    /// root.
    pub(super) fn children(&mut self, group: &Group, ts: Transform) -> Result<(), Overrun> {
        self.draw_children(group, ts, self.canvas)
    }

    fn spend(&mut self, ns: f64) -> Result<(), Overrun> {
        self.spent_ns += ns;
        // Written so that NaN counts as over.
        if self.spent_ns <= self.budget_ns {
            Ok(())
        } else {
            Err(Overrun::Time)
        }
    }

    fn hold(&mut self, bytes: f64) -> Result<(), Overrun> {
        self.held_bytes += bytes;
        if self.held_bytes <= self.max_bytes {
            Ok(())
        } else {
            Err(Overrun::Memory)
        }
    }

    fn release(&mut self, bytes: f64) {
        self.held_bytes -= bytes;
    }

    fn draw_children(
        &mut self,
        group: &Group,
        ts: Transform,
        target: Target,
    ) -> Result<(), Overrun> {
        group
            .children()
            .iter()
            .try_for_each(|node| self.draw(node, ts, target))
    }

    fn draw(&mut self, node: &Node, ts: Transform, target: Target) -> Result<(), Overrun> {
        self.spend(NODE_NS)?;
        match node {
            Node::Group(group) => self.group(group, ts, target),
            Node::Path(path) => self.path(path, ts, target),
            Node::Image(image) => self.spend(target.covered(image.bounding_box(), ts) * SHADER_NS),
            Node::Text(text) => self.group(text.flattened(), ts, target),
        }
    }

    /// resvg's `render_group` and `render_layer`.
    fn group(&mut self, group: &Group, ts: Transform, target: Target) -> Result<(), Overrun> {
        let ts = ts.pre_concat(group.transform());
        if !group.should_isolate() {
            return self.draw_children(group, ts, target);
        }
        // resvg draws nothing for a layer it cannot place.
        let Some(bbox) = group.layer_bounding_box().transform(ts) else {
            return Ok(());
        };
        // Anti-aliasing margin of 2 px, then the clamp.
        let (w, h) = (
            f64::from(bbox.width()) + 4.0,
            f64::from(bbox.height()) + 4.0,
        );
        let place = Rect::from_xywh(
            bbox.x() - 2.0,
            bbox.y() - 2.0,
            bbox.width() + 4.0,
            bbox.height() + 4.0,
        );
        let layer = Target {
            place,
            pixels: w.min(self.max_layer.0) * h.min(self.max_layer.1),
        };
        let bytes = layer.pixels * 4.0;
        self.hold(bytes)?;
        self.spend(layer.pixels * LAYER_NS)?;
        self.draw_children(group, ts, layer)?;
        for filter in group.filters() {
            self.filter(filter, ts, layer)?;
        }
        if let Some(clip) = group.clip_path() {
            self.clip(clip, ts, layer)?;
        }
        if let Some(mask) = group.mask() {
            self.mask(mask, ts, layer)?;
        }
        let composited = place.map_or(layer.pixels, |place| {
            target.covered(place, Transform::identity())
        });
        self.spend(composited * COMPOSITE_NS)?;
        self.release(bytes);
        Ok(())
    }

    /// resvg's `filter::apply`: every primitive runs over the filter region,
    /// and every result is kept until the last one.
    fn filter(&mut self, filter: &Filter, ts: Transform, layer: Target) -> Result<(), Overrun> {
        let region = Target {
            place: None,
            pixels: layer.covered(filter.rect().to_rect(), ts),
        };
        let bytes = region.pixels * 4.0 * filter.primitives().len() as f64;
        self.hold(bytes)?;
        let (sx, sy) = ts.get_scale();
        for primitive in filter.primitives() {
            // Beside PRIMITIVE_NS; measured per pixel: flood 5 ns, offset and
            // tile 13, blend, composite and merge 27, colour matrix 20,
            // component transfer 26, displacement 29, diffuse lighting 38,
            // specular lighting 76, blur 110 whatever the deviation, drop
            // shadow 155, convolution 4 to 7 per kernel cell, morphology 41
            // for a 3×3 window and 0.9 per cell for larger ones, turbulence
            // 56 and 70 per octave.
            let per_pixel = match primitive.kind() {
                Kind::Flood(_) | Kind::Offset(_) | Kind::Tile(_) | Kind::Image(_) => 0.0,
                Kind::Blend(_)
                | Kind::Composite(_)
                | Kind::ColorMatrix(_)
                | Kind::ComponentTransfer(_)
                | Kind::DisplacementMap(_)
                | Kind::DiffuseLighting(_) => 40.0,
                Kind::Merge(merge) => 40.0 * merge.inputs().len() as f64,
                Kind::SpecularLighting(_) => 120.0,
                Kind::GaussianBlur(_) => 250.0,
                Kind::DropShadow(_) => 350.0,
                Kind::ConvolveMatrix(convolve) => {
                    let kernel = convolve.matrix();
                    8.0 * f64::from(kernel.columns()) * f64::from(kernel.rows())
                }
                // Naive: every pixel visits its whole window, whose radius
                // resvg limits only to the region's size.
                Kind::Morphology(morphology) => {
                    let side =
                        |radius: f32, scale: f32| 2.0 * f64::from(radius * scale).round() + 1.0;
                    let window = side(morphology.radius_x().get(), sx)
                        * side(morphology.radius_y().get(), sy);
                    40.0 + 1.5 * window.min(4.0 * region.pixels)
                }
                // Every octave is another pass of Perlin noise.
                Kind::Turbulence(turbulence) => 100.0 * (1.0 + f64::from(turbulence.num_octaves())),
            };
            self.spend(NODE_NS + region.pixels * (PRIMITIVE_NS + per_pixel))?;
            if let Kind::Image(image) = primitive.kind() {
                self.draw_children(image.root(), Transform::from_scale(sx, sy), region)?;
            }
        }
        self.release(bytes);
        Ok(())
    }

    /// resvg's `clip::apply`.
    fn clip(&mut self, clip: &ClipPath, ts: Transform, layer: Target) -> Result<(), Overrun> {
        let bytes = layer.pixels * 4.0;
        self.hold(bytes)?;
        self.spend(layer.pixels * CLIP_NS)?;
        self.clip_children(clip.root(), ts.pre_concat(clip.transform()), layer)?;
        if let Some(outer) = clip.clip_path() {
            self.clip(outer, ts, layer)?;
        }
        self.release(bytes);
        Ok(())
    }

    /// resvg's `clip::draw_children`: fills only, in black (usvg drops any
    /// other paint and every stroke inside a clip path); a child with a clip
    /// path of its own is drawn on a layer-sized pixmap of its own.
    fn clip_children(
        &mut self,
        group: &Group,
        ts: Transform,
        layer: Target,
    ) -> Result<(), Overrun> {
        for node in group.children() {
            self.spend(NODE_NS)?;
            match node {
                Node::Path(path) if path.is_visible() && path.fill().is_some() => {
                    self.spend(layer.covered(path.bounding_box(), ts) * SOLID_NS)?;
                    self.edges(path.data(), ts, layer, None)?;
                }
                Node::Text(text) => self.clip_children(text.flattened(), ts, layer)?,
                Node::Group(group) => {
                    let ts = ts.pre_concat(group.transform());
                    match group.clip_path() {
                        Some(clip) => {
                            let bytes = layer.pixels * 4.0;
                            self.hold(bytes)?;
                            self.spend(layer.pixels * CLIP_NS)?;
                            self.clip_children(group, ts, layer)?;
                            self.clip(clip, ts, layer)?;
                            self.release(bytes);
                        }
                        None => self.clip_children(group, ts, layer)?,
                    }
                }
                Node::Path(_) | Node::Image(_) => {}
            }
        }
        Ok(())
    }

    /// resvg's `mask::apply`: the mask's content is drawn in full onto a
    /// layer-sized pixmap, beside a layer-sized alpha mask.
    fn mask(&mut self, mask: &Mask, ts: Transform, layer: Target) -> Result<(), Overrun> {
        if mask.root().children().is_empty() {
            return self.spend(layer.pixels * SOLID_NS);
        }
        let bytes = layer.pixels * 5.0;
        self.hold(bytes)?;
        self.spend(layer.pixels * MASK_NS)?;
        self.draw_children(mask.root(), ts, layer)?;
        if let Some(outer) = mask.mask() {
            self.mask(outer, ts, layer)?;
        }
        self.release(bytes);
        Ok(())
    }

    /// resvg's `path::render`.
    fn path(&mut self, path: &Path, ts: Transform, target: Target) -> Result<(), Overrun> {
        if !path.is_visible() {
            return Ok(());
        }
        if let Some(fill) = path.fill() {
            self.paint(fill.paint(), target.covered(path.bounding_box(), ts), ts)?;
            self.edges(path.data(), ts, target, None)?;
        }
        if let Some(stroke) = path.stroke() {
            self.paint(
                stroke.paint(),
                target.covered(path.stroke_bounding_box(), ts),
                ts,
            )?;
            self.edges(path.data(), ts, target, Some(stroke))?;
        }
        Ok(())
    }

    fn paint(&mut self, paint: &Paint, pixels: f64, ts: Transform) -> Result<(), Overrun> {
        match paint {
            Paint::Color(_) => self.spend(pixels * SOLID_NS),
            Paint::LinearGradient(_) | Paint::RadialGradient(_) => self.spend(pixels * SHADER_NS),
            Paint::Pattern(pattern) => {
                self.spend(pixels * SHADER_NS)?;
                self.pattern(pattern, ts)
            }
        }
    }

    /// resvg's `render_pattern_pixmap`: one tile, as large as the pattern's
    /// rectangle at the current scale (resvg does not clamp it), drawn anew
    /// for every fill or stroke that uses it.
    fn pattern(&mut self, pattern: &Pattern, ts: Transform) -> Result<(), Overrun> {
        let (sx, sy) = ts.pre_concat(pattern.transform()).get_scale();
        let rect = pattern.rect();
        let w = f64::from(rect.width() * sx).round();
        let h = f64::from(rect.height() * sy).round();
        // resvg draws nothing for a tile narrower than a pixel.
        if !(w >= 1.0 && h >= 1.0) {
            return Ok(());
        }
        let tile = Target {
            place: Rect::from_xywh(0.0, 0.0, w as f32, h as f32),
            pixels: w * h,
        };
        let bytes = tile.pixels * 4.0;
        self.hold(bytes)?;
        self.spend(tile.pixels * LAYER_NS)?;
        self.draw_children(pattern.root(), Transform::from_scale(sx, sy), tile)?;
        self.release(bytes);
        Ok(())
    }

    /// Scan-converting `data` (filled, or outlined by `stroke`): a price per
    /// segment, and one per row for the square of the edges active on it.
    fn edges(
        &mut self,
        data: &PathData,
        ts: Transform,
        target: Target,
        stroke: Option<&Stroke>,
    ) -> Result<(), Overrun> {
        let (sx, sy) = ts.get_scale();
        // A stroke is outlined on both sides, as far out as a miter can reach,
        // and every dash is outlined apart.
        let (outset, sides, dashes_per_unit) = match stroke {
            Some(stroke) => {
                let reach = stroke.width().get() / 2.0 * stroke.miterlimit().get().max(1.0);
                (reach * sx.max(sy), 2.0, dash_density(stroke, data))
            }
            None => (0.0, 1.0, 0.0),
        };
        let rows = target.place.map(|r| (r.top(), r.bottom()));
        // Each segment's device rows and how many edges it becomes.
        let mut spans: Vec<(f32, f32, f64)> = Vec::new();
        let mut start = Point::zero();
        let mut last = Point::zero();
        for segment in data.segments() {
            let (points, length) = match segment {
                PathSegment::MoveTo(p) => {
                    start = p;
                    last = p;
                    continue;
                }
                PathSegment::LineTo(p) => ([last, p, p, p], last.distance(p)),
                PathSegment::QuadTo(c, p) => ([last, c, p, p], last.distance(c) + c.distance(p)),
                PathSegment::CubicTo(c1, c2, p) => (
                    [last, c1, c2, p],
                    last.distance(c1) + c1.distance(c2) + c2.distance(p),
                ),
                PathSegment::Close => ([last, start, start, start], last.distance(start)),
            };
            last = points[3];
            let mut mapped = points;
            ts.map_points(&mut mapped);
            let top = mapped.iter().map(|p| p.y).fold(f32::INFINITY, f32::min) - outset;
            let bottom = mapped.iter().map(|p| p.y).fold(f32::NEG_INFINITY, f32::max) + outset;
            let (top, bottom) = match rows {
                Some((first, last)) => (top.max(first), bottom.min(last)),
                None => (top, bottom),
            };
            // Off the target, or not finite: tiny-skia drops it.
            if top <= bottom {
                let edges = sides * (1.0 + f64::from(length) * dashes_per_unit);
                spans.push((top, bottom, edges));
            }
        }
        let edge_count: f64 = spans.iter().map(|s| s.2).sum();
        self.spend(edge_count * SEGMENT_NS)?;
        self.spend(crossings(&spans) * CROSSING_NS)
    }
}

/// Dashes per unit of path length, as tiny-skia will cut them (it gives up,
/// drawing nothing, beyond [`MAX_DASHES`]).
fn dash_density(stroke: &Stroke, data: &PathData) -> f64 {
    let Some(dashes) = stroke.dasharray() else {
        return 0.0;
    };
    let interval: f64 = dashes.iter().map(|&d| f64::from(d)).sum();
    if interval.is_nan() || interval <= 0.0 {
        return 0.0;
    }
    let per_unit = (dashes.len() / 2) as f64 / interval;
    let length: f64 = data
        .points()
        .windows(2)
        .map(|w| f64::from(w[0].distance(w[1])))
        .sum();
    if length * per_unit > MAX_DASHES {
        MAX_DASHES / length
    } else {
        per_unit
    }
}

/// Σ over device rows of the square of the edges active on the row, for
/// edges given as (top, bottom, count). Rows are merged into at most
/// [`MAX_BUCKETS`] buckets, and an edge counts on every bucket it touches.
fn crossings(spans: &[(f32, f32, f64)]) -> f64 {
    let Some(top) = spans.iter().map(|s| s.0).reduce(f32::min) else {
        return 0.0;
    };
    let bottom = spans.iter().map(|s| s.1).fold(top, f32::max);
    let rows = f64::from(bottom - top).max(1.0);
    let buckets = rows.min(4.0 * spans.len() as f64).clamp(1.0, MAX_BUCKETS);
    let rows_per_bucket = rows / buckets;
    let count = buckets as usize;
    let bucket = |y: f32| ((f64::from(y - top) / rows_per_bucket) as usize).min(count - 1);
    let mut starts = vec![0.0; count + 1];
    for &(first, last, edges) in spans {
        starts[bucket(first)] += edges;
        starts[bucket(last) + 1] -= edges;
    }
    let mut active = 0.0;
    let mut sum = 0.0;
    for change in &starts[..count] {
        active += change;
        sum += active * active;
    }
    sum * rows_per_bucket
}

#[cfg(test)]
mod tests {
    use super::*;
    use resvg::usvg;

    /// The price of drawing `body` in a 100×100 viewBox at `size` px, within
    /// `budget`.
    fn price_within(body: &str, size: u32, budget: Duration) -> Result<f64, Overrun> {
        let svg =
            format!("<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 100 100'>{body}</svg>");
        let tree = usvg::Tree::from_str(&svg, &usvg::Options::default()).expect("parses");
        let scale = size as f32 / 100.0;
        let mut price = Price::new(size, size, budget, 1 << 30);
        price.children(tree.root(), Transform::from_scale(scale, scale))?;
        Ok(price.spent_ns)
    }

    fn price(body: &str, size: u32) -> f64 {
        price_within(body, size, Duration::from_secs(1_000)).expect("within budget")
    }

    #[test]
    fn prices_follow_the_pixels_touched() {
        let rect = "<rect width='100' height='100'/>";
        let small = price(rect, 200);
        let large = price(rect, 1024);
        assert!(large > 10.0 * small, "{small} vs {large}");
        // Parts of a shape beyond the canvas cost nothing.
        let huge = price("<rect x='-1e6' y='-1e6' width='2e6' height='2e6'/>", 200);
        assert!(huge < 2.0 * small, "{small} vs {huge}");
    }

    #[test]
    fn crossing_edges_cost_quadratically() {
        let crossing = |n: usize| {
            let d: String = (0..n)
                .map(|i| format!("L{} {} ", (i * 37) % 100, (i * 61) % 100))
                .collect();
            format!("<path d='M0 0 {d}'/>")
        };
        let short = price(&crossing(1_000), 200);
        let long = price(&crossing(10_000), 200);
        assert!(long > 50.0 * short, "{short} vs {long}");
        // As many segments in small separate squares cost far less.
        let squares: String = (0..2_500)
            .map(|i| format!("M{} {} h0.5 v0.5 h-0.5 z ", (i % 50) * 2, (i / 50) * 2))
            .collect();
        let local = price(&format!("<path d='{squares}'/>"), 200);
        assert!(local < long / 50.0, "{local} vs {long}");
    }

    #[test]
    fn resources_are_priced_at_every_use() {
        let mut defs =
            String::from("<mask id='m0'><rect width='100' height='100' fill='white'/></mask>");
        for level in 1..=4 {
            let uses = format!(
                "<rect width='100' height='100' fill='white' mask='url(#m{})'/>",
                level - 1
            )
            .repeat(10);
            defs += &format!("<mask id='m{level}'>{uses}</mask>");
        }
        let masked = |id: &str| format!("{defs}<rect width='100' height='100' mask='url(#{id})'/>");
        let once = price(&masked("m0"), 200);
        let fanned_out = price(&masked("m4"), 200);
        assert!(fanned_out > 5_000.0 * once, "{once} vs {fanned_out}");
    }

    #[test]
    fn held_pixmaps_are_bounded() {
        let tile = "<pattern id='p' width='1e5' height='1e5' patternUnits='userSpaceOnUse'>\
            <rect width='5' height='5'/></pattern><rect width='100' height='100' fill='url(#p)'/>";
        assert!(matches!(
            price_within(tile, 200, Duration::from_secs(1)),
            Err(Overrun::Memory)
        ));
    }

    #[test]
    fn pricing_stops_at_the_budget() {
        let dilate = "<filter id='f'><feMorphology radius='1e6'/></filter>\
            <rect width='100' height='100' filter='url(#f)'/>";
        assert!(matches!(
            price_within(dilate, 200, Duration::from_secs(1)),
            Err(Overrun::Time)
        ));
    }
}
