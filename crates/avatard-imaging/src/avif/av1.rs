//! AV1 decoding through rav1d, the Rust port of dav1d.
//!
//! rav1d 1.1 exports only dav1d's C API: raw pointers and manual reference counting. This module
//! is the one place that calls it. It owns each handle rav1d gives out in a type whose `Drop`
//! gives it back (`Decoder`, `Data`, `Frame`), and hands the decoded planes to the rest of the
//! crate as ordinary borrowed slices. Everything outside this file is safe code.
//!
//! Every entry point is an `extern "C"` function, so a panic inside rav1d cannot unwind into the
//! caller's `catch_unwind`: Rust aborts the whole process instead. That shapes the settings:
//! - Two frame contexts (`max_frame_delay = 2`, which needs `n_threads = 2`). With a single
//!   one, rav1d 1.1.0 panics whenever decoding a frame fails (its error path unwraps a frame
//!   header it has already dropped: memorysafety/rav1d#1497, fix proposed in #1503), so one
//!   changed byte in the AV1 data of a valid file aborts the server. With two, those errors
//!   come back as error codes; the price is two short-lived worker threads per image.
//! - A frame size limit, so that no frame larger than the container declared (and the limits
//!   allowed) is allocated.
//! - No logger: rav1d's default prints every bitstream complaint to stderr.

use std::ptr::NonNull;

use rav1d::Dav1dResult;
use rav1d::include::dav1d::data::Dav1dData;
use rav1d::include::dav1d::dav1d::{Dav1dContext, Dav1dLogger, Dav1dSettings};
use rav1d::include::dav1d::headers::{
    DAV1D_PIXEL_LAYOUT_I400, DAV1D_PIXEL_LAYOUT_I420, DAV1D_PIXEL_LAYOUT_I422,
    DAV1D_PIXEL_LAYOUT_I444,
};
use rav1d::include::dav1d::picture::Dav1dPicture;
use rav1d::src::lib::{
    dav1d_close, dav1d_data_create, dav1d_data_unref, dav1d_default_settings, dav1d_get_picture,
    dav1d_open, dav1d_picture_unref, dav1d_send_data,
};

/// dav1d reports errors as negative `errno` values. These are Linux's: on a system whose numbers
/// differ, decoding would fail with an error (EAGAIN taken for a failure), never misbehave.
const EAGAIN: i32 = -11;
const ENOMEM: i32 = -12;
const EINVAL: i32 = -22;
const ERANGE: i32 = -34;
const ENOPROTOOPT: i32 = -92;

/// A still image is one temporal unit: one round sends it, one or two more drain the frame
/// threads. The cap only guarantees that a decoder that neither progresses nor fails cannot
/// spin.
const MAX_ROUNDS: usize = 64;

/// Why an AV1 payload yielded no frame.
#[derive(Debug)]
pub(super) enum Av1Error {
    /// The frame header announces more pixels than the limit we gave the decoder.
    TooLarge,
    /// Anything else: a broken bitstream, or a decoder that produced no picture.
    Invalid(String),
}

/// Chroma subsampling of a decoded frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    Monochrome,
    Yuv420,
    Yuv422,
    Yuv444,
}

impl Layout {
    /// Horizontal and vertical chroma subsampling shifts.
    pub(super) fn shifts(self) -> (u32, u32) {
        match self {
            Layout::Yuv420 => (1, 1),
            Layout::Yuv422 => (1, 0),
            Layout::Monochrome | Layout::Yuv444 => (0, 0),
        }
    }
}

/// The colour description carried in the AV1 sequence header.
#[derive(Clone, Copy, Debug)]
pub(super) struct SequenceColor {
    pub(super) matrix_coefficients: u8,
    pub(super) full_range: bool,
}

/// Samples of one plane: 8-bit or 16-bit (10- and 12-bit streams), `stride` in samples.
pub(super) enum Samples<'a> {
    Eight(&'a [u8]),
    Sixteen(&'a [u16]),
}

/// One decoded plane.
pub(super) struct Plane<'a> {
    pub(super) samples: Samples<'a>,
    pub(super) stride: usize,
    pub(super) width: usize,
    pub(super) height: usize,
}

/// A decoded picture; the planes stay valid for as long as this value lives. It may outlive the
/// decoder: the picture's buffer is reference-counted (rav1d's default allocator keeps its own
/// `Arc` of the buffer pool), as in dav1d.
pub(super) struct Frame {
    picture: Dav1dPicture,
    width: usize,
    height: usize,
    bit_depth: u8,
    layout: Layout,
    color: SequenceColor,
}

impl Frame {
    pub(super) fn width(&self) -> usize {
        self.width
    }

    pub(super) fn height(&self) -> usize {
        self.height
    }

    pub(super) fn bit_depth(&self) -> u8 {
        self.bit_depth
    }

