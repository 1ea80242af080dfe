//! A project's tags, `/v3/projects/{id}/tags[/{tag}]`: list, replace all,
//! clear; add, check and remove one. Keystone's limits: at most 80 tags of
//! at most 255 characters, none with a `/` or `,`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::request::{authorize, parse_json};
use super::respond::{no_content, ok};
use super::Svc;
use crate::error::IdentityError;
use crate::policy::Action;
use crate::store::model::Project;

/// Most tags one project holds.
pub const TAGS_MAX: usize = 80;
/// Longest tag.
pub const TAG_CHARS_MAX: usize = 255;

/// Refuses a tag Keystone would refuse.
fn check_tag(tag: &str) -> Result<(), IdentityError> {
    let n = tag.chars().count();
    if n == 0 || n > TAG_CHARS_MAX || tag.contains(['/', ',']) {
        return Err(IdentityError::bad_request(format!(
            "Invalid project tag: 1 to {TAG_CHARS_MAX} characters, no '/' or ','."
        )));
    }
    Ok(())
}

/// `tags` as a project's tag list: each checked, duplicates dropped, at
/// most [`TAGS_MAX`].
pub fn tag_list(tags: Vec<String>) -> Result<Vec<String>, IdentityError> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for t in tags {
        check_tag(&t)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > TAGS_MAX {
        return Err(IdentityError::bad_request(format!(
            "A project has at most {TAGS_MAX} tags."
        )));
    }
    Ok(out)
}

pub async fn list(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Read).await?;
    let p = svc.store().must::<Project>(&id).await?;
    Ok(ok(&json!({ "tags": p.tags })))
}

#[derive(Deserialize)]
struct Tags {
    tags: Vec<String>,
}

pub async fn replace(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Administer).await?;
    let Tags { tags } = parse_json(&body)?;
    let tags = tag_list(tags)?;
    let p = svc
        .store()
        .update::<Project>(&id, |p| {
            p.tags = tags;
            Ok(())
        })
        .await?;
    Ok(ok(&json!({ "tags": p.tags })))
}

pub async fn clear(
    State(svc): Svc,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Administer).await?;
    svc.store()
        .update::<Project>(&id, |p| {
            p.tags.clear();
            Ok(())
        })
        .await?;
    Ok(no_content())
}

/// `PUT …/tags/{tag}`: 201 with no body (the API guideline's answer).
pub async fn add(
    State(svc): Svc,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Administer).await?;
    svc.store()
        .update::<Project>(&id, |p| {
            let mut tags = p.tags.clone();
            tags.push(tag);
            p.tags = tag_list(tags)?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::CREATED.into_response())
}

pub async fn check(
    State(svc): Svc,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Read).await?;
    let p = svc.store().must::<Project>(&id).await?;
    if p.tags.contains(&tag) {
        Ok(no_content())
    } else {
        Err(IdentityError::not_found("project tag", &tag))
    }
}

pub async fn remove(
    State(svc): Svc,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    authorize(&svc, &headers, Action::Administer).await?;
    let mut found = false;
    svc.store()
        .update::<Project>(&id, |p| {
            found = p.tags.contains(&tag);
            p.tags.retain(|t| *t != tag);
            Ok(())
        })
        .await?;
    if found {
        Ok(no_content())
    } else {
        Err(IdentityError::not_found("project tag", &tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_lists_drop_duplicates_and_refuse_what_keystone_refuses() {
        // Duplicates collapse in order; '/', ',', empty, too long or too many fail.
        let l = tag_list(vec!["a".into(), "b".into(), "a".into()]).unwrap();
        assert_eq!(l, ["a", "b"]);
        for bad in ["a/b", "a,b", ""] {
            assert!(tag_list(vec![bad.into()]).is_err(), "{bad:?}");
        }
        assert!(tag_list(vec!["x".repeat(TAG_CHARS_MAX + 1)]).is_err());
        let many: Vec<String> = (0..=TAGS_MAX).map(|i| i.to_string()).collect();
        assert!(tag_list(many).is_err());
        let most: Vec<String> = (0..TAGS_MAX).map(|i| i.to_string()).collect();
        assert_eq!(tag_list(most).unwrap().len(), TAGS_MAX);
    }
}
