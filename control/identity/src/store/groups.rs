//! Group membership, kept in two tables (by group and by user) written in
//! the same transaction, so both directions list with one prefix scan.

use cairn_meta_api::records::{Op, Txn};

use super::{encode, rkey, Store, GROUP_MEMBERS, USER_GROUPS};
use crate::error::IdentityError;

fn member_ops(group_id: &str, user_id: &str) -> [Op; 2] {
    [
        Op::Delete(rkey(GROUP_MEMBERS, &format!("{group_id}/{user_id}"))),
        Op::Delete(rkey(USER_GROUPS, &format!("{user_id}/{group_id}"))),
    ]
}

impl Store {
    /// Adds the user to the group (adding again changes nothing).
    pub async fn add_member(&self, group_id: &str, user_id: &str) -> Result<(), IdentityError> {
        let txn = Txn::new()
            .put(
                rkey(GROUP_MEMBERS, &format!("{group_id}/{user_id}")),
                encode(&user_id),
            )
            .put(
                rkey(USER_GROUPS, &format!("{user_id}/{group_id}")),
                encode(&group_id),
            );
        self.commit(txn).await?;
        Ok(())
    }

    /// Removes the user from the group; 404 if not a member.
    pub async fn remove_member(&self, group_id: &str, user_id: &str) -> Result<(), IdentityError> {
        if !self.is_member(group_id, user_id).await? {
            return Err(IdentityError::not_found("group membership", user_id));
        }
        let mut txn = Txn::new();
        txn.ops.extend(member_ops(group_id, user_id));
        self.commit(txn).await?;
        Ok(())
    }

    pub async fn is_member(&self, group_id: &str, user_id: &str) -> Result<bool, IdentityError> {
        Ok(self
            .get::<String>(GROUP_MEMBERS, &format!("{group_id}/{user_id}"))
            .await?
            .is_some())
    }

    /// The ids of the group's members.
    pub async fn members(&self, group_id: &str) -> Result<Vec<String>, IdentityError> {
        let rows = self
            .scan::<String>(GROUP_MEMBERS, &format!("{group_id}/"))
            .await?;
        Ok(rows.into_iter().map(|(_, u)| u).collect())
    }

    /// The ids of the groups the user is in.
    pub async fn groups_of(&self, user_id: &str) -> Result<Vec<String>, IdentityError> {
        let rows = self
            .scan::<String>(USER_GROUPS, &format!("{user_id}/"))
            .await?;
        Ok(rows.into_iter().map(|(_, g)| g).collect())
    }

    /// Deletes of every membership of the user, for a cascade.
    pub async fn user_membership_deletes(&self, user_id: &str) -> Result<Vec<Op>, IdentityError> {
        let groups = self.groups_of(user_id).await?;
        Ok(groups.iter().flat_map(|g| member_ops(g, user_id)).collect())
    }

    /// Deletes of every membership in the group, for a cascade.
    pub async fn group_membership_deletes(&self, group_id: &str) -> Result<Vec<Op>, IdentityError> {
        let users = self.members(group_id).await?;
        Ok(users.iter().flat_map(|u| member_ops(group_id, u)).collect())
    }
}
