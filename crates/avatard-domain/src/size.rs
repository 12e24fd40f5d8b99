//! Human-readable byte sizes as the npm `filesize` package (v10 defaults) prints them, which is
//! what Rocket.Chat puts in "File size exceeds upload limit of …".

const UNITS: &[&str] = &["B", "kB", "MB", "GB", "TB", "PB", "EB"];

/// Base 10, at most two decimals, trailing zeros dropped: 104857600 → "104.86 MB".
pub fn human_size(bytes: u64) -> String {
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let rounded = (value * 100.0).round() / 100.0;
    format!("{rounded} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn formats_like_filesize() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1000), "1 kB");
        assert_eq!(human_size(1536), "1.54 kB");
        assert_eq!(human_size(104_857_600), "104.86 MB");
    }
}
