//! Where a benchmark's credentials come from: the variables of an `openrc`
//! (`ST_AUTH`/`ST_USER`/`ST_KEY` for tempauth, `OS_AUTH_TOKEN` +
//! `OS_STORAGE_URL` for a token, `AWS_*` for S3), read from the process
//! environment or an openrc file by the caller and overridden by flags.
//! This module only chooses among them; it reads no environment itself.

use crate::error::BenchError;
use std::collections::BTreeMap;

/// The object API to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Swift,
    S3,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Swift => "swift",
            Api::S3 => "s3",
        }
    }
}

/// How to reach and authenticate to an object endpoint.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Swift tempauth v1.0: log in for a token and storage URL.
    SwiftAuth {
        auth_url: String,
        user: String,
        key: String,
    },
    /// Swift with a token already issued (Keystone or tempauth).
    SwiftToken { storage_url: String, token: String },
    /// S3 with SigV4.
    S3 {
        endpoint_url: String,
        access_key: String,
        secret_key: String,
        region: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys, secrets and tokens stay out of logs.
        match self {
            Credentials::SwiftAuth { auth_url, user, .. } => {
                write!(f, "SwiftAuth({auth_url}, {user})")
            }
            Credentials::SwiftToken { storage_url, .. } => write!(f, "SwiftToken({storage_url})"),
            Credentials::S3 {
                endpoint_url,
                access_key,
                region,
                ..
            } => write!(f, "S3({endpoint_url}, {access_key}, {region})"),
        }
    }
}

impl Credentials {
    pub fn api(&self) -> Api {
        match self {
            Credentials::SwiftAuth { .. } | Credentials::SwiftToken { .. } => Api::Swift,
            Credentials::S3 { .. } => Api::S3,
        }
    }

    /// The URL the benchmark starts from (auth URL, storage URL or S3 endpoint).
    pub fn url(&self) -> &str {
        match self {
            Credentials::SwiftAuth { auth_url, .. } => auth_url,
            Credentials::SwiftToken { storage_url, .. } => storage_url,
            Credentials::S3 { endpoint_url, .. } => endpoint_url,
        }
    }
}

/// The S3 region when none is set.
const DEFAULT_REGION: &str = "us-east-1";

/// Variables by name, as an openrc exports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars(BTreeMap<String, String>);