    pub(super) fn layout(&self) -> Layout {
        self.layout
    }

    pub(super) fn color(&self) -> SequenceColor {
        self.color
    }

    /// Plane 0 is luma (Y), 1 and 2 are Cb and Cr; `None` for a chroma plane of a monochrome
    /// frame.
    pub(super) fn plane(&self, index: usize) -> Option<Plane<'_>> {
        let (sx, sy) = self.layout.shifts();
        let (width, height, stride) = match index {
            0 => (self.width, self.height, self.picture.stride[0]),
            1 | 2 if self.layout != Layout::Monochrome => (
                (self.width + (1 << sx) - 1) >> sx,
                (self.height + (1 << sy) - 1) >> sy,
                self.picture.stride[1],
            ),
            _ => return None,
        };
        let data = self.picture.data[index]?;
        let stride_bytes = usize::try_from(stride).ok()?;
        let sample_bytes = if self.bit_depth > 8 { 2 } else { 1 };
        if stride_bytes % sample_bytes != 0 || stride_bytes < width * sample_bytes {
            return None;
        }
        // The last row need not be padded out to the stride.
        let len_bytes = stride_bytes * (height - 1) + width * sample_bytes;
        let samples = if sample_bytes == 1 {
            // SAFETY: dav1d's default picture allocator (we install no other) gives each plane
            // `stride × (height rounded up)` bytes, and `len_bytes` stays within that since the
            // stride was checked above to cover a row. The buffer is reference-counted by
            // `self.picture`, which `&self` keeps alive and unchanged for the slice's lifetime;
            // rav1d writes to a picture only before `dav1d_get_picture` returns it.
            let bytes =
                unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), len_bytes) };
            Samples::Eight(bytes)
        } else {
            let ptr = data.as_ptr().cast::<u16>();
            if !ptr.is_aligned() {
                return None;
            }
            // SAFETY: as above (the same allocation, `len_bytes` bytes of it), read as the
            // native-endian 16-bit samples that high-bit-depth pictures hold; the pointer is
            // aligned for `u16` (checked) and `len_bytes` is even.
            let words = unsafe { std::slice::from_raw_parts(ptr, len_bytes / 2) };
            Samples::Sixteen(words)
        };
        Some(Plane {
            samples,
            stride: stride_bytes / sample_bytes,
            width,
            height,
        })
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        // SAFETY: `self.picture` was filled in by `dav1d_get_picture` (or is the all-`None`
        // default), and is released exactly once, here.
        unsafe { dav1d_picture_unref(Some(NonNull::from(&mut self.picture))) }
    }
}

/// An open rav1d decoder.
struct Decoder(Option<Dav1dContext>);

impl Decoder {
    fn open(frame_size_limit: u32) -> Result<Self, Av1Error> {
        let mut settings = std::mem::MaybeUninit::<Dav1dSettings>::uninit();
        // SAFETY: `dav1d_default_settings` writes a complete `Dav1dSettings` to the pointer,
        // which points to writable memory of the right size and alignment.
        let mut settings = unsafe {
            dav1d_default_settings(NonNull::new_unchecked(settings.as_mut_ptr()));
            settings.assume_init()
        };
        // Two frame contexts: see the module documentation.
        settings.n_threads = 2;
        settings.max_frame_delay = 2;
        settings.frame_size_limit = frame_size_limit;
        // Only the highest spatial layer of a layered image, as libavif does.
        settings.all_layers = 0;
        // SAFETY: a logger without a callback is never called; rav1d then logs nothing.
        settings.logger = unsafe { Dav1dLogger::new(None, None) };

        let mut context = Decoder(None);
        // SAFETY: both pointers come from references to live, initialised values; rav1d reads
        // the settings and writes the context handle (or `None`).
        let result = unsafe {
            dav1d_open(
                Some(NonNull::from(&mut context.0)),
                Some(NonNull::from(&mut settings)),
            )
        };
        check(result)?;
        if context.0.is_none() {
            return Err(Av1Error::Invalid("the AV1 decoder did not start".into()));
        }
        Ok(context)
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: the handle came from `dav1d_open` and is closed exactly once: `dav1d_close`
        // takes it out of `self.0`, leaving `None`.
        unsafe { dav1d_close(Some(NonNull::from(&mut self.0))) }
    }
}

/// A reference-counted copy of the input that rav1d consumes.
struct Data(Dav1dData);

impl Data {
    fn copy_of(bytes: &[u8]) -> Result<Self, Av1Error> {
        if bytes.is_empty() {
            return Err(Av1Error::Invalid("the AV1 payload is empty".into()));
        }
        let mut data = Data(Dav1dData::default());
        // SAFETY: `data.0` is a valid `Dav1dData` to write to; on success rav1d returns a
        // pointer to a fresh buffer of exactly `bytes.len()` bytes owned by `data.0`.
        let buffer = unsafe { dav1d_data_create(Some(NonNull::from(&mut data.0)), bytes.len()) };
        if buffer.is_null() {
            return Err(Av1Error::Invalid(
                "out of memory for the AV1 payload".into(),
            ));
        }
        // SAFETY: `buffer` is valid for `bytes.len()` writes (see above) and cannot overlap
        // `bytes`, which rav1d did not allocate.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buffer, bytes.len()) };
        Ok(data)
    }

