//! The first character of what sanitize-html would output for a name.
//!
//! Rocket.Chat takes an initial as `sanitizeHtml(name).substring(0, 1)`,
//! with sanitize-html's default options on top of htmlparser2. Only that
//! first character matters, so rather than a sanitiser this is a tokenizer,
//! following htmlparser2's states, that stops at the first thing
//! sanitize-html would write:
//! - text: entities decoded, then `&`, `<` and `>` re-escaped, so those
//!   come out as `&` (the start of `&amp;`, `&lt;`, `&gt;`);
//! - a tag on sanitize-html's default allow-list: `<`.
//!
//! Disallowed tags vanish but keep their text, except `script`, `style`,
//! `textarea` and `option`, whose content vanishes too; comments,
//! declarations and processing instructions vanish.
//!
//! Known approximations, all in malformed or exotic markup: htmlparser2's
//! implied end tags (a new `<option>` closing the previous one) and its
//! foreign-content (`<svg>`, `<math>`) rules are not modelled, and only some
//! named entities are known (see [`super::entities`]).

use super::entities;

/// sanitize-html's default `allowedTags`.
#[rustfmt::skip]
const ALLOWED: &[&str] = &[
    "address", "article", "aside", "footer", "header", "h1", "h2", "h3", "h4", "h5", "h6",
    "hgroup", "main", "nav", "section", "blockquote", "dd", "div", "dl", "dt", "figcaption",
    "figure", "hr", "li", "menu", "ol", "p", "pre", "ul", "a", "abbr", "b", "bdi", "bdo", "br",
    "cite", "code", "data", "dfn", "em", "i", "kbd", "mark", "q", "rb", "rp", "rt", "rtc", "ruby",
    "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var", "wbr", "caption",
    "col", "colgroup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
];

/// sanitize-html's default `nonTextTags`: dropped together with their text.
const NON_TEXT: &[&str] = &["script", "style", "textarea", "option"];

/// htmlparser2's void elements, which close as soon as they open.
const VOID: &[&str] = &[
    "area", "base", "basefont", "br", "col", "command", "embed", "frame", "hr", "image", "img",
    "input", "isindex", "keygen", "link", "meta", "param", "source", "track", "wbr",
];

/// Elements whose content htmlparser2 reads as raw text up to the end tag.
const RAW_TEXT: &[&str] = &["script", "style", "title"];

/// The first code point sanitize-html's output would start with, if any.
pub(super) fn first_char(html: &str) -> Option<char> {
    Tokenizer {
        html,
        pos: 0,
        open: Vec::new(),
        skip_depth: 0,
    }
    .run()
}

struct Tokenizer<'a> {
    html: &'a str,
    pos: usize,
    /// htmlparser2's stack of open elements.
    open: Vec<String>,
    /// sanitize-html's `skipTextDepth`: inside a dropped non-text element.
    skip_depth: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Entities {
    Decode,
    Raw,
}

