//! The catalog's admin API: `/v3/regions`, `/v3/services` and
//! `/v3/endpoints`. The configured catalog (Cairn's own services, its
//! region) is listed first and is read-only (403 on a change); regions,
//! services and endpoints an operator creates are stored records, listed
//! after it. Created services are not yet put in tokens' catalogs.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{json, Value};

use super::request::{authorize, parse_json, Query};
use super::respond::{created, no_content, ok};
use super::views::collection;
use super::Svc;
use crate::error::IdentityError;
use crate::ids::new_id;
use crate::policy::Action;
use crate::store::model::{Endpoint, Region, Service};
use crate::Identity;

/// The interfaces an endpoint may have.
const INTERFACES: [&str; 3] = ["public", "internal", "admin"];

fn configured(kind: &str) -> IdentityError {
    IdentityError::Forbidden(format!(
        "This {kind} is part of Cairn's configured catalog and cannot be changed here."
    ))
}

/// 403 when `id` is one of the configured catalog's `entries` (services
/// or endpoints, as JSON), which are read-only.
fn refuse_configured(entries: &[Value], kind: &str, id: &str) -> Result<(), IdentityError> {
    if has_id(entries, id) {
        return Err(configured(kind));
    }
    Ok(())
}

// ---- regions ----

#[derive(Deserialize)]
struct RegionBody {
    region: RegionFields,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RegionFields {
    id: Option<String>,
    description: Option<String>,
    parent_region_id: Option<String>,
}

fn region_view(base: &str, r: &Region) -> Value {
    json!({"id": r.id, "description": r.description, "parent_region_id": r.parent_region_id,
           "links": {"self": format!("{base}/v3/regions/{}", r.id)}})
}

/// Every region: the configured one, then the created ones.
async fn all_regions(svc: &Identity) -> Result<Vec<Region>, IdentityError> {
    let mut out = vec![Region {
        id: svc.catalog().region().to_string(),
        description: String::new(),
        parent_region_id: None,
    }];
    out.extend(svc.store().list::<Region>().await?);
    Ok(out)
}

async fn find_region(svc: &Identity, id: &str) -> Result<Region, IdentityError> {
    all_regions(svc)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| IdentityError::not_found("region", id))
}

pub async fn list_regions(
    State(svc): Svc,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Read).await?;
    let q = Query::parse(raw.as_deref());
    let base = &svc.settings().public_url;
    let items = all_regions(&svc)
        .await?
        .iter()
        .filter(|r| {
            q.get("parent_region_id")
                .is_none_or(|p| r.parent_region_id.as_deref() == Some(p))
        })
        .map(|r| region_view(base, r))
        .collect();
    Ok(ok(&collection(base, "/v3/regions", "regions", items)))
}

pub async fn show_region(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Read).await?;
    let r = find_region(&svc, &id).await?;
    Ok(ok(
        &json!({"region": region_view(&svc.settings().public_url, &r)}),
    ))
}

async fn create_region_with(
    svc: &Identity,
    id: Option<String>,
    f: RegionFields,
) -> Result<Response, IdentityError> {
    if let Some(p) = &f.parent_region_id {
        find_region(svc, p).await?;
    }
    let id = id.or(f.id).unwrap_or_else(new_id);
    if id.is_empty() || id.chars().count() > crate::store::NAME_CHARS_MAX {
        return Err(IdentityError::bad_request("Invalid region id."));
    }
    if id == svc.catalog().region() {
        return Err(IdentityError::Conflict {
            kind: "region",
            detail: format!("Duplicate ID, {id}."),
        });
    }
    let r = Region {
        id,
        description: f.description.unwrap_or_default(),
        parent_region_id: f.parent_region_id,
    };
    svc.store().create(&r).await?;
    Ok(created(
        &json!({"region": region_view(&svc.settings().public_url, &r)}),
    ))
}

pub async fn create_region(
    State(svc): Svc,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Administer).await?;
    let RegionBody { region } = parse_json(&body)?;
    create_region_with(&svc, None, region).await
}

