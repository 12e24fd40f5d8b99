//! Measuring an SVG document before usvg builds a tree from it.
//!
//! The size of the file says little about the work it causes:
//! - XML entities can expand a few kilobytes into gigabytes of text;
//!   roxmltree limits their nesting but not how often they are used, so
//!   entity declarations are refused outright (real-world avatars do not
//!   need them).
//! - usvg copies the referenced subtree for every `<use>` and `<feImage>`, so
//!   `<use>` chains grow exponentially ("use bombs"); it converts patterns,
//!   and masks, clip paths and filters in `objectBoundingBox` units, anew for
//!   every element that refers to them, so masks whose content is masked grow
//!   the same way (five levels of ten: 2.7 s of parsing from 3 kB); and it
//!   instantiates a `<marker>`'s content at every vertex of every path that
//!   uses it. The node budget therefore counts what usvg will build, not what
//!   the file contains.
//! - Deep nesting makes usvg and resvg recurse deeply.
//! - Some parsing costs grow faster than the file: laying out a text is
//!   quadratic in its characters (130 kB of text: 15 s); usvg tests every CSS
//!   selector against every element, and simplecss matches descendant
//!   combinators by trying every chain of ancestors (`x g g rect` over 200
//!   nested groups: minutes); and every use of a gradient, pattern or filter
//!   walks its `href` inheritance chain for each attribute (4 900 chained
//!   gradients, each used once: 4 s). Each is bounded well above what real
//!   avatars need.

use std::collections::{HashMap, HashSet};

use resvg::usvg::roxmltree::{self, Document, Node, NodeId, ParsingOptions};

use crate::{ImageError, Limits};

/// Deepest element nesting accepted, counting elements pulled in by `<use>`
/// and by references to the resources usvg copies for each use.
pub(super) const MAX_DEPTH: usize = 256;

/// Most characters of text, counted after `<use>` expansion: a page of
/// prose, far beyond the few words of an avatar, and laid out in under half
/// a second even as one long line.
pub(super) const MAX_TEXT_CHARS: usize = 10_000;

/// Most selector tests usvg may make while applying CSS (one per selector and
/// element, and one per chain of ancestors a descendant combinator makes it
/// try), each about 40 ns: 0.4 s. A stylesheet of 300 classes over 10 000
/// elements makes 3 million.
pub(super) const MAX_SELECTOR_TESTS: f64 = 10_000_000.0;

/// Longest `href` inheritance chain between gradients, patterns and filters;
/// exporters write one link, to share a gradient's stops.
pub(super) const MAX_HREF_CHAIN: usize = 32;

/// Parses `text` and checks it against the limits.
pub(super) fn parse<'input>(
    text: &'input str,
    limits: &Limits,
) -> Result<Document<'input>, ImageError> {
    if text.contains("<!ENTITY") {
        return Err(ImageError::Unsupported(
            "SVG images that declare XML entities are not supported".into(),
        ));
    }
    // The document root is a node too; the limit is on the nodes below it.
    let nodes_limit = u32::try_from(limits.max_svg_nodes.saturating_add(1)).unwrap_or(u32::MAX);
    let options = ParsingOptions {
        // A plain `<!DOCTYPE svg PUBLIC ...>` is common in exported files;
        // entity declarations were refused above.
        allow_dtd: true,
        nodes_limit,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::NodesLimitReached => too_many_nodes(limits),
        other => ImageError::Invalid(format!("the SVG image could not be parsed: {other}")),
    })?;
    if !doc.root_element().has_tag_name("svg") {
        return Err(ImageError::Invalid(
            "the SVG image's root element is not <svg>".into(),
        ));
    }
    let budget = Budget::new(&doc, limits.max_svg_nodes);
    budget.check_links(&doc)?;
    budget.check(&doc)?;
    // After the depth check: it measures every element's ancestors.
    check_style(&doc)?;
    Ok(doc)
}

fn too_many_nodes(limits: &Limits) -> ImageError {
    ImageError::TooLarge(format!(
        "the SVG image has more than {} elements",
        limits.max_svg_nodes
    ))
}

