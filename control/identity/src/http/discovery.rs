//! Version discovery (`GET /` → 300 with the version list, `GET /v3` →
//! 200 with v3), which every client fetches first.

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde_json::{json, Value};

use super::respond::{json_response, ok};
use super::Svc;

fn v3(base: &str) -> Value {
    json!({"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
           "links": [{"rel": "self", "href": format!("{base}/v3/")}],
           "media-types": [{"base": "application/json",
                            "type": "application/vnd.openstack.identity-v3+json"}]})
}

pub async fn versions(State(svc): Svc) -> Response {
    let base = &svc.settings().public_url;
    json_response(
        StatusCode::MULTIPLE_CHOICES,
        &json!({"versions": {"values": [v3(base)]}}),
    )
}

pub async fn version(State(svc): Svc) -> Response {
    ok(&json!({"version": v3(&svc.settings().public_url)}))
}
