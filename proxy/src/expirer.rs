//! The object expirer: objects written with `X-Delete-At` are deleted once
//! that time has passed, as Swift's `swift-object-expirer` does.
//!
//! Reads already answer 404 for an expired object; the expirer reclaims its
//! space and removes it from listings. Each write that sets an expiry queues
//! the object in the hidden account `.expiring_objects`, in the container
//! named by the expiry rounded down to the day, as `<delete-at>-<account>/
//! <container>/<object>` (Swift's layout). A sweep walks the due queue
//! entries in order, deletes each object with `X-If-Delete-At` (so an object
//! re-written or given another expiry since is left alone) and drops the
//! entry; an entry whose delete failed for another reason stays for the next
//! sweep.

use crate::auth::Identity;
use crate::errors::SwiftError;
use crate::server::{object_write, Ctx, ObjectPath, Shared};
use cairn_base::Timestamp;
use cairn_meta_api::{ContainerListItem, ListQuery, ObjectEntry, ObjectListItem};
use http::{HeaderMap, HeaderValue, Method};

/// The hidden account holding the queue.
pub const EXPIRING_ACCOUNT: &str = ".expiring_objects";
/// Queue containers each cover this many seconds (Swift's divisor).
const CONTAINER_SECS: u64 = 86_400;
/// Queue entries read per listing call.
const PAGE: usize = 1000;

/// The queue container and entry name of `obj` expiring at `delete_at`.
fn queue_slot(delete_at: u64, obj: &ObjectPath) -> (String, String) {
    let container = (delete_at / CONTAINER_SECS * CONTAINER_SECS).to_string();
    let name = format!(
        "{delete_at}-{}/{}/{}",
        obj.account, obj.container, obj.object
    );
    (container, name)
}

/// Splits a queue entry name back into its expiry and object.
fn parse_entry(name: &str) -> Option<(u64, ObjectPath)> {
    let (at, path) = name.split_once('-')?;
    let mut parts = path.splitn(3, '/');
    let (account, container, object) = (parts.next()?, parts.next()?, parts.next()?);
    if account.is_empty() || container.is_empty() || object.is_empty() {
        return None;
    }
    Some((
        at.parse().ok()?,
        ObjectPath {
            account: account.to_owned(),
            container: container.to_owned(),
            object: object.to_owned(),
        },
    ))
}

/// Queues `obj` if the metadata just written (`headers`) gives it an
/// `X-Delete-At`. A failure is logged, not returned: the write itself
/// succeeded, and reads refuse the object once it expires either way.
pub(crate) async fn note_write(
    sh: &Shared,
    obj: &ObjectPath,
    headers: &[(String, String)],
    ts: Timestamp,
) {
    let Some(at) = headers
        .iter()
        .find(|(k, _)| k == "x-delete-at")
        .and_then(|(_, v)| v.parse::<u64>().ok())
    else {
        return;
    };
    if let Err(e) = enqueue(sh, obj, at, ts).await {
        tracing::warn!(object = %obj.full_name(), error = %e, "expirer: could not queue the object");
    }
}

/// Queues `obj` for deletion at `delete_at`.
async fn enqueue(
    sh: &Shared,
    obj: &ObjectPath,
    delete_at: u64,
    ts: Timestamp,
) -> Result<(), SwiftError> {
    let (container, name) = queue_slot(delete_at, obj);
    if sh
        .containers
        .get(EXPIRING_ACCOUNT, &container, std::time::Instant::now())
        .is_none()
    {
        sh.meta
            .put_container(EXPIRING_ACCOUNT, &container, Default::default(), ts)
            .await?;
    }
    let entry = ObjectEntry {
        name,
        ts,
        size: 0,
        etag: String::new(),
        content_type: String::new(),
    };
    sh.meta
        .put_object_entry(EXPIRING_ACCOUNT, &container, entry)
        .await?;
    Ok(())
}

/// The identity the expirer deletes with: it may act on every account.
fn expirer_identity(now: Timestamp) -> Identity {
    Identity {
        account: EXPIRING_ACCOUNT.into(),
        user: "expirer".into(),
        admin: false,
        reseller_admin: true,
        service: false,
        with_service_token: false,
        reader: false,
        expires_secs: now.secs() + 3600,
    }
}

