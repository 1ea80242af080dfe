//! EC2 credentials (by access key, and by user for listings) and token
//! revocations (by audit id, kept until the token would have expired).

use cairn_meta_api::records::{Check, Op, Txn};

use super::model::{AppCredential, Ec2Credential, Revocation};
use super::{conflict, encode, rkey, Entity, Store, EC2, EC2_BY_USER, REVOCATIONS};
use crate::error::IdentityError;

/// Revocations forgotten per transaction.
const PURGE_BATCH_MAX: usize = 1000;

fn ec2_ops(c: &Ec2Credential) -> [Op; 2] {
    [
        Op::Delete(rkey(EC2, &c.access)),
        Op::Delete(rkey(EC2_BY_USER, &format!("{}/{}", c.user_id, c.access))),
    ]
}

impl Store {
    /// Stores a new EC2 credential (409 if the access key exists).
    pub async fn create_ec2(&self, c: &Ec2Credential) -> Result<(), IdentityError> {
        let k = rkey(EC2, &c.access);
        let txn = Txn::new()
            .check(Check::absent(k.clone()))
            .put(k, encode(c))
            .put(
                rkey(EC2_BY_USER, &format!("{}/{}", c.user_id, c.access)),
                encode(&c.access),
            );
        match self.commit(txn).await? {
            None => Ok(()),
            Some(key) => Err(conflict("credential", &key)),
        }
    }

    pub async fn ec2(&self, access: &str) -> Result<Option<Ec2Credential>, IdentityError> {
        Ok(self.get(EC2, access).await?.map(|v| v.value))
    }

    /// The user's EC2 credentials.
    pub async fn ec2_of_user(&self, user_id: &str) -> Result<Vec<Ec2Credential>, IdentityError> {
        let mut out = Vec::new();
        for (_, access) in self
            .scan::<String>(EC2_BY_USER, &format!("{user_id}/"))
            .await?
        {
            out.extend(self.ec2(&access).await?);
        }
        Ok(out)
    }

    pub async fn delete_ec2(&self, c: &Ec2Credential) -> Result<(), IdentityError> {
        let mut txn = Txn::new();
        txn.ops.extend(ec2_ops(c));
        self.commit(txn).await?;
        Ok(())
    }

    /// Deletes of every EC2 and application credential of the user, for a
    /// cascade.
    pub async fn user_credential_deletes(&self, user_id: &str) -> Result<Vec<Op>, IdentityError> {
        let mut ops: Vec<Op> = Vec::new();
        for c in self.ec2_of_user(user_id).await? {
            ops.extend(ec2_ops(&c));
        }
        let prefix = format!("{user_id}/");
        for a in self.list_by_name_prefix::<AppCredential>(&prefix).await? {
            ops.push(Op::Delete(rkey(AppCredential::TABLE, &a.id)));
            ops.push(Op::Delete(rkey(AppCredential::NAMES, &a.name_key())));
        }
        Ok(ops)
    }

    /// Records the token with this audit id as revoked.
    pub async fn revoke(
        &self,
        audit_id: &str,
        expires_at_micros: u64,
    ) -> Result<(), IdentityError> {
        let r = Revocation { expires_at_micros };
        self.commit(Txn::new().put(rkey(REVOCATIONS, audit_id), encode(&r)))
            .await?;
        Ok(())
    }

    /// Whether any of the audit ids (a token's own and its parent's) was
    /// revoked.
    pub async fn is_revoked(&self, audit_ids: &[String]) -> Result<bool, IdentityError> {
        for a in audit_ids {
            if self.get::<Revocation>(REVOCATIONS, a).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Forgets revocations of tokens expired by `now_micros`; how many.
    pub async fn purge_revocations(&self, now_micros: u64) -> Result<usize, IdentityError> {
        let expired: Vec<Op> = self
            .scan::<Revocation>(REVOCATIONS, "")
            .await?
            .into_iter()
            .filter(|(_, r)| r.expires_at_micros <= now_micros)
            .map(|(k, _)| Op::Delete(rkey(REVOCATIONS, &k)))
            .collect();
        for batch in expired.chunks(PURGE_BATCH_MAX) {
            let mut txn = Txn::new();
            txn.ops = batch.to_vec();
            self.commit(txn).await?;
        }
        Ok(expired.len())
    }
}
