//! SHA-256 in lowercase hex, the one helper for every file the workspace checks
//! (fixture weights, kernel-cache manifests).
//!
//! ```
//! let (hex, len) = mlx_manager::digest::sha256_of(&b"abc"[..]).unwrap();
//! assert_eq!(len, 3);
//! assert_eq!(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
//! ```

use std::io::Read;

use sha2::{Digest, Sha256};

/// SHA-256 of what `reader` yields, lowercase hex, with its length in bytes.
pub fn sha256_of(mut reader: impl Read) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hex(&hasher.finalize()), len))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
