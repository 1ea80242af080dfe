//! Who is in the metadata group: adding a node as a learner (it receives
//! the log but does not vote), promoting a learner to voter, removing a
//! node. Like writes, a change asked of a follower goes to the leader.

use std::collections::BTreeSet;

use openraft::ChangeMembers;
use serde::{Deserialize, Serialize};

use cairn_meta_api::MetaError;

use crate::node::{write_error, Leader, MetaNode};
use crate::types::{Node, NodeId};

/// A change of the group's members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberChange {
    /// Adds `id` at `addr` as a learner (a no-op for a member).
    AddLearner { id: NodeId, addr: String },
    /// Makes learner `id` a voter.
    Promote { id: NodeId },
    /// Removes `id`, voter or learner.
    Remove { id: NodeId },
}

/// The group as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Members {
    pub voters: BTreeSet<NodeId>,
    pub learners: BTreeSet<NodeId>,
}

impl MetaNode {
    /// The voters and learners of the membership this node last applied.
    pub fn members(&self) -> Members {
        let metrics = self.raft().metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let learners = membership.learner_ids().collect();
        Members { voters, learners }
    }

    /// Applies `change` through the leader, again while leadership changes.
    pub async fn change_members(&self, change: MemberChange) -> Result<(), MetaError> {
        self.retrying(|| async {
            match self.leader().await? {
                Leader::Me => self.change_members_here(change.clone()).await,
                Leader::Other(id, node) => self.link()?.members(id, &node, change.clone()).await,
            }
        })
        .await
    }

    /// Applies `change` as the leader (what a forwarded change runs).
    pub async fn change_members_here(&self, change: MemberChange) -> Result<(), MetaError> {
        self.ensure_leader()?;
        let raft = self.raft();
        let done = match change {
            MemberChange::AddLearner { id, addr } => {
                // Not blocking: a new learner may need a snapshot first; it
                // catches up in the background.
                raft.add_learner(id, Node::new(addr), false)
                    .await
                    .map(|_| ())
            }
            MemberChange::Promote { id } => raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                .await
                .map(|_| ()),
            MemberChange::Remove { id } => {
                let members = self.members();
                let change = if members.voters.contains(&id) {
                    ChangeMembers::RemoveVoters(BTreeSet::from([id]))
                } else {
                    ChangeMembers::RemoveNodes(BTreeSet::from([id]))
                };
                raft.change_membership(change, false).await.map(|_| ())
            }
        };
        done.map_err(|e| write_error(e, "membership change"))
    }
}