/// `PUT /v3/regions/{id}`: create with the id of the path.
pub async fn put_region(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Administer).await?;
    let RegionBody { region } = parse_json(&body)?;
    if region.id.as_ref().is_some_and(|i| *i != id) {
        return Err(IdentityError::bad_request(
            "The region id of the body differs from the path's.",
        ));
    }
    create_region_with(&svc, Some(id), region).await
}

pub async fn update_region(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Administer).await?;
    let RegionBody { region: f } = parse_json(&body)?;
    if id == svc.catalog().region() {
        return Err(configured("region"));
    }
    if let Some(p) = &f.parent_region_id {
        if *p == id {
            return Err(IdentityError::bad_request(
                "A region cannot be its own parent.",
            ));
        }
        find_region(&svc, p).await?;
    }
    let r = svc
        .store()
        .update::<Region>(&id, |r| {
            if let Some(d) = f.description {
                r.description = d;
            }
            if f.parent_region_id.is_some() {
                r.parent_region_id = f.parent_region_id;
            }
            Ok(())
        })
        .await?;
    Ok(ok(
        &json!({"region": region_view(&svc.settings().public_url, &r)}),
    ))
}

pub async fn delete_region(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Administer).await?;
    if id == svc.catalog().region() {
        return Err(configured("region"));
    }
    let r = svc.store().must::<Region>(&id).await?;
    let children = svc.store().list::<Region>().await?;
    if children
        .iter()
        .any(|c| c.parent_region_id.as_deref() == Some(&id))
    {
        return Err(IdentityError::Forbidden(
            "A region with child regions cannot be deleted.".into(),
        ));
    }
    svc.store().delete(&r, Vec::new()).await?;
    Ok(no_content())
}

// ---- services ----

#[derive(Deserialize)]
struct ServiceBody {
    service: ServiceFields,
}

#[derive(Deserialize, Default)]
struct ServiceFields {
    #[serde(rename = "type")]
    service_type: Option<String>,
    name: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
}

fn service_view(base: &str, s: &Service) -> Value {
    json!({"id": s.id, "type": s.service_type, "name": s.name, "description": s.description,
           "enabled": s.enabled, "links": {"self": format!("{base}/v3/services/{}", s.id)}})
}

/// Every service as JSON: the configured ones, then the created ones.
async fn all_services(svc: &Identity) -> Result<Vec<Value>, IdentityError> {
    let base = &svc.settings().public_url;
    let mut out = svc.catalog().services(base);
    out.extend(
        svc.store()
            .list::<Service>()
            .await?
            .iter()
            .map(|s| service_view(base, s)),
    );
    Ok(out)
}

/// Whether one of the catalog entries `items` (services or endpoints, as
/// JSON) has `id`.
fn has_id(items: &[Value], id: &str) -> bool {
    items.iter().any(|v| v["id"] == id)
}

/// The entry of `items` with `id`, or Keystone's 404 for a `kind`.
fn entry_with_id(items: Vec<Value>, kind: &'static str, id: &str) -> Result<Value, IdentityError> {
    items
        .into_iter()
        .find(|v| v["id"] == id)
        .ok_or_else(|| IdentityError::not_found(kind, id))
}

pub async fn list_services(
    State(svc): Svc,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Read).await?;
    let q = Query::parse(raw.as_deref());
    let base = &svc.settings().public_url;
    let items = all_services(&svc)
        .await?
        .into_iter()
        .filter(|s| q.get("type").is_none_or(|t| s["type"] == t))
        .filter(|s| q.get("name").is_none_or(|n| s["name"] == n))
        .collect();
    Ok(ok(&collection(base, "/v3/services", "services", items)))
}

pub async fn show_service(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Read).await?;
    let found = entry_with_id(all_services(&svc).await?, "service", &id)?;
    Ok(ok(&json!({ "service": found })))
}