fn too_deep() -> ImageError {
    ImageError::TooLarge(format!(
        "the SVG image nests elements more than {MAX_DEPTH} levels deep"
    ))
}

/// Size, height and characters of text of a subtree once what usvg copies
/// (`<use>`, resources copied per use) is expanded.
#[derive(Clone, Copy)]
struct Expanded {
    nodes: usize,
    height: usize,
    chars: usize,
}

struct Budget<'a, 'input> {
    max_nodes: usize,
    ids: HashMap<&'a str, Node<'a, 'input>>,
    /// Resources copied per use that the stylesheet refers to; a rule may
    /// apply them to any element.
    styled: Vec<Node<'a, 'input>>,
    memo: HashMap<NodeId, Expanded>,
    /// Nodes being expanded; a reference back to one of them is a cycle,
    /// which usvg drops, so it adds nothing.
    in_progress: HashSet<NodeId>,
}

impl<'a, 'input> Budget<'a, 'input> {
    fn new(doc: &'a Document<'input>, max_nodes: usize) -> Self {
        let ids: HashMap<_, _> = doc
            .descendants()
            .filter_map(|n| n.attribute("id").map(|id| (id, n)))
            .collect();
        let mut seen = HashSet::new();
        let styled = stylesheet(doc)
            .iter()
            .flat_map(|css| url_ids(css))
            .filter_map(|id| ids.get(id).copied())
            .filter(|n| copied_per_use(*n) && seen.insert(n.id()))
            .collect();
        Budget {
            max_nodes,
            ids,
            styled,
            memo: HashMap::new(),
            in_progress: HashSet::new(),
        }
    }

    fn check(mut self, doc: &'a Document<'input>) -> Result<(), ImageError> {
        let root = self.expand(doc.root_element(), 1)?;
        let (mut total, mut chars) = (root.nodes, root.chars);
        let markers = doc
            .descendants()
            .filter(|n| n.has_tag_name("marker"))
            .map(|n| self.expand(n, 1))
            .collect::<Result<Vec<_>, _>>()?;
        let marker = markers.iter().map(|m| m.nodes).max().unwrap_or(0);
        if marker > 0 {
            // Assume the largest marker sits on every vertex of every shape.
            let vertices = doc
                .descendants()
                .map(vertex_estimate)
                .fold(0usize, usize::saturating_add);
            total = total.saturating_add(vertices.saturating_mul(marker));
            let marker_chars = markers.iter().map(|m| m.chars).max().unwrap_or(0);
            chars = chars.saturating_add(vertices.saturating_mul(marker_chars));
        }
        if total > self.max_nodes {
            return Err(ImageError::TooLarge(format!(
                "the SVG image has more than {} elements",
                self.max_nodes
            )));
        }
        if chars > MAX_TEXT_CHARS {
            return Err(ImageError::TooLarge(format!(
                "the SVG image has more than {MAX_TEXT_CHARS} characters of text"
            )));
        }
        Ok(())
    }

    /// Refuses `href` chains between gradients, patterns and filters longer
    /// than [`MAX_HREF_CHAIN`].
    fn check_links(&self, doc: &'a Document<'input>) -> Result<(), ImageError> {
        for node in doc.descendants().filter(|n| inherits(*n)) {
            let mut links = 0;
            let mut seen = HashSet::new();
            let mut current = node;
            // usvg stops at a cycle, and so does this walk.
            while let Some(next) = self.href_target(current).filter(|n| seen.insert(n.id())) {
                links += 1;
                if links > MAX_HREF_CHAIN {
                    return Err(ImageError::TooLarge(format!(
                        "the SVG image chains gradients, patterns or filters through more than \
                         {MAX_HREF_CHAIN} links"
                    )));
                }
                current = next;
            }
        }
        Ok(())
    }

