//! The store over `MemoryRecords`: unique names per scope, renames,
//! cascades, and roles through groups and implication.

use cairn_meta_api::records::MemoryRecords;
use std::sync::Arc;

use super::model::{Actor, Assignment, Project, Role, Target, User};
use super::{scoped, with_implied, Store, PROJECT_NAMES};
use crate::error::IdentityError;

fn store() -> Store {
    Store::new(Arc::new(MemoryRecords::new()))
}

fn project(id: &str, name: &str, domain: &str) -> Project {
    Project {
        id: id.into(),
        name: name.into(),
        domain_id: domain.into(),
        description: String::new(),
        enabled: true,
        tags: Vec::new(),
    }
}

fn role(id: &str, name: &str) -> Role {
    Role {
        id: id.into(),
        name: name.into(),
        description: String::new(),
    }
}

#[tokio::test]
async fn names_are_unique_per_scope_and_move_on_rename() {
    // The same name twice in a domain conflicts, in another domain not; a
    // rename frees the old name and takes the new one atomically.
    let s = store();
    s.create(&project("p1", "web", "d1")).await.unwrap();
    s.create(&project("p2", "web", "d2")).await.unwrap();
    let dup = s.create(&project("p3", "web", "d1")).await;
    assert!(matches!(dup, Err(IdentityError::Conflict { .. })));
    assert!(s.entity::<Project>("p3").await.unwrap().is_none());
    s.create(&project("p3", "db", "d1")).await.unwrap();
    let taken = s
        .update::<Project>("p3", |p| {
            p.name = "web".into();
            Ok(())
        })
        .await;
    assert!(matches!(taken, Err(IdentityError::Conflict { .. })));
    s.update::<Project>("p1", |p| {
        p.name = "www".into();
        Ok(())
    })
    .await
    .unwrap();
    let found = s.by_name::<Project>(&scoped("d1", "www")).await.unwrap();
    assert_eq!(found.map(|p| p.id).as_deref(), Some("p1"));
    assert!(s
        .by_name::<Project>(&scoped("d1", "web"))
        .await
        .unwrap()
        .is_none());
    s.create(&project("p4", "web", "d1")).await.unwrap();
    let p4 = s.must::<Project>("p4").await.unwrap();
    s.delete(&p4, Vec::new()).await.unwrap();
    assert!(s
        .get::<String>(PROJECT_NAMES, "d1/web")
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        s.must::<Project>("p4").await,
        Err(IdentityError::NotFound { .. })
    ));
}

#[tokio::test]
async fn roles_come_through_groups_and_imply_the_lesser_ones() {
    // A user's roles on a project: its own and its groups', with admin
    // implying member and reader; other projects are unaffected.
    let s = store();
    for r in [
        role("ra", "admin"),
        role("rm", "member"),
        role("rr", "reader"),
        role("rx", "custom"),
    ] {
        s.create(&r).await.unwrap();
    }
    let p1 = Target::Project("p1".into());
    s.assign(&Assignment {
        actor: Actor::User("u1".into()),
        target: p1.clone(),
        role_id: "rx".into(),
    })
    .await
    .unwrap();
    s.add_member("g1", "u1").await.unwrap();
    s.assign(&Assignment {
        actor: Actor::Group("g1".into()),
        target: p1.clone(),
        role_id: "ra".into(),
    })
    .await
    .unwrap();
    let names = |rs: Vec<Role>| rs.into_iter().map(|r| r.name).collect::<Vec<_>>();
    let got = s.effective_roles("u1", &p1).await.unwrap();
    assert_eq!(names(got), ["admin", "custom", "member", "reader"]);
    let other = s
        .effective_roles("u1", &Target::Project("p2".into()))
        .await
        .unwrap();
    assert!(other.is_empty());
    s.remove_member("g1", "u1").await.unwrap();
    assert_eq!(
        names(s.effective_roles("u1", &p1).await.unwrap()),
        ["custom"]
    );
    let all = [role("rm", "member"), role("rr", "reader")];
    assert_eq!(
        names(with_implied(vec![role("rm", "member")], &all)),
        ["member", "reader"]
    );
    let user_ops = s.user_membership_deletes("u1").await.unwrap();
    assert!(user_ops.is_empty());
}

#[tokio::test]
async fn bootstrap_twice_writes_nothing() {
    // The second bootstrap finds every record and leaves each at its revision.
    let clock = Arc::new(crate::http::tests::TestClock::at(1_700_000_000));
    let records = Arc::new(MemoryRecords::new());
    let svc = crate::http::tests::service(records.clone(), clock);
    let first = svc.bootstrap(&crate::http::tests::spec()).await.unwrap();
    let s = svc.store();
    let revision = |id: String| async move {
        s.get::<User>(super::USERS, &id)
            .await
            .unwrap()
            .unwrap()
            .revision
    };
    let before = revision(first.admin_user_id.clone()).await;
    let second = svc.bootstrap(&crate::http::tests::spec()).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(revision(first.admin_user_id.clone()).await, before);
    assert_eq!(s.list::<Role>().await.unwrap().len(), 3);
    assert_eq!(s.all_assignments().await.unwrap().len(), 2);
}
