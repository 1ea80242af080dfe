//! Who may do what: the authenticated [`Caller`] of a request and the
//! rules of the identity API. Roles are `admin`, `member` and `reader`
//! (each implies the next); an admin on any project is an admin of the
//! cloud (Keystone's default "admin is admin"). Other APIs (Swift, Cinder)
//! take the same `Caller` from [`crate::Identity::validate`].

use cairn_base::Timestamp;

use crate::error::IdentityError;

/// The authenticated principal behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub user_name: String,
    pub user_domain_id: String,
    /// The project a project-scoped token is for.
    pub project_id: Option<String>,
    /// The domain a domain-scoped token is for.
    pub domain_id: Option<String>,
    /// Effective role names on the scope (implied ones included), sorted.
    pub roles: Vec<String>,
    /// Set when the token came from an application credential.
    pub app_cred_id: Option<String>,
    /// An application credential that may not create further ones.
    pub app_cred_restricted: bool,
    /// When the token expires (`None`: not from a token, e.g. an EC2 key).
    pub expires_at: Option<Timestamp>,
}

/// An identity API operation, with the user it concerns where that matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// List or show domains, projects, users, groups, roles, assignments,
    /// services and endpoints.
    Read,
    /// Create, change or delete any of them; grant and revoke roles.
    Administer,
    /// Read this user (and its groups and projects).
    ReadUser(&'a str),
    /// Manage this user's application or EC2 credentials.
    ManageCredentials(&'a str),
    /// Validate or revoke a token of this user.
    CheckToken(&'a str),
}

impl Caller {
    pub fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|r| r == name)
    }

    /// Admin anywhere: may do everything.
    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }

    /// Whether this caller may act on project `project_id`'s resources:
    /// its token is scoped to it, or it is an admin.
    pub fn may_access_project(&self, project_id: &str) -> bool {
        self.is_admin() || self.project_id.as_deref() == Some(project_id)
    }

    /// `Ok` if the caller may perform `action`, else Keystone's 403.
    pub fn authorize(&self, action: Action<'_>) -> Result<(), IdentityError> {
        let allowed = self.is_admin()
            || match action {
                Action::Read => self.has_role("reader"),
                Action::Administer => false,
                Action::ReadUser(u) => self.user_id == u || self.has_role("reader"),
                Action::ManageCredentials(u) | Action::CheckToken(u) => self.user_id == u,
            };
        if allowed {
            Ok(())
        } else {
            Err(IdentityError::forbidden())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[&str]) -> Caller {
        Caller {
            user_id: "u1".into(),
            user_name: "alice".into(),
            user_domain_id: "default".into(),
            project_id: Some("p1".into()),
            domain_id: None,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            app_cred_id: None,
            app_cred_restricted: false,
            expires_at: None,
        }
    }

    #[test]
    fn admin_does_all_reader_reads_users_own_themselves() {
        // Each role gets exactly its column of the policy table.
        let admin = caller(&["admin", "member", "reader"]);
        let member = caller(&["member", "reader"]);
        let none = caller(&[]);
        for a in [
            Action::Read,
            Action::Administer,
            Action::ReadUser("u2"),
            Action::ManageCredentials("u2"),
        ] {
            assert!(admin.authorize(a).is_ok(), "{a:?}");
        }
        assert!(member.authorize(Action::Read).is_ok());
        assert!(member.authorize(Action::Administer).is_err());
        assert!(member.authorize(Action::ManageCredentials("u2")).is_err());
        assert!(none.authorize(Action::Read).is_err());
        assert!(none.authorize(Action::ReadUser("u1")).is_ok());
        assert!(none.authorize(Action::ManageCredentials("u1")).is_ok());
        assert!(none.authorize(Action::CheckToken("u2")).is_err());
        assert!(member.may_access_project("p1") && !member.may_access_project("p2"));
        assert!(admin.may_access_project("p2"));
    }
}