pub async fn create_service(
    State(svc): Svc,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Administer).await?;
    let ServiceBody { service: f } = parse_json(&body)?;
    let service_type = f
        .service_type
        .filter(|t| !t.is_empty() && t.chars().count() <= crate::store::NAME_CHARS_MAX)
        .ok_or_else(|| IdentityError::bad_request("A service needs a type."))?;
    let s = Service {
        id: new_id(),
        name: f.name.unwrap_or_default(),
        service_type,
        description: f.description.unwrap_or_default(),
        enabled: f.enabled.unwrap_or(true),
    };
    svc.store().create(&s).await?;
    Ok(created(
        &json!({"service": service_view(&svc.settings().public_url, &s)}),
    ))
}

pub async fn update_service(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Administer).await?;
    refuse_configured(&svc.catalog().services(""), "service", &id)?;
    let ServiceBody { service: f } = parse_json(&body)?;
    let s = svc
        .store()
        .update::<Service>(&id, |s| {
            if let Some(t) = f.service_type {
                if t.is_empty() {
                    return Err(IdentityError::bad_request("A service needs a type."));
                }
                s.service_type = t;
            }
            if let Some(n) = f.name {
                s.name = n;
            }
            if let Some(d) = f.description {
                s.description = d;
            }
            if let Some(e) = f.enabled {
                s.enabled = e;
            }
            Ok(())
        })
        .await?;
    Ok(ok(
        &json!({"service": service_view(&svc.settings().public_url, &s)}),
    ))
}

/// Deletes the service and its endpoints.
pub async fn delete_service(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Administer).await?;
    refuse_configured(&svc.catalog().services(""), "service", &id)?;
    let s = svc.store().must::<Service>(&id).await?;
    for e in svc.store().list::<Endpoint>().await? {
        if e.service_id == id {
            svc.store().delete(&e, Vec::new()).await?;
        }
    }
    svc.store().delete(&s, Vec::new()).await?;
    Ok(no_content())
}

// ---- endpoints ----

#[derive(Deserialize)]
struct EndpointBody {
    endpoint: EndpointFields,
}

#[derive(Deserialize, Default)]
struct EndpointFields {
    service_id: Option<String>,
    interface: Option<String>,
    url: Option<String>,
    region_id: Option<String>,
    /// The older name of `region_id`; a region named so is created if missing.
    region: Option<String>,
    enabled: Option<bool>,
}

fn endpoint_view(base: &str, e: &Endpoint) -> Value {
    json!({"id": e.id, "service_id": e.service_id, "interface": e.interface, "url": e.url,
           "region_id": e.region_id, "region": e.region_id, "enabled": e.enabled,
           "links": {"self": format!("{base}/v3/endpoints/{}", e.id)}})
}

/// Every endpoint as JSON: the configured ones, then the created ones.
async fn all_endpoints(svc: &Identity) -> Result<Vec<Value>, IdentityError> {
    let base = &svc.settings().public_url;
    let mut out = svc.catalog().endpoints(base);
    out.extend(
        svc.store()
            .list::<Endpoint>()
            .await?
            .iter()
            .map(|e| endpoint_view(base, e)),
    );
    Ok(out)
}

fn check_interface(i: &str) -> Result<(), IdentityError> {
    if INTERFACES.contains(&i) {
        Ok(())
    } else {
        Err(IdentityError::bad_request(
            "An endpoint's interface is public, internal or admin.",
        ))
    }
}

fn check_url(u: &str) -> Result<(), IdentityError> {
    if u.is_empty() || u.len() > 2048 {
        return Err(IdentityError::bad_request("An endpoint needs a URL."));
    }
    Ok(())
}