    /// Expands `node`, found at nesting level `depth` (the root element is 1).
    fn expand(&mut self, node: Node<'a, 'input>, depth: usize) -> Result<Expanded, ImageError> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        if let Some(&known) = self.memo.get(&node.id()) {
            if depth + known.height - 1 > MAX_DEPTH {
                return Err(too_deep());
            }
            return Ok(known);
        }
        self.in_progress.insert(node.id());
        let mut nodes = 1usize;
        let mut below = 0usize;
        let mut chars = if node.is_text() && node.ancestors().any(|a| a.has_tag_name("text")) {
            node.text().map_or(0, |t| t.chars().count())
        } else {
            0
        };
        let linked = self.instances(node);
        for next in node.children().chain(linked) {
            if self.in_progress.contains(&next.id()) {
                continue;
            }
            let sub = self.expand(next, depth + 1)?;
            nodes = nodes.saturating_add(sub.nodes);
            chars = chars.saturating_add(sub.chars);
            below = below.max(sub.height);
            if nodes > self.max_nodes {
                return Err(ImageError::TooLarge(format!(
                    "the SVG image has more than {} elements",
                    self.max_nodes
                )));
            }
        }
        self.in_progress.remove(&node.id());
        let expanded = Expanded {
            nodes,
            height: below + 1,
            chars,
        };
        self.memo.insert(node.id(), expanded);
        Ok(expanded)
    }

    /// The elements usvg builds a copy of for `node`: what a `<use>` or
    /// `<feImage>` names, the pattern a pattern inherits its content from,
    /// and the resources copied per use that its attributes, its `style` or
    /// the stylesheet refer to.
    fn instances(&self, node: Node<'a, 'input>) -> Vec<Node<'a, 'input>> {
        if !node.is_element() {
            return Vec::new();
        }
        let mut instances: Vec<_> = node
            .attributes()
            .flat_map(|a| url_ids(a.value()))
            .filter_map(|id| self.ids.get(id).copied())
            .filter(|n| copied_per_use(*n))
            .chain(self.styled.iter().copied())
            .collect();
        if ["use", "feImage", "pattern"]
            .iter()
            .any(|tag| node.has_tag_name(*tag))
        {
            instances.extend(self.href_target(node));
        }
        instances
    }

    /// The element `node`'s `href` (or `xlink:href`) names in this document.
    fn href_target(&self, node: Node<'a, 'input>) -> Option<Node<'a, 'input>> {
        let href = node.attributes().find(|a| a.name() == "href")?.value();
        let id = href.trim().strip_prefix('#')?;
        self.ids.get(id).copied()
    }
}

/// Whether usvg converts `node` anew for every element that refers to it: a
/// mask, clip path or filter unless it is in `userSpaceOnUse` units (read
/// from the element alone, which can only overcount), and a pattern always
/// (usvg copies one into each user's units or context).
fn copied_per_use(node: Node) -> bool {
    let user_space = |attribute, default| {
        node.attribute(attribute)
            .map_or(default, |units: &str| units.trim() == "userSpaceOnUse")
    };
    match node.tag_name().name() {
        "mask" => !(user_space("maskUnits", false) && user_space("maskContentUnits", true)),
        "clipPath" => !user_space("clipPathUnits", true),
        "filter" => !(user_space("filterUnits", false) && user_space("primitiveUnits", true)),
        "pattern" => true,
        _ => false,
    }
}

/// The ids in the `url(#id)` references of a presentation attribute, a
/// `style` attribute or a stylesheet.
fn url_ids(value: &str) -> impl Iterator<Item = &str> {
    value.split("url(").skip(1).filter_map(|rest| {
        let inner = rest.split(')').next()?;
        inner
            .trim()
            .trim_matches(['"', '\''])
            .trim()
            .strip_prefix('#')
    })
}

/// The text of every `<style>` element.
fn stylesheet<'a>(doc: &'a Document) -> Vec<&'a str> {
    doc.descendants()
        .filter(|n| n.has_tag_name("style"))
        .flat_map(|n| n.descendants())
        .filter_map(|n| n.text())
        .collect()
}

/// Whether usvg resolves `node`'s missing attributes through its `href`.
fn inherits(node: Node) -> bool {
    ["linearGradient", "radialGradient", "pattern", "filter"]
        .iter()
        .any(|tag| node.has_tag_name(*tag))
}

