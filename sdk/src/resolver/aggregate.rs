//! Flattening an aggregate cluster graph into its ordered leaf clusters (gRFCs A37 and A75).
//!
//! The children of an aggregate cluster are walked depth-first in the order listed; a cluster
//! reached twice is kept at its first position only; a cluster that leads back to one of its
//! ancestors is a loop (an error for the aggregate); a graph deeper than
//! [`MAX_AGGREGATE_DEPTH`] levels is an error. A cluster whose resource failed is a leaf (so
//! failover passes over it like over any failing priority). The walk is pure: the caller says
//! what each cluster is; watching resources is the resolver core's job.

use std::collections::HashSet;

use super::error::ClusterError;

/// Levels an aggregate graph may have, root included (gRFC A37).
pub const MAX_AGGREGATE_DEPTH: usize = 16;

/// What the caller knows about one cluster of the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node<'a> {
    /// No value and no error yet: the walk cannot finish.
    Unknown,
    /// Not an aggregate (EDS, LOGICAL_DNS, or failed).
    Leaf,
    /// An aggregate with these children, in priority order.
    Aggregate(&'a [String]),
}

/// The result of walking one aggregate cluster's graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flattened {
    /// Leaf clusters, highest priority first; or why the graph is unusable. Partial while
    /// `complete` is false.
    pub leaves: Result<Vec<String>, ClusterError>,
    /// Every cluster the walk reached below the root, in walk order: each needs a watch.
    pub reached: Vec<String>,
    /// No [`Node::Unknown`] was met (an error is final either way).
    pub complete: bool,
}

/// Walks the graph under aggregate cluster `root`.
pub fn flatten<'a>(root: &str, lookup: &dyn Fn(&str) -> Node<'a>) -> Flattened {
    let mut walk = Walk {
        root,
        lookup,
        seen: HashSet::from([root.to_string()]),
        path: Vec::new(),
        reached: Vec::new(),
        leaves: Vec::new(),
        complete: true,
    };
    let result = walk.visit(root, 0);
    Flattened {
        leaves: match result {
            Err(e) => Err(e),
            Ok(()) if walk.complete && walk.leaves.is_empty() => {
                Err(ClusterError::AggregateNoLeaves {
                    name: root.to_string(),
                })
            }
            Ok(()) => Ok(walk.leaves),
        },
        reached: walk.reached,
        complete: walk.complete,
    }
}

struct Walk<'w, 'a> {
    root: &'w str,
    lookup: &'w dyn Fn(&str) -> Node<'a>,
    seen: HashSet<String>,
    path: Vec<String>,
    reached: Vec<String>,
    leaves: Vec<String>,
    complete: bool,
}

impl Walk<'_, '_> {
    fn visit(&mut self, name: &str, depth: usize) -> Result<(), ClusterError> {
        if depth >= MAX_AGGREGATE_DEPTH {
            let mut path = self.path.clone();
            path.push(name.to_string());
            return Err(ClusterError::AggregateTooDeep {
                name: self.root.to_string(),
                path,
                max: MAX_AGGREGATE_DEPTH,
            });
        }
        let children = match (self.lookup)(name) {
            Node::Unknown => {
                self.complete = false;
                return Ok(());
            }
            Node::Leaf => {
                self.leaves.push(name.to_string());
                return Ok(());
            }
            Node::Aggregate(children) => children,
        };
        self.path.push(name.to_string());
        for child in children {
            if let Some(start) = self.path.iter().position(|p| p == child) {
                let mut path = self.path[start..].to_vec();
                path.push(child.clone());
                return Err(ClusterError::AggregateLoop {
                    name: self.root.to_string(),
                    path,
                });
            }
            if !self.seen.insert(child.clone()) {
                continue;
            }
            self.reached.push(child.clone());
            self.visit(child, depth + 1)?;
        }
        self.path.pop();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
