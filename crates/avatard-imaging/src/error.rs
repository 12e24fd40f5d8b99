//! The one error type of the crate.
//!
//! Every variant carries a complete, human-readable sentence because the
//! caller forwards `Display` verbatim into a 400 response body; the variant
//! itself only tells the caller which kind of refusal it is.

/// Why an image was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A format we recognise but do not accept, or no image format at all.
    #[error("{0}")]
    Unsupported(String),
    /// The image (or SVG document) exceeds the configured limits.
    #[error("{0}")]
    TooLarge(String),
    /// The data claims to be a supported format but cannot be decoded.
    #[error("{0}")]
    Invalid(String),
}

impl ImageError {
    /// Maps an `image` crate error: limit violations are a size problem,
    /// everything else means the file is broken.
    pub(crate) fn from_decoder(err: image::ImageError) -> Self {
        match err {
            image::ImageError::Limits(e) => {
                ImageError::TooLarge(format!("the image exceeds the decoding limits: {e}"))
            }
            other => ImageError::Invalid(format!("the image could not be decoded: {other}")),
        }
    }

    pub(crate) fn from_encoder(err: image::ImageError) -> Self {
        ImageError::Invalid(format!("the image could not be encoded: {err}"))
    }
}