/// Refuses stylesheets that would make usvg test selectors more than
/// [`MAX_SELECTOR_TESTS`] times.
///
/// A selector with `k` descendant combinators, tested against an element
/// with `d` ancestors, can try every choice of `k` of them; child and sibling
/// combinators try one. Selectors are read loosely (every text before a `{`
/// counts as a selector list, at-rules included), which can only overcount.
fn check_style(doc: &Document) -> Result<(), ImageError> {
    let css = without_comments(&stylesheet(doc).concat());
    if !css.contains('{') {
        return Ok(());
    }
    // Elements by number of ancestor elements.
    let mut at_depth: Vec<f64> = Vec::new();
    for element in doc.descendants().filter(Node::is_element) {
        let depth = element.ancestors().filter(Node::is_element).count() - 1;
        if at_depth.len() <= depth {
            at_depth.resize(depth + 1, 0.0);
        }
        at_depth[depth] += 1.0;
    }
    let mut tests = 0.0;
    for selectors in selector_lists(&css) {
        for selector in selectors.split(',') {
            let k = descendant_combinators(selector);
            tests += at_depth
                .iter()
                .enumerate()
                .map(|(d, &count)| count * choose(d, k))
                .sum::<f64>();
            if tests > MAX_SELECTOR_TESTS {
                return Err(ImageError::TooLarge(
                    "the SVG image's stylesheet is too complex".into(),
                ));
            }
        }
    }
    Ok(())
}

/// The text before each `{` of `css`: selector lists, and at-rule preludes.
fn selector_lists(css: &str) -> impl Iterator<Item = &str> {
    let mut rest = css;
    std::iter::from_fn(move || {
        let open = rest.find('{')?;
        let before = &rest[..open];
        rest = &rest[open + 1..];
        let start = before.rfind(['}', ';']).map_or(0, |i| i + 1);
        Some(&before[start..])
    })
}

/// `css` without its `/* comments */`.
fn without_comments(css: &str) -> String {
    let mut kept = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(start) = rest.find("/*") {
        kept.push_str(&rest[..start]);
        rest = rest[start + 2..]
            .find("*/")
            .map_or("", |end| &rest[start + 2 + end + 2..]);
    }
    kept.push_str(rest);
    kept
}

/// Descendant combinators (whitespace between two compound selectors) in
/// `selector`.
fn descendant_combinators(selector: &str) -> usize {
    let mut count = 0;
    let mut after_compound = false;
    let mut gap = false;
    for c in selector.chars() {
        match c {
            c if c.is_whitespace() => gap = after_compound,
            '>' | '+' | '~' => {
                after_compound = false;
                gap = false;
            }
            _ => {
                count += usize::from(gap);
                after_compound = true;
                gap = false;
            }
        }
    }
    count
}

