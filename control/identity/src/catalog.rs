//! The service catalog: the configured services, each with a public,
//! internal and admin endpoint at one URL, rendered for a token's project
//! (`$(project_id)s` filled in) and for `/v3/services` and `/v3/endpoints`.
//! Ids are derived from the type and name, so every node agrees on them.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::CatalogService;

/// The interfaces every service is published on (OSC picks `public`).
const INTERFACES: [&str; 3] = ["public", "internal", "admin"];

/// The catalog as configured.
#[derive(Debug, Clone)]
pub struct Catalog {
    services: Vec<CatalogService>,
    region: String,
}

/// A stable 32-hex id for `parts`.
fn derived_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// `url` with the project filled in; `None` if it needs a project and
/// there is none (Keystone leaves such endpoints out).
pub fn substitute(url: &str, project_id: Option<&str>) -> Option<String> {
    const FORMS: [&str; 4] = [
        "$(project_id)s",
        "$(tenant_id)s",
        "%(project_id)s",
        "%(tenant_id)s",
    ];
    if !FORMS.iter().any(|f| url.contains(f)) {
        return Some(url.to_string());
    }
    let pid = project_id?;
    Some(FORMS.iter().fold(url.to_string(), |u, f| u.replace(f, pid)))
}

impl Catalog {
    pub fn new(services: Vec<CatalogService>, region: String) -> Self {
        Catalog { services, region }
    }

    /// The region of the configured services.
    pub fn region(&self) -> &str {
        &self.region
    }

    fn region_of<'a>(&'a self, s: &'a CatalogService) -> &'a str {
        s.region.as_deref().unwrap_or(&self.region)
    }

    /// The token body's `catalog` for a token on `project_id`.
    pub fn for_token(&self, project_id: Option<&str>) -> Vec<Value> {
        let mut out = Vec::new();
        for s in &self.services {
            let Some(url) = substitute(&s.url, project_id) else {
                continue;
            };
            let sid = derived_id(&[&s.service_type, &s.name]);
            let region = self.region_of(s);
            let endpoints: Vec<Value> = INTERFACES
                .iter()
                .map(|i| {
                    json!({"id": derived_id(&[&sid, i]), "interface": i, "region": region,
                           "region_id": region, "url": url})
                })
                .collect();
            out.push(json!({"id": sid, "type": s.service_type, "name": s.name,
                            "endpoints": endpoints}));
        }
        out
    }

    /// `/v3/services` entries.
    pub fn services(&self, base: &str) -> Vec<Value> {
        self.services
            .iter()
            .map(|s| {
                let id = derived_id(&[&s.service_type, &s.name]);
                json!({"id": id, "type": s.service_type, "name": s.name, "enabled": true,
                       "description": "", "links": {"self": format!("{base}/v3/services/{id}")}})
            })
            .collect()
    }

    /// `/v3/endpoints` entries (URLs as templates).
    pub fn endpoints(&self, base: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for s in &self.services {
            let sid = derived_id(&[&s.service_type, &s.name]);
            let region = self.region_of(s);
            for i in INTERFACES {
                let id = derived_id(&[&sid, i]);
                out.push(json!({"id": id, "interface": i, "region": region,
                    "region_id": region, "url": s.url, "service_id": sid, "enabled": true,
                    "links": {"self": format!("{base}/v3/endpoints/{id}")}}));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::cairn_catalog;

    #[test]
    fn fills_in_the_project_or_leaves_the_endpoint_out() {
        // Project templates are filled for a project token and dropped
        // without a project; ids are stable across renders.
        let c = Catalog::new(
            cairn_catalog("http://h", "http://h:9000"),
            "RegionOne".into(),
        );
        let scoped = c.for_token(Some("p1"));
        let swift = scoped.iter().find(|s| s["type"] == "object-store").unwrap();
        assert_eq!(swift["endpoints"][0]["url"], "http://h/v1/AUTH_p1");
        assert_eq!(swift["endpoints"][0]["interface"], "public");
        assert_eq!(swift["endpoints"][0]["region_id"], "RegionOne");
        let unscoped = c.for_token(None);
        assert!(unscoped.iter().all(|s| s["type"] != "object-store"));
        assert!(unscoped.iter().any(|s| s["type"] == "identity"));
        assert_eq!(c.for_token(Some("p1")), scoped);
        assert_eq!(c.endpoints("http://h/identity").len(), 3 * 6);
        assert_eq!(
            substitute("x/%(tenant_id)s", Some("p")).as_deref(),
            Some("x/p")
        );
    }
}
