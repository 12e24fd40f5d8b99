//! Identifiers and secrets in Rocket.Chat's (Meteor's) alphabets, and the login-token hash.

use base64::Engine as _;
use rand::Rng as _;
use sha2::{Digest as _, Sha256};

/// Meteor's `Random.id()` alphabet: no characters that are easy to confuse (0/O, 1/l/I).
const UNMISTAKABLE: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz";
/// Meteor's `Random.secret()` alphabet.
const SECRET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

/// A 17-character document id, like Rocket.Chat's user ids.
pub fn new_id() -> String {
    random_string(UNMISTAKABLE, 17)
}

/// A 43-character login token (about 256 bits), like Meteor's `Random.secret()`.
pub fn new_secret() -> String {
    random_string(SECRET, 43)
}

/// `Accounts._hashLoginToken`: base64 (padded) of SHA-256 over the raw token. Only this is stored.
pub fn hash_login_token(token: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(token.as_bytes()))
}

/// Lower-case hex SHA-256: content addressing of avatar blobs, password digests.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_matches_meteor() {
        // Meteor: Accounts._hashLoginToken("abc") === "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        assert_eq!(
            hash_login_token("abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }

    #[test]
    fn ids_use_their_alphabets() {
        let id = new_id();
        assert_eq!(id.len(), 17);
        assert!(id.bytes().all(|b| UNMISTAKABLE.contains(&b)));
        let secret = new_secret();
        assert_eq!(secret.len(), 43);
        assert!(secret.bytes().all(|b| SECRET.contains(&b)));
        assert_ne!(new_secret(), secret);
    }
}