/// Deletes every object whose expiry has passed; returns how many queue
/// entries were settled (deleted, or found already gone or changed).
pub(crate) async fn sweep(sh: &Shared, now: Timestamp) -> Result<usize, SwiftError> {
    let containers = match sh
        .meta
        .list_containers(
            EXPIRING_ACCOUNT,
            &ListQuery {
                limit: PAGE,
                ..ListQuery::default()
            },
        )
        .await
    {
        Ok(c) => c,
        Err(cairn_meta_api::MetaError::AccountNotFound) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut settled = 0;
    for item in containers {
        let ContainerListItem::Container {
            name: container, ..
        } = item
        else {
            continue;
        };
        let Ok(day) = container.parse::<u64>() else {
            continue;
        };
        if day > now.secs() {
            break;
        }
        let (n, drained) = sweep_container(sh, &container, now).await?;
        settled += n;
        if drained {
            match sh
                .meta
                .delete_container(EXPIRING_ACCOUNT, &container, now)
                .await
            {
                Ok(()) | Err(cairn_meta_api::MetaError::ContainerNotEmpty) => {}
                Err(cairn_meta_api::MetaError::ContainerNotFound) => {}
                Err(e) => return Err(e.into()),
            }
            sh.containers.invalidate(EXPIRING_ACCOUNT, &container);
        }
    }
    Ok(settled)
}

/// Settles the due entries of one queue container; says whether it is empty.
async fn sweep_container(
    sh: &Shared,
    container: &str,
    now: Timestamp,
) -> Result<(usize, bool), SwiftError> {
    let mut settled = 0;
    let mut query = ListQuery {
        limit: PAGE,
        ..ListQuery::default()
    };
    let mut kept = false;
    loop {
        let page = sh
            .meta
            .list_objects(EXPIRING_ACCOUNT, container, &query)
            .await?;
        let full = page.len() == PAGE;
        for item in page {
            let ObjectListItem::Object(entry) = item else {
                continue;
            };
            query.marker = Some(entry.name.clone());
            match parse_entry(&entry.name) {
                Some((at, _)) if at > now.secs() => kept = true,
                Some((at, obj)) => {
                    if expire(sh, &obj, at, now).await {
                        drop_entry(sh, container, &entry.name, now).await?;
                        settled += 1;
                    } else {
                        kept = true;
                    }
                }
                // Not ours to understand: drop it rather than trip on it forever.
                None => drop_entry(sh, container, &entry.name, now).await?,
            }
        }
        if !full {
            return Ok((settled, !kept));
        }
    }
}

async fn drop_entry(
    sh: &Shared,
    container: &str,
    name: &str,
    now: Timestamp,
) -> Result<(), SwiftError> {
    sh.meta
        .delete_object_entry(EXPIRING_ACCOUNT, container, name, now)
        .await
        .map_err(Into::into)
}

/// Deletes `obj` if it still expires at `at`. True when the entry is settled.
async fn expire(sh: &Shared, obj: &ObjectPath, at: u64, now: Timestamp) -> bool {
    let mut headers = HeaderMap::new();
    headers.insert("x-if-delete-at", HeaderValue::from(at));
    let ctx = Ctx {
        method: Method::DELETE,
        headers,
        params: Vec::new(),
        now,
        id: Some(expirer_identity(now)),
        etag_is_at: None,
    };
    match object_write::delete(sh, &ctx, obj).await {
        Ok(_) | Err(SwiftError::NotFound) | Err(SwiftError::PreconditionFailed(_)) => true,
        Err(e) => {
            tracing::warn!(object = %obj.full_name(), error = %e, "expirer: delete failed; retrying later");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_round_trip() {
        let obj = ObjectPath {
            account: "AUTH_a".into(),
            container: "c".into(),
            object: "dir/o-1".into(),
        };
        let (c, n) = queue_slot(1_700_000_123, &obj);
        assert_eq!(c, "1699920000");
        assert_eq!(n, "1700000123-AUTH_a/c/dir/o-1");
        let (at, back) = parse_entry(&n).unwrap();
        assert_eq!(at, 1_700_000_123);
        assert_eq!(back.full_name(), obj.full_name());
        assert!(parse_entry("junk").is_none());
        assert!(parse_entry("12-a/b").is_none());
    }
}