/// `n` choose `k`, as a float that saturates to infinity.
fn choose(n: usize, k: usize) -> f64 {
    if k > n {
        return 0.0;
    }
    (0..k.min(n - k)).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// An upper bound on the vertices a marker can be drawn at. Counting digit
/// runs over-counts (`1.5` is two runs) so the estimate errs on the safe side.
fn vertex_estimate(node: Node) -> usize {
    let data = match node.tag_name().name() {
        "path" => node.attribute("d"),
        "polyline" | "polygon" => node.attribute("points"),
        "line" => return 2,
        _ => None,
    };
    let Some(data) = data else { return 0 };
    let mut runs = 0usize;
    let mut in_digits = false;
    for c in data.bytes() {
        let digit = c.is_ascii_digit();
        if digit && !in_digits {
            runs += 1;
        }
        in_digits = digit;
    }
    runs / 2 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(svg: &str) -> Result<(), ImageError> {
        parse(svg, &Limits::default()).map(drop)
    }

    fn nested(depth: usize) -> String {
        format!(
            "<svg xmlns='http://www.w3.org/2000/svg'>{}{}</svg>",
            "<g>".repeat(depth),
            "</g>".repeat(depth)
        )
    }

    #[test]
    fn ordinary_documents_pass() {
        check("<svg xmlns='http://www.w3.org/2000/svg'><rect width='10' height='10'/></svg>")
            .expect("plain svg");
        let doctype = "<?xml version='1.0'?>\n<!DOCTYPE svg PUBLIC '-//W3C//DTD SVG 1.1//EN' \
            'http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd'>\n<svg xmlns='http://www.w3.org/2000/svg'/>";
        check(doctype).expect("doctype without entities");
        check(&nested(MAX_DEPTH - 1)).expect("just under the depth limit");
    }

    #[test]
    fn deep_nesting_is_refused() {
        assert!(matches!(
            check(&nested(MAX_DEPTH)),
            Err(ImageError::TooLarge(_))
        ));
        assert!(matches!(
            check(&nested(5_000)),
            Err(ImageError::TooLarge(_))
        ));
    }

    #[test]
    fn too_many_nodes_is_refused() {
        let siblings = format!("<svg>{}</svg>", "<rect/>".repeat(20_000));
        let err = check(&siblings).unwrap_err();
        assert!(matches!(err, ImageError::TooLarge(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "the SVG image has more than 10000 elements"
        );
    }

    #[test]
    fn use_bombs_are_refused() {
        // Each level uses the previous one ten times: 10^6 rects from ~60 elements.
        let mut svg = String::from(
            "<svg xmlns='http://www.w3.org/2000/svg' xmlns:xlink='http://www.w3.org/1999/xlink'>\
             <defs><g id='l0'><rect width='1' height='1'/></g>",
        );
        for level in 1..=6 {
            svg += &format!("<g id='l{level}'>");
            for _ in 0..10 {
                svg += &format!("<use xlink:href='#l{}'/>", level - 1);
            }
            svg += "</g>";
        }
        svg += "</defs><use href='#l6'/></svg>";
        assert!(matches!(check(&svg), Err(ImageError::TooLarge(_))));
    }

    #[test]
    fn use_cycles_terminate() {
        let svg = "<svg xmlns='http://www.w3.org/2000/svg'>\
            <g id='a'><use href='#b'/></g><g id='b'><use href='#a'/></g><use href='#a'/></svg>";
        check(svg).expect("cycles are dropped, not followed");
    }

    #[test]
    fn use_chains_count_towards_depth() {
        let mut svg = String::from("<svg xmlns='http://www.w3.org/2000/svg'><defs><rect id='u0'/>");
        for i in 1..=300 {
            svg += &format!("<g id='u{i}'><use href='#u{}'/></g>", i - 1);
        }
        svg += "</defs><use href='#u300'/></svg>";
        assert!(matches!(check(&svg), Err(ImageError::TooLarge(_))));
    }

    #[test]
    fn marker_fan_out_is_counted() {
        let marker = format!("<marker id='m'>{}</marker>", "<circle r='1'/>".repeat(100));
        let points: String = (0..2_000).map(|i| format!("L{i} {i} ")).collect();
        let svg = format!(
            "<svg xmlns='http://www.w3.org/2000/svg'><defs>{marker}</defs>\
             <path d='M0 0 {points}' marker-mid='url(#m)'/></svg>"
        );
        assert!(matches!(check(&svg), Err(ImageError::TooLarge(_))));
        let small = format!(
            "<svg xmlns='http://www.w3.org/2000/svg'><defs>{marker}</defs>\
             <path d='M0 0 L10 10 L20 0' marker-mid='url(#m)'/></svg>"
        );
        check(&small).expect("a few markers are fine");
    }

    #[test]
    fn text_is_counted_after_use_expansion() {
        let text = |chars: usize, uses: usize| {
            format!(
                "<svg xmlns='http://www.w3.org/2000/svg'><defs><text id='t'>{}</text></defs>{}</svg>",
                "a".repeat(chars),
                "<use href='#t'/>".repeat(uses)
            )
        };
        check(&text(MAX_TEXT_CHARS / 2, 1)).expect("half the limit, drawn once");
        let err = check(&text(MAX_TEXT_CHARS / 2, 2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the SVG image has more than 10000 characters of text"
        );
    }

    #[test]
    fn stylesheets_that_match_too_much_are_refused() {
        let nested = |css: &str, depth: usize| {
            format!(
                "<svg xmlns='http://www.w3.org/2000/svg'><style>{css}</style>{}{}{}</svg>",
                "<g>".repeat(depth),
                "<rect/>".repeat(1_000),
                "</g>".repeat(depth)
            )
        };
        // Exported styles: classes, and shallow descendant selectors.
        let classes: String = (0..300).map(|i| format!(".st{i}{{fill:#123}} ")).collect();
        check(&nested(&format!("{classes} svg .st1, #a > path {{}}"), 20)).expect("ordinary css");
        // Every chain of two ancestors out of 200, for each rect.
        let err = check(&nested("x g rect {}", 200)).unwrap_err();
        assert_eq!(err.to_string(), "the SVG image's stylesheet is too complex");
        // Child combinators try a single ancestor.
        check(&nested("x > g > rect {}", 200)).expect("child combinators");
    }

    #[test]
    fn descendant_combinators_are_told_from_the_others() {
        assert_eq!(descendant_combinators(".a"), 0);
        assert_eq!(descendant_combinators("  svg  .a "), 1);
        assert_eq!(descendant_combinators("a > b + c ~ d"), 0);
        assert_eq!(descendant_combinators("a b>c d"), 2);
        let css = without_comments("/* x { */ a b { fill: red; } c{} /* open");
        assert_eq!(selector_lists(&css).collect::<Vec<_>>(), [" a b ", " c"]);
    }

    #[test]
    fn long_href_chains_are_refused() {
        let chain = |links: usize| {
            let mut svg = String::from(
                "<svg xmlns='http://www.w3.org/2000/svg' xmlns:xlink='http://www.w3.org/1999/xlink'>\
                 <linearGradient id='g0'><stop/></linearGradient>",
            );
            for i in 1..=links {
                svg += &format!("<linearGradient id='g{i}' xlink:href='#g{}'/>", i - 1);
            }
            svg + "</svg>"
        };
        check(&chain(MAX_HREF_CHAIN)).expect("at the limit");
        assert!(matches!(
            check(&chain(MAX_HREF_CHAIN + 1)),
            Err(ImageError::TooLarge(_))
        ));
        let cycle = "<svg xmlns='http://www.w3.org/2000/svg'><pattern id='a' href='#b'/>\
            <pattern id='b' href='#a'/></svg>";
        check(cycle).expect("cycles end the chain");
    }

    #[test]
    fn resources_copied_per_use_are_counted() {
        let fan_out = |units: &str, reference: &str| {
            let mut svg = format!(
                "<svg xmlns='http://www.w3.org/2000/svg'><clipPath id='c0' {units}><rect/></clipPath>"
            );
            for level in 1..=4 {
                let clipped = format!("<rect clip-path='url(#c{})'/>", level - 1).repeat(10);
                svg += &format!("<clipPath id='c{level}' {units}>{clipped}</clipPath>");
            }
            svg + reference + "</svg>"
        };
        // usvg shares clip paths in user space, and converts the others for
        // every element they clip.
        check(&fan_out("", "<rect clip-path='url(#c4)'/>")).expect("shared");
        let copied = "clipPathUnits='objectBoundingBox'";
        assert!(matches!(
            check(&fan_out(copied, "<rect clip-path='url(#c4)'/>")),
            Err(ImageError::TooLarge(_))
        ));
        assert!(matches!(
            check(&fan_out(
                copied,
                "<rect style='clip-path: url( \"#c4\" )'/>"
            )),
            Err(ImageError::TooLarge(_))
        ));
        // A stylesheet may apply a reference to any element.
        assert!(matches!(
            check(&fan_out(
                copied,
                "<style>.a { clip-path: url(#c4) }</style>"
            )),
            Err(ImageError::TooLarge(_))
        ));
    }

    #[test]
    fn entities_are_refused() {
        let lol = "<?xml version='1.0'?><!DOCTYPE svg [<!ENTITY a 'aaaaaaaaaa'>]>\
            <svg xmlns='http://www.w3.org/2000/svg'><text>&a;&a;&a;</text></svg>";
        assert!(matches!(check(lol), Err(ImageError::Unsupported(_))));
    }

    #[test]
    fn broken_xml_is_invalid() {
        assert!(matches!(
            check("<svg><g></svg>"),
            Err(ImageError::Invalid(_))
        ));
        assert!(matches!(check("<html/>"), Err(ImageError::Invalid(_))));
    }
}
