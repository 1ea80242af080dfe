//! `POST /v3/auth/tokens`: the request body as the clients send it, and
//! authentication by password, token or application credential followed
//! by scope resolution.

use serde::Deserialize;

use super::{Identity, Issued};
use crate::error::IdentityError;
use crate::ids::audit_id;
use crate::store::model::{AppCredential, Domain, Project, Target, User};
use crate::store::{scoped, Entity};
use crate::token::{AuthMethod, TokenPayload, TokenScope};

#[derive(Debug, Clone, Deserialize)]
pub struct AuthBody {
    pub auth: Auth,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Auth {
    pub identity: AuthIdentity,
    #[serde(default)]
    pub scope: Option<ScopeRequest>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthIdentity {
    pub methods: Vec<String>,
    #[serde(default)]
    pub password: Option<PasswordMethod>,
    #[serde(default)]
    pub token: Option<TokenMethod>,
    #[serde(default)]
    pub application_credential: Option<AppCredMethod>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PasswordMethod {
    pub user: UserRef,
}

/// A user by id, or by name in a domain; with a password for that method.
#[derive(Debug, Clone, Deserialize)]
pub struct UserRef {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub domain: Option<NameOrId>,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NameOrId {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TokenMethod {
    pub id: String,
}

/// An application credential by id, or by name and its user.
#[derive(Debug, Clone, Deserialize)]
pub struct AppCredMethod {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub user: Option<UserRef>,
    pub secret: String,
}

/// `"unscoped"`, or a project, domain or system scope.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ScopeRequest {
    Named(String),
    Scoped(ScopeObject),
}

#[derive(Debug, Clone, Deserialize)]
pub struct ScopeObject {
    #[serde(default)]
    pub project: Option<ProjectRef>,
    #[serde(default)]
    pub domain: Option<NameOrId>,
    #[serde(default)]
    pub system: Option<serde_json::Value>,
}

/// A project by id, or by name in a domain.
#[derive(Debug, Clone, Deserialize)]
pub struct ProjectRef {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub domain: Option<NameOrId>,
}

/// Who authenticated, and how.
struct Authenticated {
    user: User,
    methods: Vec<AuthMethod>,
    /// The token a `token` authentication rescopes.
    parent: Option<TokenPayload>,
    app_cred: Option<AppCredential>,
}

impl Identity {
    /// Authenticates `auth` and issues a token for the scope it asks for.
    pub async fn authenticate(&self, auth: &Auth) -> Result<Issued, IdentityError> {
        let who = self.identify(&auth.identity).await?;
        let scope = self.resolve_scope(auth.scope.as_ref(), &who).await?;
        let now = self.now().micros();
        let (expires, mut audit_ids) = match &who.parent {
            Some(p) => (p.expires_at_micros, p.audit_ids[..1].to_vec()),
            None => (now + self.settings.token_ttl_secs * 1_000_000, Vec::new()),
        };
        audit_ids.insert(0, audit_id());
        // A token outlives neither its parent nor its application credential.
        let expires = who
            .app_cred
            .as_ref()
            .and_then(|a| a.expires_at_micros)
            .map_or(expires, |e| e.min(expires));
        let payload = TokenPayload {
            user_id: who.user.id.clone(),
            methods: who.methods,
            scope,
            issued_at_micros: now,
            expires_at_micros: expires,
            audit_ids,
            password_revision: who.user.password_revision,
            app_cred_id: who.app_cred.map(|a| a.id),
        };
        let info = self.check_payload(payload).await?;
        let token = self.tokens.seal(&info.payload);
        Ok(Issued { token, info })
    }

    async fn identify(&self, id: &AuthIdentity) -> Result<Authenticated, IdentityError> {
        let [method] = id.methods.as_slice() else {
            return Err(IdentityError::unauthorized(
                "exactly one auth method is supported",
            ));
        };
        let missing =
            || IdentityError::bad_request(format!("The {method} method needs its object."));
        match method.as_str() {
            "password" => {
                let p = id.password.as_ref().ok_or_else(missing)?;
                let user = self.password_user(&p.user).await?;
                Ok(Authenticated {
                    user,
                    methods: vec![AuthMethod::Password],
                    parent: None,
                    app_cred: None,
                })
            }
            "token" => {
                let t = id.token.as_ref().ok_or_else(missing)?;
                self.token_user(&t.id).await
            }
            "application_credential" => {
                let a = id.application_credential.as_ref().ok_or_else(missing)?;
                let (user, cred) = self.app_cred_user(a).await?;
                Ok(Authenticated {
                    user,
                    methods: vec![AuthMethod::ApplicationCredential],
                    parent: None,
                    app_cred: Some(cred),
                })
            }
            other => Err(IdentityError::unauthorized(format!(
                "unsupported method {other}"
            ))),
        }
    }

    async fn password_user(&self, r: &UserRef) -> Result<User, IdentityError> {
        let password = r
            .password
            .as_deref()
            .ok_or_else(|| IdentityError::bad_request("The password method needs a password."))?;
        let user = self.find_user(r).await?;
        let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let ok = self.hasher.verify(password, hash).await;
        match user {
            Some(u) if ok => Ok(u),
            _ => Err(IdentityError::unauthorized("wrong user or password")),
        }
    }

    async fn token_user(&self, token: &str) -> Result<Authenticated, IdentityError> {
        let info = self.validate_token(token).await?;
        if info.payload.app_cred_id.is_some() {
            return Err(IdentityError::Forbidden(
                "A token from an application credential cannot be rescoped.".into(),
            ));
        }
        let mut methods = info.payload.methods.clone();
        if !methods.contains(&AuthMethod::Token) {
            methods.push(AuthMethod::Token);
        }
        Ok(Authenticated {
            user: info.user,
            methods,
            parent: Some(info.payload),
            app_cred: None,
        })
    }

    async fn app_cred_user(
        &self,
        a: &AppCredMethod,
    ) -> Result<(User, AppCredential), IdentityError> {
        let cred = match (&a.id, &a.name, &a.user) {
            (Some(id), _, _) => self.store.entity::<AppCredential>(id).await?,
            (None, Some(name), Some(u)) => match self.find_user(u).await? {
                Some(user) => {
                    let key = scoped(&user.id, name);
                    self.store.by_name::<AppCredential>(&key).await?
                }
                None => None,
            },
            _ => {
                return Err(IdentityError::bad_request(
                    "An application credential needs an id, or a name and a user.",
                ))
            }
        };
        let ok = self
            .hasher
            .verify(&a.secret, cred.as_ref().map(|c| c.secret_hash.as_str()))
            .await;
        let cred = match cred {
            Some(c) if ok => c,
            _ => return Err(IdentityError::unauthorized("wrong application credential")),
        };
        let user = self
            .store
            .entity::<User>(&cred.user_id)
            .await?
            .ok_or_else(|| IdentityError::unauthorized("application credential's user is gone"))?;
        Ok((user, cred))
    }

    /// The user `r` names (by id, or by name in a domain), if any.
    pub(crate) async fn find_user(&self, r: &UserRef) -> Result<Option<User>, IdentityError> {
        self.find_in_domain(&r.id, &r.name, &r.domain).await
    }

    /// The record named by `id`, or by `name` within `domain`, if any.
    async fn find_in_domain<E: Entity>(
        &self,
        id: &Option<String>,
        name: &Option<String>,
        domain: &Option<NameOrId>,
    ) -> Result<Option<E>, IdentityError> {
        if let Some(id) = id {
            return self.store.entity::<E>(id).await;
        }
        let (Some(name), Some(domain)) = (name, domain) else {
            return Err(IdentityError::bad_request(format!(
                "A {} needs an id, or a name and a domain.",
                E::KIND
            )));
        };
        let Some(d) = self.find_domain(domain).await? else {
            return Ok(None);
        };
        self.store.by_name::<E>(&scoped(&d.id, name)).await
    }

    /// The domain `r` names by id or (case-insensitive) name, if any.
    pub(crate) async fn find_domain(&self, r: &NameOrId) -> Result<Option<Domain>, IdentityError> {
        match (&r.id, &r.name) {
            (Some(id), _) => self.store.entity::<Domain>(id).await,
            (None, Some(name)) => self.store.by_name::<Domain>(&name.to_lowercase()).await,
            (None, None) => Err(IdentityError::bad_request(
                "A domain needs an id or a name.",
            )),
        }
    }

    async fn find_project(&self, r: &ProjectRef) -> Result<Option<Project>, IdentityError> {
        self.find_in_domain(&r.id, &r.name, &r.domain).await
    }

    /// The scope the token will carry. An application credential fixes
    /// its project; no scope means the user's default project when the
    /// user has a role there, else unscoped.
    async fn resolve_scope(
        &self,
        req: Option<&ScopeRequest>,
        who: &Authenticated,
    ) -> Result<TokenScope, IdentityError> {
        let asked = self.requested_scope(req).await?;
        if let Some(cred) = &who.app_cred {
            let fixed = TokenScope::Project(cred.project_id.clone());
            return match asked {
                Some(s) if s != fixed => Err(IdentityError::unauthorized(
                    "an application credential is bound to its project",
                )),
                _ => Ok(fixed),
            };
        }
        if let Some(s) = asked {
            return Ok(s);
        }
        if let Some(pid) = &who.user.default_project_id {
            let target = Target::Project(pid.clone());
            let roles = self.store.effective_roles(&who.user.id, &target).await?;
            let enabled = self
                .store
                .entity::<Project>(pid)
                .await?
                .is_some_and(|p| p.enabled);
            if enabled && !roles.is_empty() {
                return Ok(TokenScope::Project(pid.clone()));
            }
        }
        Ok(TokenScope::Unscoped)
    }

    /// The scope the request names (`None`: none named).
    async fn requested_scope(
        &self,
        req: Option<&ScopeRequest>,
    ) -> Result<Option<TokenScope>, IdentityError> {
        let unknown = |what: &str| IdentityError::unauthorized(format!("no such {what}"));
        match req {
            None => Ok(None),
            Some(ScopeRequest::Named(s)) if s == "unscoped" => Ok(Some(TokenScope::Unscoped)),
            Some(ScopeRequest::Named(s)) => {
                Err(IdentityError::bad_request(format!("Unknown scope {s:?}.")))
            }
            Some(ScopeRequest::Scoped(o)) => match (&o.project, &o.domain, &o.system) {
                (Some(p), None, None) => {
                    let project = self
                        .find_project(p)
                        .await?
                        .ok_or_else(|| unknown("project"))?;
                    Ok(Some(TokenScope::Project(project.id)))
                }
                (None, Some(d), None) => {
                    let domain = self
                        .find_domain(d)
                        .await?
                        .ok_or_else(|| unknown("domain"))?;
                    Ok(Some(TokenScope::Domain(domain.id)))
                }
                (None, None, Some(system)) => {
                    if *system == serde_json::json!({"all": true}) {
                        Ok(Some(TokenScope::System))
                    } else {
                        Err(IdentityError::bad_request(
                            "The only system scope is {\"all\": true}.",
                        ))
                    }
                }
                _ => Err(IdentityError::bad_request(
                    "Specify one of project, domain or system scope.",
                )),
            },
        }
    }
}
