//! `IdentityError`: every way an identity request fails, with the HTTP
//! status and title Keystone answers it with.

use cairn_meta_api::MetaError;

/// Why an identity request failed. The messages are Keystone's, since
/// clients print them.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// No credentials, wrong credentials, or a token that is not (or no
    /// longer) valid. The reason is logged, never sent.
    #[error("The request you have made requires authentication.")]
    Unauthorized { reason: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("Could not find {kind}: {id}.")]
    NotFound { kind: &'static str, id: String },
    /// A unique name taken, or a record changed under a read-modify-write.
    #[error("Conflict occurred attempting to store {kind} - {detail}")]
    Conflict { kind: &'static str, detail: String },
    /// A malformed or invalid request body or parameter.
    #[error("{0}")]
    BadRequest(String),
    /// The metadata group could not serve the request.
    #[error("metadata: {0}")]
    Meta(#[from] MetaError),
    /// A stored record did not decode: a bug or a foreign writer.
    #[error("corrupt identity record {key}: {detail}")]
    Corrupt { key: String, detail: String },
    /// Password hashing failed or its task was lost.
    #[error("internal error: {0}")]
    Internal(String),
}

impl IdentityError {
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        IdentityError::Unauthorized {
            reason: reason.into(),
        }
    }

    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        IdentityError::NotFound {
            kind,
            id: id.into(),
        }
    }

    pub fn bad_request(msg: impl Into<String>) -> Self {
        IdentityError::BadRequest(msg.into())
    }

    pub fn forbidden() -> Self {
        IdentityError::Forbidden("You are not authorized to perform the requested action.".into())
    }

    /// The HTTP status Keystone answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            IdentityError::Unauthorized { .. } => 401,
            IdentityError::Forbidden(_) => 403,
            IdentityError::NotFound { .. } => 404,
            IdentityError::Conflict { .. } => 409,
            IdentityError::BadRequest(_) => 400,
            IdentityError::Meta(MetaError::NotLeader(_) | MetaError::Unavailable(_)) => 503,
            IdentityError::Meta(_) | IdentityError::Corrupt { .. } | IdentityError::Internal(_) => {
                500
            }
        }
    }

    /// The `title` of Keystone's error body.
    pub fn title(&self) -> &'static str {
        match self.http_status() {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            409 => "Conflict",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        }
    }
}
