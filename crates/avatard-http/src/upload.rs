//! The multipart form of `users.setAvatar` (R3.3): exactly one file part named `image`, plus text
//! fields. The body is streamed and the file counted chunk by chunk, so an oversized upload is
//! refused as soon as it passes the limit and never held in memory whole.
//!
//! Files being read share one memory budget ([`UploadMemory`]): each upload reserves room before
//! its buffer grows and keeps it until the avatar is processed. Without it, memory grows with the
//! number of concurrent uploads (sixteen 36 MB PNGs took the server to 1 GB); with it, uploads
//! beyond the budget wait for room, and are turned away with Rocket.Chat's 429 if none comes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use avatard_domain::Error;
use avatard_domain::throttle::TOO_MANY_REQUESTS;
use axum::body::Body;
use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Room for the text fields and part headers next to the file.
const FIELDS_ALLOWANCE: u64 = 64 * 1024;
/// Parts beyond this many are refused: a form with thousands of fields is an attack, not a client.
const MAX_PARTS: usize = 32;

/// The budget is counted in units of this many bytes.
const UNIT: usize = 1024;
/// The memory all uploads being read may hold together.
#[derive(Clone, Debug)]
pub struct UploadMemory {
    room: Arc<Semaphore>,
    /// How long an upload waits for room before it is turned away.
    wait: Duration,
}

impl UploadMemory {
    /// A budget of `bytes`. It must be at least the largest file one upload may send, or such an
    /// upload could never be read.
    pub fn new(bytes: u64, wait: Duration) -> UploadMemory {
        let units = usize::try_from(bytes.div_ceil(UNIT as u64))
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        UploadMemory {
            room: Arc::new(Semaphore::new(units)),
            wait,
        }
    }
}

/// The room one upload holds in the budget; returned when dropped.
#[derive(Debug)]
pub struct Reservation {
    memory: UploadMemory,
    held: Option<OwnedSemaphorePermit>,
}

impl Reservation {
    fn new(memory: &UploadMemory) -> Reservation {
        Reservation {
            memory: memory.clone(),
            held: None,
        }
    }

    fn bytes(&self) -> usize {
        self.held
            .as_ref()
            .map_or(0, |held| held.num_permits() * UNIT)
    }

    /// Holds room for at least `bytes` in all, waiting for other uploads to finish if needed.
    async fn grow_to(&mut self, bytes: usize) -> Result<(), Error> {
        let more = bytes.saturating_sub(self.bytes()).div_ceil(UNIT);
        if more == 0 {
            return Ok(());
        }
        let more = u32::try_from(more).map_err(|_| busy())?;
        let room = &self.memory.room;
        // Room is usually there: only a wait needs a timer.
        let acquired = match room.clone().try_acquire_many_owned(more) {
            Ok(acquired) => acquired,
            Err(_) => tokio::time::timeout(self.memory.wait, room.clone().acquire_many_owned(more))
                .await
                .map_err(|_| busy())?
                .map_err(|_| busy())?,
        };
        match &mut self.held {
            Some(held) => held.merge(acquired),
            None => self.held = Some(acquired),
        }
        Ok(())
    }
}

fn busy() -> Error {
    Error::meteor(
        TOO_MANY_REQUESTS,
        Some("The server is busy with other uploads. Please try again in a few seconds."),
        None,
    )
}

/// The parsed form.
pub struct ImageForm {
    pub image: Bytes,
    /// Text fields; the last occurrence of a name wins, as with busboy.
    pub fields: HashMap<String, String>,
    /// The memory `image` occupies; keep it until the image is processed.
    pub reservation: Reservation,
}

/// Busboy's failure for a body that is not multipart.
fn unsupported(content_type: Option<&str>) -> Error {
    match content_type {
        None => Error::plain("Missing Content-Type"),
        Some(ct) => Error::plain(format!("Unsupported content type: {ct}")),
    }
}

fn parse_failure(err: multer::Error) -> Error {
    match err {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            Error::meteor("error-file-too-large", None, None)
        }
        other => Error::plain(other.to_string()),
    }
}

/// Read the form, refusing a file larger than `file_limit` bytes. `body_length` is the request's
/// `Content-Length`, if it has one.
pub async fn read_image_form(
    content_type: Option<&str>,
    body_length: Option<u64>,
    body: Body,
    file_limit: u64,
    memory: &UploadMemory,
) -> Result<ImageForm, Error> {
    let ct = content_type.ok_or_else(|| unsupported(None))?;
    if !ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        return Err(unsupported(Some(ct)));
    }
    let boundary =
        multer::parse_boundary(ct).map_err(|_| Error::plain("Malformed content type"))?;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(file_limit.saturating_add(FIELDS_ALLOWANCE))
            .per_field(file_limit.max(FIELDS_ALLOWANCE)),
    );
    // The file is a little smaller than the body, when the body's length is known. (From the
    // header: the body-timeout wrapper does not pass the length on as a size hint.)
    let body_length = body_length.and_then(|length| usize::try_from(length).ok());
    let mut multipart =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);

    let mut image: Option<Bytes> = None;
    let mut fields = HashMap::new();
    let mut reservation = Reservation::new(memory);
    let mut parts = 0;
    while let Some(mut field) = multipart.next_field().await.map_err(parse_failure)? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(Error::plain("Too many parts in the form"));
        }
        let name = field.name().unwrap_or_default().to_owned();
        if field.file_name().is_none() {
            let value = field.text().await.map_err(parse_failure)?;
            fields.insert(name, value);
            continue;
        }
        if name != "image" {
            return Err(Error::meteor("invalid-field", None, None));
        }
        if image.is_some() {
            return Err(Error::plain("Just 1 file is allowed"));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(parse_failure)? {
            let needed = bytes.len() + chunk.len();
            if needed as u64 > file_limit {
                return Err(Error::meteor("error-file-too-large", None, None));
            }
            if needed > bytes.capacity() {
                // Paid for before it is allocated. With a known body length the buffer is
                // reserved once, for the whole file: uploads that each held part of the budget
                // while waiting for more would wait on each other until they time out. A chunked
                // body, of unknown length, grows by doubling as a Vec would.
                let grown = match body_length {
                    Some(length) if bytes.capacity() == 0 => length,
                    _ => bytes.capacity() * 2,
                };
                let capacity = grown
                    .min(usize::try_from(file_limit).unwrap_or(usize::MAX))
                    .max(needed);
                reservation.grow_to(capacity).await?;
                bytes.reserve_exact(capacity - bytes.len());
            }
            bytes.extend_from_slice(&chunk);
        }
        image = Some(Bytes::from(bytes));
    }
    let image = image.ok_or_else(|| Error::meteor("No file uploaded", None, None))?;
    Ok(ImageForm {
        image,
        fields,
        reservation,
    })
}
