//! The identity HTTP API (Keystone v3), an axum router meant to be mounted
//! with `nest_service("/identity", router(..))` (plain `nest` would not
//! route `/identity/`, an auth URL written with a trailing slash). Every answer is JSON (errors in Keystone's
//! `{"error": {code, title, message}}`), carries `X-Openstack-Request-Id`,
//! and a 401 carries `WWW-Authenticate: Keystone uri="…"`.

mod assignments;
mod catalog_admin;
mod credentials;
mod discovery;
mod domains;
mod groups;
mod projects;
mod request;
mod respond;
mod roles;
mod tags;
mod tokens;
mod users;
mod views;

use axum::extract::State;
use axum::middleware::map_response_with_state;
use axum::routing::{get, post, put};
use axum::Router;
use std::sync::Arc;

use crate::Identity;

type Svc = State<Arc<Identity>>;

/// `GET /v3/<kind>s/{id}` of a record any reader may see (groups, roles).
async fn show<E: views::Viewed>(
    State(svc): Svc,
    headers: http::HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<axum::response::Response, crate::IdentityError> {
    request::caller(&svc, &headers)
        .await?
        .authorize(crate::policy::Action::Read)?;
    let e = svc.store().must::<E>(&id).await?;
    Ok(respond::ok(&views::one(&svc, &e)))
}

/// The routes of `/identity`: discovery at `/` and `/v3`, the API under
/// `/v3`.
pub fn router(service: Arc<Identity>) -> Router {
    let grant = put(assignments::grant)
        .get(assignments::check)
        .delete(assignments::revoke);
    let system_grant = put(assignments::system_grant)
        .get(assignments::system_check)
        .delete(assignments::system_revoke);
    Router::new()
        .route("/", get(discovery::versions))
        .route("/v3", get(discovery::version))
        .route("/v3/", get(discovery::version))
        .route(
            "/v3/auth/tokens",
            post(tokens::issue)
                .get(tokens::check)
                .delete(tokens::revoke),
        )
        .route("/v3/auth/catalog", get(tokens::catalog))
        .route("/v3/auth/projects", get(tokens::projects))
        .route("/v3/auth/domains", get(tokens::domains))
        .route("/v3/domains", get(domains::list).post(domains::create))
        .route(
            "/v3/domains/{id}",
            get(domains::show)
                .patch(domains::update)
                .delete(domains::delete),
        )
        .route("/v3/projects", get(projects::list).post(projects::create))
        .route(
            "/v3/projects/{id}",
            get(projects::show)
                .patch(projects::update)
                .delete(projects::delete),
        )
        .route(
            "/v3/projects/{id}/tags",
            get(tags::list).put(tags::replace).delete(tags::clear),
        )
        .route(
            "/v3/projects/{id}/tags/{tag}",
            put(tags::add).get(tags::check).delete(tags::remove),
        )
        .route("/v3/users", get(users::list).post(users::create))
        .route(
            "/v3/users/{id}",
            get(users::show).patch(users::update).delete(users::delete),
        )
        .route("/v3/users/{id}/password", post(users::change_password))
        .route("/v3/users/{id}/groups", get(users::groups))
        .route("/v3/users/{id}/projects", get(users::projects))
        .route("/v3/groups", get(groups::list).post(groups::create))
        .route(
            "/v3/groups/{id}",
            get(show::<crate::store::model::Group>)
                .patch(groups::update)
                .delete(groups::delete),
        )
        .route("/v3/groups/{id}/users", get(groups::members))
        .route(
            "/v3/groups/{gid}/users/{uid}",
            put(groups::add_member)
                .get(groups::check_member)
                .delete(groups::remove_member),
        )
        .route("/v3/roles", get(roles::list).post(roles::create))
        .route(
            "/v3/roles/{id}",
            get(show::<crate::store::model::Role>)
                .patch(roles::update)
                .delete(roles::delete),
        )
        .route("/v3/roles/{id}/implies", get(roles::implied_by))
        .route(
            "/v3/roles/{id}/implies/{implied}",
            put(roles::imply)
                .get(roles::show_rule)
                .head(roles::check_rule)
                .delete(roles::unimply),
        )
        .route("/v3/role_inferences", get(roles::inferences))
        .route("/v3/projects/{t}/users/{a}/roles", get(assignments::roles))
        .route("/v3/projects/{t}/groups/{a}/roles", get(assignments::roles))
        .route("/v3/domains/{t}/users/{a}/roles", get(assignments::roles))
        .route("/v3/domains/{t}/groups/{a}/roles", get(assignments::roles))
        .route("/v3/projects/{t}/users/{a}/roles/{r}", grant.clone())
        .route("/v3/projects/{t}/groups/{a}/roles/{r}", grant.clone())
        .route("/v3/domains/{t}/users/{a}/roles/{r}", grant.clone())
        .route("/v3/domains/{t}/groups/{a}/roles/{r}", grant)
        .route("/v3/system/users/{a}/roles", get(assignments::system_roles))
        .route(
            "/v3/system/groups/{a}/roles",
            get(assignments::system_roles),
        )
        .route("/v3/system/users/{a}/roles/{r}", system_grant.clone())
        .route("/v3/system/groups/{a}/roles/{r}", system_grant)
        .route("/v3/role_assignments", get(assignments::list))
        .route(
            "/v3/users/{id}/application_credentials",
            get(credentials::list_app_creds).post(credentials::create_app_cred),
        )
        .route(
            "/v3/users/{id}/application_credentials/{cid}",
            get(credentials::show_app_cred).delete(credentials::delete_app_cred),
        )
        .route(
            "/v3/users/{id}/credentials/OS-EC2",
            get(credentials::list_ec2).post(credentials::create_ec2),
        )
        .route(
            "/v3/users/{id}/credentials/OS-EC2/{access}",
            get(credentials::show_ec2).delete(credentials::delete_ec2),
        )
        .route(
            "/v3/regions",
            get(catalog_admin::list_regions).post(catalog_admin::create_region),
        )
        .route(
            "/v3/regions/{id}",
            get(catalog_admin::show_region)
                .put(catalog_admin::put_region)
                .patch(catalog_admin::update_region)
                .delete(catalog_admin::delete_region),
        )
        .route(
            "/v3/services",
            get(catalog_admin::list_services).post(catalog_admin::create_service),
        )
        .route(
            "/v3/services/{id}",
            get(catalog_admin::show_service)
                .patch(catalog_admin::update_service)
                .delete(catalog_admin::delete_service),
        )
        .route(
            "/v3/endpoints",
            get(catalog_admin::list_endpoints).post(catalog_admin::create_endpoint),
        )
        .route(
            "/v3/endpoints/{id}",
            get(catalog_admin::show_endpoint)
                .patch(catalog_admin::update_endpoint)
                .delete(catalog_admin::delete_endpoint),
        )
        .fallback(respond::not_found)
        .layer(map_response_with_state(service.clone(), respond::decorate))
        .with_state(service)
}

#[cfg(test)]
pub(crate) mod tests;
