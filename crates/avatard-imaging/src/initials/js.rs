//! The two JavaScript number conversions Rocket.Chat's output depends on:
//! `parseInt` for the `size` query parameter and `Number.prototype.toString`
//! for the font size written into the SVG.

/// `parseInt(text)` without a radix; `None` stands for `NaN`.
pub(super) fn parse_int(text: &str) -> Option<f64> {
    let text = text.trim_start_matches(is_js_whitespace);
    let (negative, text) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = match text.get(..2) {
        Some("0x" | "0X") => (16, &text[2..]),
        _ => (10, text),
    };
    let mut value: Option<f64> = None;
    for digit in digits.chars().map_while(|c| c.to_digit(radix)) {
        value = Some(value.unwrap_or(0.0) * f64::from(radix) + f64::from(digit));
    }
    value.map(|v| if negative { -v } else { v })
}

/// ECMAScript's StrWhiteSpaceChar: WhiteSpace and LineTerminator.
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{9}'
            | '\u{A}'
            | '\u{B}'
            | '\u{C}'
            | '\u{D}'
            | '\u{20}'
            | '\u{A0}'
            | '\u{1680}'
            | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

/// `String(number)`: the shortest round-trip digits (which Rust's float
/// formatting also produces), laid out by ECMAScript's Number::toString rules.
pub(super) fn number_to_string(number: f64) -> String {
    if number.is_nan() {
        return "NaN".into();
    }
    if number == 0.0 {
        return "0".into();
    }
    if number < 0.0 {
        return format!("-{}", number_to_string(-number));
    }
    if number.is_infinite() {
        return "Infinity".into();
    }
    // `{:e}` gives "d.ddde±x" with the shortest round-trip digits.
    let scientific = format!("{number:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i64;
    // ECMAScript's n: the value is digits × 10^(n − k).
    let n = exponent.parse::<i64>().unwrap_or(0) + 1;
    if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        format!("{int}.{frac}")
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let sign = if n - 1 < 0 { '-' } else { '+' };
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        format!("{first}{dot}{rest}e{sign}{}", (n - 1).abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_int_like_javascript() {
        assert_eq!(parse_int("64"), Some(64.0));
        assert_eq!(parse_int("12abc"), Some(12.0));
        assert_eq!(parse_int("  \t\u{A0}\u{FEFF}42"), Some(42.0));
        assert_eq!(parse_int("-3"), Some(-3.0));
        assert_eq!(parse_int("+7"), Some(7.0));
        assert_eq!(parse_int("0x1F"), Some(31.0));
        assert_eq!(parse_int("-0x10"), Some(-16.0));
        assert_eq!(parse_int("12.9"), Some(12.0));
        assert_eq!(parse_int("1e3"), Some(1.0));
        assert_eq!(parse_int("abc"), None);
        assert_eq!(parse_int(""), None);
        assert_eq!(parse_int("-"), None);
        assert_eq!(parse_int("0x"), None);
        assert_eq!(parse_int("Infinity"), None);
        assert_eq!(parse_int("\u{85}5"), None);
        assert_eq!(parse_int(&"9".repeat(400)), Some(f64::INFINITY));
    }

    #[test]
    fn numbers_print_like_javascript() {
        let cases = [
            (125.0, "125"),
            (62.5, "62.5"),
            (100.0, "100"),
            (80.0, "80"),
            (200.0 / 1.6, "125"),
            (16.0 / (1.6 + 0.9), "6.4"),
            (1.0 / 3.0, "0.3333333333333333"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (123456789012345680000.0, "123456789012345680000"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1.25e-7, "1.25e-7"),
            (-2.5, "-2.5"),
            (0.0, "0"),
            (-0.0, "0"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
        ];
        for (number, expected) in cases {
            assert_eq!(number_to_string(number), expected, "{number:?}");
        }
    }
}