impl Vars {
    /// The variables of `pairs` that are set and not empty.
    pub fn from_pairs<I, K, V>(pairs: I) -> Vars
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut vars = Vars::default();
        for (k, v) in pairs {
            vars.set(k.into(), v.into());
        }
        vars
    }

    /// The `export NAME=value` lines of an openrc (quotes stripped;
    /// anything else, comments included, ignored).
    pub fn parse_openrc(text: &str) -> Vars {
        Vars::from_pairs(
            text.lines()
                .map(str::trim)
                .filter_map(|l| l.strip_prefix("export "))
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim(), v.trim().trim_matches(|c| c == '"' || c == '\''))),
        )
    }

    /// Sets `name` (an empty value unsets it).
    pub fn set(&mut self, name: String, value: String) {
        if value.is_empty() {
            self.0.remove(&name);
        } else {
            self.0.insert(name, value);
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The API these variables offer when none is asked for: Swift if any
    /// Swift variable is set, else S3 if an access key is.
    pub fn offered_api(&self) -> Option<Api> {
        if self.get("ST_AUTH").is_some() || self.get("OS_STORAGE_URL").is_some() {
            Some(Api::Swift)
        } else if self.get("AWS_ACCESS_KEY_ID").is_some() {
            Some(Api::S3)
        } else {
            None
        }
    }

    /// The credentials for `api` (or the one offered).
    pub fn credentials(&self, api: Option<Api>) -> Result<Credentials, BenchError> {
        let api = api
            .or_else(|| self.offered_api())
            .ok_or(BenchError::Credentials {
                api: "swift or s3",
                detail: "set ST_AUTH/ST_USER/ST_KEY, OS_AUTH_TOKEN/OS_STORAGE_URL or AWS_* \
                     (source an openrc), or pass them as flags"
                    .into(),
            })?;
        match api {
            Api::Swift => self.swift(),
            Api::S3 => self.s3(),
        }
    }

    fn swift(&self) -> Result<Credentials, BenchError> {
        if let (Some(url), Some(token)) = (self.get("OS_STORAGE_URL"), self.get("OS_AUTH_TOKEN")) {
            return Ok(Credentials::SwiftToken {
                storage_url: url.to_owned(),
                token: token.to_owned(),
            });
        }
        match (self.get("ST_AUTH"), self.get("ST_USER"), self.get("ST_KEY")) {
            (Some(a), Some(u), Some(k)) => Ok(Credentials::SwiftAuth {
                auth_url: a.to_owned(),
                user: u.to_owned(),
                key: k.to_owned(),
            }),
            _ => Err(BenchError::Credentials {
                api: "swift",
                detail: "need ST_AUTH, ST_USER and ST_KEY, or OS_STORAGE_URL and OS_AUTH_TOKEN"
                    .into(),
            }),
        }
    }

    fn s3(&self) -> Result<Credentials, BenchError> {
        let endpoint = self
            .get("AWS_ENDPOINT_URL_S3")
            .or_else(|| self.get("AWS_ENDPOINT_URL"));
        match (
            endpoint,
            self.get("AWS_ACCESS_KEY_ID"),
            self.get("AWS_SECRET_ACCESS_KEY"),
        ) {
            (Some(e), Some(a), Some(s)) => Ok(Credentials::S3 {
                endpoint_url: e.to_owned(),
                access_key: a.to_owned(),
                secret_key: s.to_owned(),
                region: self
                    .get("AWS_DEFAULT_REGION")
                    .or_else(|| self.get("AWS_REGION"))
                    .unwrap_or(DEFAULT_REGION)
                    .to_owned(),
            }),
            _ => Err(BenchError::Credentials {
                api: "s3",
                detail: "need AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENRC: &str = "# Written by `cairn up`\n\
        export ST_AUTH=http://127.0.0.1:8090/auth/v1.0\n\
        export ST_USER=demo:demo\n\
        export ST_KEY=\"k1\"\n\
        export AWS_ACCESS_KEY_ID=AK\n\
        export AWS_SECRET_ACCESS_KEY='sk'\n\
        export AWS_ENDPOINT_URL=http://127.0.0.1:8091\n\
        export AWS_DEFAULT_REGION=us-east-1\n";

    #[test]
    fn an_openrc_offers_swift_first_and_s3_on_request() {
        // cairn up's openrc has both; Swift is the default, S3 when asked, quotes stripped.
        let vars = Vars::parse_openrc(OPENRC);
        assert_eq!(vars.offered_api(), Some(Api::Swift));
        assert_eq!(
            vars.credentials(None).unwrap(),
            Credentials::SwiftAuth {
                auth_url: "http://127.0.0.1:8090/auth/v1.0".into(),
                user: "demo:demo".into(),
                key: "k1".into()
            }
        );
        assert_eq!(
            vars.credentials(Some(Api::S3)).unwrap(),
            Credentials::S3 {
                endpoint_url: "http://127.0.0.1:8091".into(),
                access_key: "AK".into(),
                secret_key: "sk".into(),
                region: "us-east-1".into()
            }
        );
    }

    #[test]
    fn a_token_and_storage_url_beat_tempauth() {
        // OS_AUTH_TOKEN + OS_STORAGE_URL skip the login.
        let mut vars = Vars::parse_openrc(OPENRC);
        vars.set("OS_STORAGE_URL".into(), "http://h/v1/AUTH_x".into());
        vars.set("OS_AUTH_TOKEN".into(), "tok".into());
        assert!(matches!(
            vars.credentials(Some(Api::Swift)).unwrap(),
            Credentials::SwiftToken { .. }
        ));
    }

    #[test]
    fn missing_variables_name_what_is_needed() {
        // Only AWS variables: S3 is offered; asking for Swift fails; nothing at all fails.
        let vars = Vars::from_pairs([
            ("AWS_ACCESS_KEY_ID", "a"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_ENDPOINT_URL", "http://h:1"),
            ("ST_AUTH", ""),
        ]);
        assert_eq!(vars.offered_api(), Some(Api::S3));
        let err = vars.credentials(Some(Api::Swift)).unwrap_err().to_string();
        assert!(err.contains("ST_AUTH"), "{err}");
        assert!(Vars::default().credentials(None).is_err());
    }
}