    fn is_consumed(&self) -> bool {
        self.0.sz == 0
    }
}

impl Drop for Data {
    fn drop(&mut self) {
        // SAFETY: `self.0` was filled in by `dav1d_data_create` or emptied by
        // `dav1d_send_data`; either way releasing it once, here, is what rav1d expects.
        unsafe { dav1d_data_unref(Some(NonNull::from(&mut self.0))) }
    }
}

/// Decodes one AV1 image item (a sequence header and one frame's OBUs) into its first shown
/// frame. Frames of more than `frame_size_limit` pixels are refused by the decoder before it
/// allocates them.
pub(super) fn decode(obus: &[u8], frame_size_limit: u32) -> Result<Frame, Av1Error> {
    let decoder = Decoder::open(frame_size_limit)?;
    let context = decoder.0;
    let mut data = Data::copy_of(obus)?;
    let mut frame = Frame::empty();

    for _ in 0..MAX_ROUNDS {
        if !data.is_consumed() {
            // SAFETY: `context` is open (owned by `decoder`, alive until the end of this
            // function); `data.0` is a valid `Dav1dData` that rav1d updates to what it did not
            // consume.
            let sent = unsafe { dav1d_send_data(context, Some(NonNull::from(&mut data.0))) };
            if sent.0 != EAGAIN {
                check(sent)?;
            }
        }
        // SAFETY: as above for `context`; `frame.picture` holds no reference yet (it is only
        // ever filled by a successful call, after which we return), and rav1d overwrites it.
        let got = unsafe { dav1d_get_picture(context, Some(NonNull::from(&mut frame.picture))) };
        if got.0 == 0 {
            frame.describe()?;
            return Ok(frame);
        }
        if got.0 != EAGAIN {
            check(got)?;
        }
        // With all data sent, further calls drain the frame threads.
    }
    Err(Av1Error::Invalid(
        "the AV1 payload holds no complete frame".into(),
    ))
}

impl Frame {
    fn empty() -> Self {
        Frame {
            picture: Dav1dPicture::default(),
            width: 0,
            height: 0,
            bit_depth: 0,
            layout: Layout::Monochrome,
            color: SequenceColor {
                matrix_coefficients: 2,
                full_range: false,
            },
        }
    }

    /// Reads what a freshly decoded picture says about itself.
    fn describe(&mut self) -> Result<(), Av1Error> {
        let unusable = || Av1Error::Invalid("the decoder returned an unusable frame".into());
        let p = &self.picture.p;
        self.width = usize::try_from(p.w).map_err(|_| unusable())?;
        self.height = usize::try_from(p.h).map_err(|_| unusable())?;
        self.bit_depth = u8::try_from(p.bpc).map_err(|_| unusable())?;
        self.layout = match p.layout {
            DAV1D_PIXEL_LAYOUT_I400 => Layout::Monochrome,
            DAV1D_PIXEL_LAYOUT_I420 => Layout::Yuv420,
            DAV1D_PIXEL_LAYOUT_I422 => Layout::Yuv422,
            DAV1D_PIXEL_LAYOUT_I444 => Layout::Yuv444,
            _ => return Err(unusable()),
        };
        let header = self.picture.seq_hdr.ok_or_else(unusable)?;
        // SAFETY: `seq_hdr` points into the sequence header that the picture holds a reference
        // to (`seq_hdr_ref`), so it lives as long as `self.picture`; we copy two fields out.
        let header = unsafe { header.as_ref() };
        self.color = SequenceColor {
            matrix_coefficients: u8::try_from(header.mtrx).unwrap_or(u8::MAX),
            full_range: header.color_range != 0,
        };
        if self.width == 0 || self.height == 0 || !matches!(self.bit_depth, 8 | 10 | 12) {
            return Err(unusable());
        }
        Ok(())
    }
}

fn check(result: Dav1dResult) -> Result<(), Av1Error> {
    match result.0 {
        0.. => Ok(()),
        ERANGE => Err(Av1Error::TooLarge),
        ENOMEM => Err(Av1Error::Invalid("out of memory".into())),
        EINVAL => Err(Av1Error::Invalid("the AV1 data is invalid".into())),
        ENOPROTOOPT => Err(Av1Error::Invalid(
            "the AV1 data uses an unsupported feature".into(),
        )),
        code => Err(Av1Error::Invalid(format!("AV1 decoder error {code}"))),
    }
}
