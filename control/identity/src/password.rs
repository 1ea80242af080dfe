//! Password and credential-secret hashing: argon2id (memory-hard) in PHC
//! strings, verified in constant time. Hashing runs on tokio's blocking
//! pool so a login never stalls the request threads.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;

use crate::config::{ConfigError, HashCost};
use crate::error::IdentityError;

/// Longest password or secret accepted (Keystone's default), so a hostile
/// body costs bounded work.
pub const PASSWORD_BYTES_MAX: usize = 4096;

/// Hashes and verifies passwords and secrets with one cost.
#[derive(Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
    /// Verified against when the user does not exist, so a wrong name
    /// costs what a wrong password costs.
    dummy: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHasher(..)")
    }
}

impl PasswordHasher {
    pub fn new(cost: HashCost) -> Result<Self, ConfigError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| ConfigError::HashCost(e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy = hash_with(&argon, "cairn dummy password")
            .map_err(|e| ConfigError::HashCost(e.to_string()))?;
        Ok(PasswordHasher { argon, dummy })
    }

    /// The PHC string of `password` with a fresh salt.
    pub async fn hash(&self, password: &str) -> Result<String, IdentityError> {
        check_length(password)?;
        let argon = self.argon.clone();
        let password = password.to_string();
        tokio::task::spawn_blocking(move || hash_with(&argon, &password))
            .await
            .map_err(|e| IdentityError::Internal(format!("hash task: {e}")))?
    }

    /// Whether `password` matches `phc` (a stored hash; its own parameters
    /// apply). `None` verifies against a dummy hash and fails, in the same time.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> bool {
        if password.len() > PASSWORD_BYTES_MAX {
            return false;
        }
        let known = phc.is_some();
        let phc = phc.unwrap_or(&self.dummy).to_string();
        let password = password.to_string();
        let argon = self.argon.clone();
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&phc)
                .map(|h| argon.verify_password(password.as_bytes(), &h).is_ok())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        ok && known
    }
}

/// Refuses empty and oversized passwords.
pub fn check_length(password: &str) -> Result<(), IdentityError> {
    if password.is_empty() || password.len() > PASSWORD_BYTES_MAX {
        return Err(IdentityError::bad_request(format!(
            "A password must be 1 to {PASSWORD_BYTES_MAX} bytes long."
        )));
    }
    Ok(())
}

fn hash_with(argon: &Argon2<'_>, password: &str) -> Result<String, IdentityError> {
    let salt = SaltString::generate(&mut OsRng);
    argon
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| IdentityError::Internal(format!("argon2: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_only_the_right_password() {
        // A hash verifies its own password, not another, and is argon2id.
        let h = PasswordHasher::new(HashCost::minimal()).unwrap();
        let phc = h.hash("s3cret").await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(h.verify("s3cret", Some(&phc)).await);
        assert!(!h.verify("s3creT", Some(&phc)).await);
        assert!(!h.verify("s3cret", None).await);
        assert!(!h.verify("x", Some("not a phc string")).await);
        assert!(h.hash("").await.is_err());
    }
}