/// The region an endpoint names (by `region_id`, or by `region`, which
/// creates it when missing, as Keystone does); 400 if `region_id` is unknown.
async fn endpoint_region(
    svc: &Identity,
    region_id: Option<String>,
    region: Option<String>,
) -> Result<Option<String>, IdentityError> {
    if let Some(r) = region_id {
        find_region(svc, &r)
            .await
            .map_err(|_| IdentityError::bad_request(format!("No region {r}.")))?;
        return Ok(Some(r));
    }
    let Some(r) = region else { return Ok(None) };
    if find_region(svc, &r).await.is_err() {
        let created = Region {
            id: r.clone(),
            description: String::new(),
            parent_region_id: None,
        };
        match svc.store().create(&created).await {
            Ok(()) | Err(IdentityError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(r))
}

/// 400 unless `id` is a service (configured or created).
async fn check_service(svc: &Identity, id: &str) -> Result<(), IdentityError> {
    if has_id(&all_services(svc).await?, id) {
        Ok(())
    } else {
        Err(IdentityError::bad_request(format!("No service {id}.")))
    }
}

pub async fn list_endpoints(
    State(svc): Svc,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Read).await?;
    let q = Query::parse(raw.as_deref());
    let base = &svc.settings().public_url;
    let items = all_endpoints(&svc)
        .await?
        .into_iter()
        .filter(|e| q.get("service_id").is_none_or(|s| e["service_id"] == s))
        .filter(|e| q.get("interface").is_none_or(|i| e["interface"] == i))
        .filter(|e| q.get("region_id").is_none_or(|r| e["region_id"] == r))
        .collect();
    Ok(ok(&collection(base, "/v3/endpoints", "endpoints", items)))
}

pub async fn show_endpoint(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Read).await?;
    let found = entry_with_id(all_endpoints(&svc).await?, "endpoint", &id)?;
    Ok(ok(&json!({ "endpoint": found })))
}

pub async fn create_endpoint(
    State(svc): Svc,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Administer).await?;
    let EndpointBody { endpoint: f } = parse_json(&body)?;
    let service_id = f
        .service_id
        .ok_or_else(|| IdentityError::bad_request("An endpoint needs a service_id."))?;
    let interface = f
        .interface
        .ok_or_else(|| IdentityError::bad_request("An endpoint needs an interface."))?;
    check_interface(&interface)?;
    let url = f.url.unwrap_or_default();
    check_url(&url)?;
    check_service(&svc, &service_id).await?;
    let region_id = endpoint_region(&svc, f.region_id, f.region).await?;
    let e = Endpoint {
        id: new_id(),
        service_id,
        region_id,
        interface,
        url,
        enabled: f.enabled.unwrap_or(true),
    };
    svc.store().create(&e).await?;
    Ok(created(
        &json!({"endpoint": endpoint_view(&svc.settings().public_url, &e)}),
    ))
}

pub async fn update_endpoint(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Administer).await?;
    refuse_configured(&svc.catalog().endpoints(""), "endpoint", &id)?;
    let EndpointBody { endpoint: f } = parse_json(&body)?;
    if let Some(i) = &f.interface {
        check_interface(i)?;
    }
    if let Some(u) = &f.url {
        check_url(u)?;
    }
    if let Some(s) = &f.service_id {
        check_service(&svc, s).await?;
    }
    let region_id = endpoint_region(&svc, f.region_id, f.region).await?;
    let e = svc
        .store()
        .update::<Endpoint>(&id, |e| {
            if let Some(s) = f.service_id {
                e.service_id = s;
            }
            if let Some(i) = f.interface {
                e.interface = i;
            }
            if let Some(u) = f.url {
                e.url = u;
            }
            if region_id.is_some() {
                e.region_id = region_id;
            }
            if let Some(en) = f.enabled {
                e.enabled = en;
            }
            Ok(())
        })
        .await?;
    Ok(ok(
        &json!({"endpoint": endpoint_view(&svc.settings().public_url, &e)}),
    ))
}

pub async fn delete_endpoint(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Administer).await?;
    refuse_configured(&svc.catalog().endpoints(""), "endpoint", &id)?;
    let e = svc.store().must::<Endpoint>(&id).await?;
    svc.store().delete(&e, Vec::new()).await?;
    Ok(no_content())
}
