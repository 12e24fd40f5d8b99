//! Request bodies as Rocket.Chat's router sees them (crates/avatard-http/src/params.rs): the
//! Content-Type decides between JSON (invalid JSON counts as `{}`), multipart (no parameters) and
//! text; then the body is validated with the ajv-compatible schemas of the endpoints that have one
//! and deserialised into their forms.
//!
//! Input: one byte choosing the Content-Type, then the body. Content-Types 0..=5 are fixed (see
//! `content_type`); 6 and 7 take the header from the body's first line, as raw bytes.

#![no_main]

use std::cell::RefCell;

use avatard_http::fuzzing::{CREATION, REGISTRATION, SET_AVATAR, Schema, read_params};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::runtime::{Builder, Runtime};

// The schemas are the server's own (re-exported by avatard_http::fuzzing); the forms below mirror
// the private ones in crates/avatard-http/src/api (avatars.rs, users.rs) that they deserialize to.

#[derive(Deserialize)]
#[allow(dead_code)]
struct SetAvatar {
    #[serde(rename = "avatarUrl")]
    avatar_url: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Registration {
    username: String,
    email: String,
    pass: String,
    name: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Creation {
    username: String,
    email: String,
    password: String,
    name: String,
    active: Option<bool>,
    roles: Option<Vec<String>>,
    verified: Option<bool>,
}

thread_local! {
    static RUNTIME: RefCell<Runtime> =
        RefCell::new(Builder::new_current_thread().build().expect("runtime"));
}

fn content_type(selector: u8, body: &[u8]) -> (Option<Vec<u8>>, &[u8]) {
    let fixed = |ct: &str| (Some(ct.as_bytes().to_vec()), body);
    match selector % 8 {
        0 => fixed("application/json"),
        1 => fixed("application/json; charset=utf-8"),
        2 => fixed("text/plain;charset=UTF-8"),
        3 => fixed("application/x-www-form-urlencoded"),
        4 => (None, body),
        5 => fixed("multipart/form-data; boundary=x"),
        _ => {
            let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
            (
                Some(body[..end].to_vec()),
                body.get(end + 1..).unwrap_or_default(),
            )
        }
    }
}

/// What `params::content_type` reads: a header value that is valid and visible ASCII.
fn readable(ct: Option<&[u8]>) -> Option<String> {
    let ct = ct?;
    let valid = ct.iter().all(|&b| (b >= 32 && b != 127) || b == b'\t');
    let visible = ct.iter().all(|&b| (32..127).contains(&b) || b == b'\t');
    (valid && visible).then(|| String::from_utf8_lossy(ct).to_ascii_lowercase())
}

/// Checks `schema`'s verdict on `params` against the schema itself.
fn check<T: for<'de> Deserialize<'de>>(schema: &Schema, params: &Value) {
    match schema.parse::<T>(params) {
        Ok(_) => {
            let object = params.as_object().expect("a non-object was accepted");
            for (name, _) in schema.required {
                assert!(object.contains_key(*name), "required {name} missing");
            }
            for key in object.keys() {
                assert!(
                    schema
                        .required
                        .iter()
                        .chain(schema.optional)
                        .any(|(name, _)| name == key),
                    "unknown property {key:?} accepted"
                );
            }
        }
        Err(err) => {
            let message = err.0.to_string();
            assert!(message.ends_with(" [invalid-params]"), "{message:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (ct, body) = content_type(selector, rest);
    let params = RUNTIME
        .with(|rt| {
            rt.borrow()
                .block_on(read_params(ct.as_deref(), body.to_vec()))
        })
        .expect("bodies this small are always read");

    // The router's rules (R1.9), restated.
    let ct = readable(ct.as_deref());
    let expected = match ct {
        Some(ct) if ct.starts_with("multipart/form-data") => Value::Object(Map::new()),
        Some(ct) if ct.contains("json") => {
            serde_json::from_slice(body).unwrap_or_else(|_| Value::Object(Map::new()))
        }
        _ if body.is_empty() => Value::Object(Map::new()),
        _ => Value::String(String::from_utf8_lossy(body).into_owned()),
    };
    assert_eq!(params, expected);

    check::<SetAvatar>(&SET_AVATAR, &params);
    check::<Registration>(&REGISTRATION, &params);
    check::<Creation>(&CREATION, &params);
});