impl Tokenizer<'_> {
    fn run(&mut self) -> Option<char> {
        while self.pos < self.html.len() {
            let start = self.pos;
            let output = if self.html[start..].starts_with('<') {
                self.markup(start)
            } else {
                let end = self.find(start, "<").unwrap_or(self.html.len());
                self.pos = end;
                self.text(&self.html[start..end], Entities::Decode)
            };
            if output.is_some() {
                return output;
            }
        }
        None
    }

    /// What text contributes: its first character, escaped.
    fn text(&self, text: &str, entities: Entities) -> Option<char> {
        if self.skip_depth > 0 {
            return None;
        }
        let first = match entities {
            Entities::Decode if text.starts_with('&') => {
                entities::decode(&text[1..]).unwrap_or('&')
            }
            _ => text.chars().next()?,
        };
        Some(if matches!(first, '<' | '>') {
            '&'
        } else {
            first
        })
    }

    fn markup(&mut self, start: usize) -> Option<char> {
        let after = &self.html[start + 1..];
        match after.bytes().next() {
            Some(b'!') => self.declaration(start + 2),
            Some(b'?') => self.bogus(start + 2),
            Some(b'/') => self.end_tag(start),
            Some(c) if c.is_ascii_alphabetic() => self.start_tag(start + 1),
            // Not markup: the `<` is text.
            _ => {
                self.pos = start + 1;
                self.text("<", Entities::Raw)
            }
        }
    }

    /// After `<!`: a comment, CDATA (a comment outside XML) or a declaration.
    fn declaration(&mut self, body: usize) -> Option<char> {
        let rest = &self.html[body..];
        let close = if rest.starts_with("--") {
            // `<!-->` and `<!--->` are complete comments: the opening dashes count.
            Some((self.find(body, "-->"), 3))
        } else if rest.starts_with("[CDATA[") {
            Some((self.find(body + 7, "]]>"), 3))
        } else {
            None
        };
        match close {
            Some((end, len)) => {
                // An unterminated comment or CDATA section swallows the rest.
                self.pos = end.map_or(self.html.len(), |e| e + len);
                None
            }
            None => self.bogus(body),
        }
    }

    /// Declarations, processing instructions and bogus comments end at the
    /// next `>`; unterminated, htmlparser2 emits their body as text.
    fn bogus(&mut self, body: usize) -> Option<char> {
        match self.find(body, ">") {
            Some(end) => {
                self.pos = end + 1;
                None
            }
            None => {
                self.pos = self.html.len();
                self.text(&self.html[body..], Entities::Raw)
            }
        }
    }

    fn end_tag(&mut self, start: usize) -> Option<char> {
        let mut i = start + 2;
        while self.html.as_bytes().get(i).is_some_and(|&c| is_space(c)) {
            i += 1;
        }
        match self.html.as_bytes().get(i) {
            None => {
                self.pos = self.html.len();
                self.text(&self.html[start..], Entities::Raw)
            }
            Some(b'>') => {
                self.pos = i + 1;
                None
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let name_end = self.name_end(i, |c| c == b'>' || is_space(c));
                let Some(gt) = self.find(name_end, ">") else {
                    self.pos = self.html.len();
                    return None;
                };
                self.pos = gt + 1;
                let name = self.html[i..name_end].to_lowercase();
                self.close(&name)
            }
            Some(_) => self.bogus(i),
        }
    }

    fn start_tag(&mut self, name_start: usize) -> Option<char> {
        let name_end = self.name_end(name_start, |c| c == b'/' || c == b'>' || is_space(c));
        let name = self.html[name_start..name_end].to_lowercase();
        let Some((tag_end, self_closing)) = self.attributes_end(name_end) else {
            // Unterminated tags are dropped.
            self.pos = self.html.len();
            return None;
        };
        self.pos = tag_end + 1;
        if let Some(c) = self.opened(&name) {
            return Some(c);
        }
        if VOID.contains(&name.as_str()) {
            self.closed();
        } else {
            self.open.push(name.clone());
            if !self_closing && RAW_TEXT.contains(&name.as_str()) {
                return self.raw_text(&name);
            }
        }
        None
    }

    /// Content of `<script>`, `<style>` and `<title>` up to the matching end tag.
    fn raw_text(&mut self, name: &str) -> Option<char> {
        let start = self.pos;
        let closing = format!("</{name}");
        let lower = self.html[start..].to_ascii_lowercase();
        let end = lower
            .match_indices(&closing)
            .map(|(i, _)| start + i)
            .find(|&i| {
                self.html
                    .as_bytes()
                    .get(i + closing.len())
                    .is_some_and(|&c| c == b'>' || is_space(c))
            });
        let entities = if name == "title" {
            Entities::Decode
        } else {
            Entities::Raw
        };
        let Some(end) = end else {
            self.pos = self.html.len();
            return self.text(&self.html[start..], entities);
        };
        if let Some(c) = self.text(&self.html[start..end], entities) {
            return Some(c);
        }
        self.pos = self
            .find(end + closing.len(), ">")
            .map_or(self.html.len(), |gt| gt + 1);
        self.close(name)
    }

    /// Skips attributes; returns the index of the closing `>` and whether
    /// the tag ended in `/>`.
    fn attributes_end(&self, from: usize) -> Option<(usize, bool)> {
        #[derive(Clone, Copy)]
        enum State {
            BeforeName,
            Name,
            AfterName,
            BeforeValue,
            Quoted(u8),
            Unquoted,
            SelfClosing,
        }
        let bytes = self.html.as_bytes();
        let mut state = State::BeforeName;
        let mut i = from;
        while let Some(&c) = bytes.get(i) {
            state = match (state, c) {
                (State::BeforeName, b'>') | (State::Unquoted, b'>') => return Some((i, false)),
                (State::SelfClosing, b'>') => return Some((i, true)),
                (State::BeforeName | State::SelfClosing, c) if is_space(c) => state,
                (State::BeforeName, b'/') => State::SelfClosing,
                (State::BeforeName, _) => State::Name,
                (State::SelfClosing, _) => {
                    state = State::BeforeName;
                    continue;
                }
                (State::Name | State::AfterName, b'=') => State::BeforeValue,
                (State::Name | State::AfterName, b'>' | b'/') => {
                    state = State::BeforeName;
                    continue;
                }
                (State::Name, c) if is_space(c) => State::AfterName,
                (State::Name, _) => State::Name,
                (State::AfterName, c) if is_space(c) => State::AfterName,
                (State::AfterName, _) => State::Name,
                (State::BeforeValue, b'"' | b'\'') => State::Quoted(c),
                (State::BeforeValue, c) if is_space(c) => State::BeforeValue,
                (State::BeforeValue, _) => {
                    state = State::Unquoted;
                    continue;
                }
                (State::Quoted(q), c) if c == q => State::BeforeName,
                (State::Quoted(q), _) => State::Quoted(q),
                (State::Unquoted, c) if is_space(c) => State::BeforeName,
                (State::Unquoted, _) => State::Unquoted,
            };
            i += 1;
        }
        None
    }

    /// htmlparser2's end-tag handling: close the named open element and all
    /// inside it; a stray `</p>` or `</br>` produces an element.
    fn close(&mut self, name: &str) -> Option<char> {
        if VOID.contains(&name) {
            if name == "br" {
                return self.opened("br").or_else(|| {
                    self.closed();
                    None
                });
            }
        } else if let Some(at) = self.open.iter().rposition(|n| n == name) {
            for _ in at..self.open.len() {
                self.closed();
            }
            self.open.truncate(at);
        } else if name == "p" {
            if let Some(c) = self.opened("p") {
                return Some(c);
            }
            self.closed();
        }
        None
    }

    /// sanitize-html's `onopentag`.
    fn opened(&mut self, name: &str) -> Option<char> {
        if self.skip_depth > 0 {
            self.skip_depth += 1;
            None
        } else if ALLOWED.contains(&name) {
            Some('<')
        } else {
            if NON_TEXT.contains(&name) {
                self.skip_depth = 1;
            }
            None
        }
    }

    /// sanitize-html's `onclosetag`, as far as it matters here.
    fn closed(&mut self) {
        self.skip_depth = self.skip_depth.saturating_sub(1);
    }

    fn find(&self, from: usize, needle: &str) -> Option<usize> {
        self.html[from..].find(needle).map(|i| from + i)
    }

    fn name_end(&self, from: usize, ends: impl Fn(u8) -> bool) -> usize {
        self.html.as_bytes()[from..]
            .iter()
            .position(|&c| ends(c))
            .map_or(self.html.len(), |i| from + i)
    }
}

