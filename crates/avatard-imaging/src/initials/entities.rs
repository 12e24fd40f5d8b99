//! Decoding the HTML character reference at the start of a name.
//!
//! htmlparser2 decodes entities in text before sanitize-html re-escapes it,
//! so `&Eacute;mile` has the initial `É`. Numeric references follow the
//! `entities` package exactly. Of the ~2000 named references only the Latin-1
//! set (the ones that plausibly start a name) plus a few others are known;
//! an unknown one stays literal, giving the initial `&`.

/// Latin-1 entity names for U+00A0..=U+00FF, in code point order. All of
/// them are "legacy" entities, recognised in text even without `;`.
const LATIN1: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
    "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
    "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute",
    "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute",
    "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute",
    "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
    "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde",
    "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc",
    "uuml", "yacute", "thorn", "yuml",
];

/// Other legacy (semicolon-optional) entities.
const LEGACY: &[(&str, char)] = &[
    ("amp", '&'),
    ("AMP", '&'),
    ("lt", '<'),
    ("LT", '<'),
    ("gt", '>'),
    ("GT", '>'),
    ("quot", '"'),
    ("QUOT", '"'),
    ("COPY", '©'),
    ("REG", '®'),
];

/// Decodes the entity at the start of `rest` (just after a `&` in text).
pub(super) fn decode(rest: &str) -> Option<char> {
    if let Some(number) = rest.strip_prefix('#') {
        let (radix, digits) = match number.strip_prefix(['x', 'X']) {
            Some(hex) => (16, hex),
            None => (10, number),
        };
        let len = digits
            .bytes()
            .take_while(|c| (*c as char).is_digit(radix))
            .count();
        if len == 0 {
            return None;
        }
        let value = digits[..len].chars().fold(0u32, |acc, c| {
            acc.saturating_mul(radix)
                .saturating_add(c.to_digit(radix).unwrap_or(0))
        });
        return Some(numeric_reference(value));
    }
    let name_len = rest.bytes().take_while(u8::is_ascii_alphanumeric).count();
    let name = &rest[..name_len];
    if name == "apos" && rest[name_len..].starts_with(';') {
        return Some('\'');
    }
    // The longest legacy entity that prefixes the name wins; legacy entities
    // need no semicolon in text.
    (1..=name.len()).rev().find_map(|len| named(&name[..len]))
}

fn named(name: &str) -> Option<char> {
    if let Some(&(_, c)) = LEGACY.iter().find(|(n, _)| *n == name) {
        return Some(c);
    }
    let index = LATIN1.iter().position(|n| *n == name)?;
    char::from_u32(0xA0 + index as u32)
}

/// The `entities` package's `replaceCodePoint`: NUL, surrogates and values
/// beyond Unicode become U+FFFD; C1 controls are read as Windows-1252.
fn numeric_reference(value: u32) -> char {
    const WINDOWS_1252: [u16; 32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
        0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ];
    let mapped = match value {
        0 => 0xFFFD,
        0x80..=0x9F => u32::from(WINDOWS_1252[(value - 0x80) as usize]),
        _ => value,
    };
    char::from_u32(mapped).unwrap_or('\u{FFFD}')
}

#[cfg(test)]
mod tests {
    use super::decode;

    /// Decodes `text`, which starts with `&`.
    fn first(text: &str) -> Option<char> {
        text.strip_prefix('&').and_then(decode)
    }

    #[test]
    fn entities_are_decoded() {
        assert_eq!(first("&Eacute;mile"), Some('É'));
        assert_eq!(first("&eacutemile"), Some('é'));
        assert_eq!(first("&quot;q"), Some('"'));
        assert_eq!(first("&apos;a"), Some('\''));
        assert_eq!(first("&apos"), None);
        assert_eq!(first("&#65;"), Some('A'));
        assert_eq!(first("&#x42"), Some('B'));
        assert_eq!(first("&#0;"), Some('\u{FFFD}'));
        assert_eq!(first("&#128;"), Some('€'));
        assert_eq!(first("&#xD800;"), Some('\u{FFFD}'));
        assert_eq!(first("&#99999999999;"), Some('\u{FFFD}'));
        assert_eq!(first("&#x1F600;"), Some('😀'));
        assert_eq!(first("&#;"), None);
        assert_eq!(first("&unknown;"), None);
    }
}
