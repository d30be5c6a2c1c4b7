//! Ed25519 verification of interactions Discord POSTs (http mode).

use ed25519_dalek::{Signature, Verifier, VerifyingKey};

/// Checks `X-Signature-Ed25519` over `timestamp + body`. Any missing or
/// malformed part is simply "not verified".
pub fn verify(
    key: &VerifyingKey,
    signature_hex: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
) -> bool {
    let (Some(sig), Some(ts)) = (signature_hex, timestamp) else {
        return false;
    };
    let Ok(bytes) = hex::decode(sig.trim()) else {
        return false;
    };
    let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
        return false;
    };
    let signature = Signature::from_bytes(&bytes);
    let mut message = Vec::with_capacity(ts.len() + body.len());
    message.extend_from_slice(ts.as_bytes());
    message.extend_from_slice(body);
    key.verify(&message, &signature).is_ok()
}