/// htmlparser2's whitespace.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\t' | b'\x0C' | b'\r')
}

#[cfg(test)]
mod tests {
    use super::first_char;

    #[test]
    fn plain_text() {
        assert_eq!(first_char("arthur"), Some('a'));
        assert_eq!(first_char("山田 太郎"), Some('山'));
        assert_eq!(first_char(" lead"), Some(' '));
        assert_eq!(first_char(""), None);
    }

    #[test]
    fn allowed_tags_survive_as_markup() {
        assert_eq!(first_char("<b>bold</b>"), Some('<'));
        assert_eq!(first_char("<A HREF='x'>link</a>"), Some('<'));
        assert_eq!(first_char("<br>x"), Some('<'));
        assert_eq!(first_char("</p>x"), Some('<'));
        assert_eq!(first_char("</br>x"), Some('<'));
    }

    #[test]
    fn disallowed_tags_keep_their_text() {
        assert_eq!(first_char("<img src=x onerror=alert(1)>bob"), Some('b'));
        assert_eq!(first_char("<font color=red>zed</font>"), Some('z'));
        assert_eq!(first_char("<x a=\"1>2\" b='3>4' c=5>kim"), Some('k'));
        assert_eq!(first_char("</b>x"), Some('x'));
        assert_eq!(first_char("</ >x"), Some('x'));
        assert_eq!(first_char("<title><b>t</title>"), Some('&'));
    }

    #[test]
    fn non_text_tags_drop_their_content() {
        assert_eq!(first_char("<script>alert('<b>')</script>eve"), Some('e'));
        assert_eq!(first_char("<STYLE>p{}</style >sam"), Some('s'));
        assert_eq!(first_char("<textarea><i>no</i></textarea>yes"), Some('y'));
        assert_eq!(first_char("<textarea><br>no</textarea>yes"), Some('y'));
        assert_eq!(first_char("<option>only"), None);
        assert_eq!(first_char("<script>never closed"), None);
    }

    #[test]
    fn comments_and_declarations_vanish() {
        assert_eq!(first_char("<!-- note -->zoe"), Some('z'));
        assert_eq!(first_char("<!-->a"), Some('a'));
        assert_eq!(first_char("<!--->a"), Some('a'));
        assert_eq!(first_char("<!DOCTYPE html>dan"), Some('d'));
        assert_eq!(first_char("<?php echo ?>pat"), Some('p'));
        assert_eq!(first_char("<![CDATA[x]]>cat"), Some('c'));
        assert_eq!(first_char("<!-- unterminated"), None);
        assert_eq!(first_char("<!unterminated"), Some('u'));
        assert_eq!(first_char("<b unterminated"), None);
    }

    #[test]
    fn special_characters_are_escaped() {
        assert_eq!(first_char("&co"), Some('&'));
        assert_eq!(first_char("<3 you"), Some('&'));
        assert_eq!(first_char(">x"), Some('&'));
        assert_eq!(first_char("<"), Some('&'));
        assert_eq!(first_char("</"), Some('&'));
        assert_eq!(first_char("&lt;b&gt;"), Some('&'));
        assert_eq!(first_char("&amp;"), Some('&'));
        assert_eq!(first_char("&unknown;"), Some('&'));
        assert_eq!(first_char("&Eacute;mile"), Some('É'));
    }
}
