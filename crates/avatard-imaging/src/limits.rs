//! Resource limits for untrusted images.
//!
//! A few hundred bytes of PNG header can announce a 30000×30000 canvas, and a
//! few kilobytes of SVG can describe millions of elements. These limits are
//! checked against what the file *declares* before any pixel memory is
//! allocated or any SVG is laid out. An SVG within them can still describe
//! expensive drawing (blurs, masks, layers the size of the canvas), so its
//! rendering also runs against a clock.

use std::time::Duration;

use crate::ImageError;

/// Upper bounds applied to every decoded or rasterised image.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Maximum width × height.
    pub max_pixels: u64,
    /// Maximum width and maximum height.
    pub max_dimension: u32,
    /// Maximum bytes a raster decoder may allocate, and SVG rendering may
    /// hold in layers (group, mask and filter pixmaps, pattern tiles) at once.
    pub max_alloc: u64,
    /// Maximum XML nodes in an SVG document, counted after expanding `<use>`
    /// and the masks, patterns and filters usvg copies for each use.
    pub max_svg_nodes: usize,
    /// Longest an SVG document may take to parse and render.
    ///
    /// An exported illustration with a clip, gradients, a mask, a drop shadow
    /// and text takes about 10 ms at 200 px and 200 ms at 1024 px on a modest
    /// 2-core machine; documents that take seconds are made of thousands of
    /// canvas-sized blurs, layers or masks. Two seconds leaves such an avatar
    /// ten times its time on a slow or busy machine, while bounding what one
    /// upload takes from the image pool.
    pub max_svg_render_time: Duration,
    /// Maximum frames an animation may declare.
    pub max_frames: u32,
    /// Maximum canvas pixels summed over all frames of an animation: it bounds the decoding and
    /// resizing work an upload can ask for, whatever mix of frame size and count it uses.
    pub max_animation_pixels: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pixels: 50_000_000,
            max_dimension: 16_384,
            max_alloc: 256 * 1024 * 1024,
            max_svg_nodes: 10_000,
            max_svg_render_time: Duration::from_secs(2),
            max_frames: 1_000,
            max_animation_pixels: 64_000_000,
        }
    }
}

impl Limits {
    /// Refuses dimensions beyond `max_dimension` per side or `max_pixels` in total.
    pub(crate) fn check_dimensions(&self, width: u32, height: u32) -> Result<(), ImageError> {
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(ImageError::TooLarge(format!(
                "image dimensions {width}x{height} exceed the limit of {} pixels",
                self.max_pixels
            )));
        }
        if width > self.max_dimension || height > self.max_dimension {
            return Err(ImageError::TooLarge(format!(
                "image dimensions {width}x{height} exceed the limit of {} pixels per side",
                self.max_dimension
            )));
        }
        Ok(())
    }

    /// Refuses an animation of `frames` canvases of `width`×`height` beyond the frame limits.
    pub(crate) fn check_animation(
        &self,
        width: u32,
        height: u32,
        frames: u32,
    ) -> Result<(), ImageError> {
        if frames > self.max_frames {
            return Err(ImageError::TooLarge(format!(
                "the animation has {frames} frames, more than the limit of {}",
                self.max_frames
            )));
        }
        let total = u64::from(width) * u64::from(height) * u64::from(frames);
        if total > self.max_animation_pixels {
            return Err(ImageError::TooLarge(format!(
                "the animation has {frames} frames of {width}x{height}, more than the limit of {} \
                 pixels over all frames",
                self.max_animation_pixels
            )));
        }
        Ok(())
    }

    /// The same limits in the form the `image` crate's decoders enforce.
    pub(crate) fn decoder_limits(&self) -> image::Limits {
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(self.max_dimension);
        limits.max_image_height = Some(self.max_dimension);
        limits.max_alloc = Some(self.max_alloc);
        limits
    }

    /// Scales a (possibly fractional, possibly huge) natural size down until
    /// it fits, keeping the aspect ratio, and rounds it to whole pixels.
    pub(crate) fn fit(&self, width: f64, height: f64) -> (u32, u32) {
        let max_side = f64::from(self.max_dimension.max(1));
        let max_area = (self.max_pixels.max(1)) as f64;
        let scale = (max_side / width)
            .min(max_side / height)
            .min((max_area / (width * height)).sqrt())
            .min(1.0);
        let px = |v: f64| ((v * scale).floor() as u32).clamp(1, self.max_dimension.max(1));
        (px(width), px(height))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimension_checks() {
        let limits = Limits::default();
        assert!(limits.check_dimensions(16_384, 3_000).is_ok());
        let err = limits.check_dimensions(30_000, 30_000).unwrap_err();
        assert!(matches!(err, ImageError::TooLarge(_)));
        assert_eq!(
            err.to_string(),
            "image dimensions 30000x30000 exceed the limit of 50000000 pixels"
        );
        let err = limits.check_dimensions(20_000, 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "image dimensions 20000x10 exceed the limit of 16384 pixels per side"
        );
    }

    #[test]
    fn fit_keeps_aspect_and_bounds() {
        let limits = Limits {
            max_pixels: 10_000,
            max_dimension: 200,
            ..Limits::default()
        };
        assert_eq!(limits.fit(50.0, 20.0), (50, 20));
        assert_eq!(limits.fit(400.0, 100.0), (200, 50));
        assert_eq!(limits.fit(150.0, 150.0), (100, 100));
        assert_eq!(limits.fit(1e9, 1.0), (200, 1));
        assert_eq!(limits.fit(0.2, 0.2), (1, 1));
    }
}
