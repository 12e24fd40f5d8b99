//! Reading a response body under a size cap.
//!
//! A hostile server can send an endless body or declare a huge one, so the
//! cap is enforced while streaming: a declared length over the cap fails
//! before reading anything, and otherwise reading stops at the first chunk
//! that would pass the cap. At most cap + one chunk is ever in memory.

use bytes::{Bytes, BytesMut};

use crate::error::FetchError;

/// Reads the whole body, failing with `TooLarge(max)` as soon as it is known
/// to be longer than `max` bytes.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    max: Option<u64>,
) -> Result<Bytes, FetchError> {
    if let (Some(max), Some(declared)) = (max, response.content_length())
        && declared > max
    {
        return Err(FetchError::TooLarge(max));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(FetchError::network)? {
        if let Some(max) = max
            && body.len() as u64 + chunk.len() as u64 > max
        {
            return Err(FetchError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
