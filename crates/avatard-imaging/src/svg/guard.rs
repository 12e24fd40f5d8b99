//! Measuring an SVG document before usvg builds a tree from it.
//!
//! The size of the file says little about the work it causes:
//! - XML entities can expand a few kilobytes into gigabytes of text;
//!   roxmltree limits their nesting but not how often they are used, so
//!   entity declarations are refused outright (real-world avatars do not
//!   need them).
//! - usvg copies the referenced subtree for every `<use>`, so `<use>` chains
//!   grow exponentially ("use bombs"), and it instantiates a `<marker>`'s
//!   content at every vertex of every path that uses it. The node budget
//!   therefore counts what usvg will build, not what the file contains.
//! - Deep nesting makes usvg and resvg recurse deeply.

use std::collections::{HashMap, HashSet};

use resvg::usvg::roxmltree::{self, Document, Node, NodeId, ParsingOptions};

use crate::{ImageError, Limits};

/// Deepest element nesting accepted, counting elements pulled in by `<use>`.
pub(super) const MAX_DEPTH: usize = 256;

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
    Budget::new(&doc, limits.max_svg_nodes).check(&doc)?;
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

/// Size and height of a subtree once `<use>` references are expanded.
#[derive(Clone, Copy)]
struct Expanded {
    nodes: usize,
    height: usize,
}

struct Budget<'a, 'input> {
    max_nodes: usize,
    ids: HashMap<&'a str, Node<'a, 'input>>,
    memo: HashMap<NodeId, Expanded>,
    /// Nodes being expanded; a reference back to one of them is a cycle,
    /// which usvg drops, so it adds nothing.
    in_progress: HashSet<NodeId>,
}

impl<'a, 'input> Budget<'a, 'input> {
    fn new(doc: &'a Document<'input>, max_nodes: usize) -> Self {
        let ids = doc
            .descendants()
            .filter_map(|n| n.attribute("id").map(|id| (id, n)))
            .collect();
        Budget {
            max_nodes,
            ids,
            memo: HashMap::new(),
            in_progress: HashSet::new(),
        }
    }

    fn check(mut self, doc: &'a Document<'input>) -> Result<(), ImageError> {
        let mut total = self.expand(doc.root_element(), 1)?.nodes;
        let marker = doc
            .descendants()
            .filter(|n| n.has_tag_name("marker"))
            .map(|n| self.expand(n, 1).map(|e| e.nodes))
            .try_fold(0, |max, nodes| nodes.map(|n| max.max(n)))?;
        if marker > 0 {
            // Assume the largest marker sits on every vertex of every shape.
            let vertices = doc
                .descendants()
                .map(vertex_estimate)
                .fold(0usize, usize::saturating_add);
            total = total.saturating_add(vertices.saturating_mul(marker));
        }
        if total > self.max_nodes {
            return Err(ImageError::TooLarge(format!(
                "the SVG image has more than {} elements",
                self.max_nodes
            )));
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
        let linked = self.use_target(node);
        for next in node.children().chain(linked) {
            if self.in_progress.contains(&next.id()) {
                continue;
            }
            let sub = self.expand(next, depth + 1)?;
            nodes = nodes.saturating_add(sub.nodes);
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
        };
        self.memo.insert(node.id(), expanded);
        Ok(expanded)
    }

    /// The element a `<use>` copies, if it names one in this document.
    fn use_target(&self, node: Node<'a, 'input>) -> Option<Node<'a, 'input>> {
        if !node.has_tag_name("use") {
            return None;
        }
        let href = node.attributes().find(|a| a.name() == "href")?.value();
        let id = href.trim().strip_prefix('#')?;
        self.ids.get(id).copied()
    }
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
