//! The multipart form of `users.setAvatar` (R3.3): exactly one file part named `image`, plus text
//! fields. The body is streamed and the file counted chunk by chunk, so an oversized upload is
//! refused as soon as it passes the limit and never held in memory whole.

use std::collections::HashMap;

use avatard_domain::Error;
use axum::body::Body;
use bytes::{Bytes, BytesMut};

/// Room for the text fields and part headers next to the file.
const FIELDS_ALLOWANCE: u64 = 64 * 1024;
/// Parts beyond this many are refused: a form with thousands of fields is an attack, not a client.
const MAX_PARTS: usize = 32;

/// The parsed form.
pub struct ImageForm {
    pub image: Bytes,
    /// Text fields; the last occurrence of a name wins, as with busboy.
    pub fields: HashMap<String, String>,
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

/// Read the form, refusing a file larger than `file_limit` bytes.
pub async fn read_image_form(
    content_type: Option<&str>,
    body: Body,
    file_limit: u64,
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
    let mut multipart =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);

    let mut image: Option<Bytes> = None;
    let mut fields = HashMap::new();
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
        let mut bytes = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(parse_failure)? {
            if bytes.len() as u64 + chunk.len() as u64 > file_limit {
                return Err(Error::meteor("error-file-too-large", None, None));
            }
            bytes.extend_from_slice(&chunk);
        }
        image = Some(bytes.freeze());
    }
    let image = image.ok_or_else(|| Error::meteor("No file uploaded", None, None))?;
    Ok(ImageForm { image, fields })
}
