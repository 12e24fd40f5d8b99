//! A decoded image as the pipeline carries it: one still image, or the frames of an animation.

use image::{Delay, DynamicImage};

/// One frame of an animation: the whole canvas as it is shown, and how long it is shown.
pub(crate) struct Frame {
    pub image: DynamicImage,
    pub delay: Delay,
}

/// What decoding produced and encoding consumes.
pub(crate) enum Picture {
    Still(DynamicImage),
    /// At least two frames, all the same size; played in a loop.
    Animation(Vec<Frame>),
}

impl Picture {
    /// The still an animation stands for where one is needed: its first frame.
    pub(crate) fn into_still(self) -> DynamicImage {
        match self {
            Picture::Still(image) => image,
            Picture::Animation(frames) => frames
                .into_iter()
                .next()
                .map(|frame| frame.image)
                .unwrap_or_default(),
        }
    }

    /// The first (or only) frame.
    pub(crate) fn first(&self) -> &DynamicImage {
        match self {
            Picture::Still(image) => image,
            Picture::Animation(frames) => &frames[0].image,
        }
    }

    pub(crate) fn frame_count(&self) -> u32 {
        match self {
            Picture::Still(_) => 1,
            Picture::Animation(frames) => u32::try_from(frames.len()).unwrap_or(u32::MAX),
        }
    }
}
