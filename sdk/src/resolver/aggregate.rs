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
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A graph given as `name → children`; names not listed are leaves, `?`-prefixed are unknown.
    fn graph(edges: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(n, c)| (n.to_string(), c.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    fn walk(g: &HashMap<String, Vec<String>>, root: &str) -> Flattened {
        let lookup = |name: &str| match g.get(name) {
            Some(children) => Node::Aggregate(children.as_slice()),
            None if name.starts_with('?') => Node::Unknown,
            None => Node::Leaf,
        };
        flatten(root, &lookup)
    }

    #[test]
    fn leaves_come_depth_first_in_priority_order_without_duplicates() {
        let g = graph(&[("root", &["a", "mid", "b"]), ("mid", &["c", "a", "d"])]);
        let f = walk(&g, "root");
        assert_eq!(
            f.leaves,
            Ok(vec!["a".into(), "c".into(), "d".into(), "b".into()])
        );
        assert_eq!(f.reached, ["a", "mid", "c", "d", "b"]);
        assert!(f.complete);
    }

    #[test]
    fn a_diamond_is_not_a_loop() {
        let g = graph(&[("root", &["x", "y"]), ("x", &["leaf"]), ("y", &["leaf"])]);
        assert_eq!(walk(&g, "root").leaves, Ok(vec!["leaf".into()]));
    }

    #[test]
    fn a_loop_is_an_error_naming_the_cycle() {
        let g = graph(&[("root", &["a"]), ("a", &["b"]), ("b", &["a"])]);
        let f = walk(&g, "root");
        assert_eq!(
            f.leaves,
            Err(ClusterError::AggregateLoop {
                name: "root".into(),
                path: vec!["a".into(), "b".into(), "a".into()],
            })
        );
        assert!(f.leaves.unwrap_err().to_string().contains("a → b → a"));
        assert_eq!(
            f.reached,
            ["a", "b"],
            "the clusters of the loop stay watched"
        );
    }

    #[test]
    fn sixteen_levels_are_allowed_seventeen_are_not() {
        let names: Vec<String> = (0..=16).map(|i| format!("c{i}")).collect();
        let chain = |levels: usize| {
            let mut g = HashMap::new();
            for i in 0..levels - 1 {
                g.insert(names[i].clone(), vec![names[i + 1].clone()]);
            }
            g
        };
        // 16 levels: c0 (root) .. c15 (leaf).
        assert_eq!(walk(&chain(16), "c0").leaves, Ok(vec!["c15".into()]));
        // 17 levels: c16 sits at depth 16.
        match walk(&chain(17), "c0").leaves {
            Err(ClusterError::AggregateTooDeep { path, max: 16, .. }) => assert_eq!(path.len(), 17),
            other => panic!("expected too deep, got {other:?}"),
        }
    }

    #[test]
    fn unknown_children_leave_the_walk_incomplete_but_reached() {
        let g = graph(&[("root", &["?x", "a"])]);
        let f = walk(&g, "root");
        assert!(!f.complete);
        assert_eq!(f.reached, ["?x", "a"]);
        assert_eq!(f.leaves, Ok(vec!["a".into()]));
    }

    #[test]
    fn a_graph_of_only_repeats_has_no_leaves() {
        let g = graph(&[("root", &["root2"]), ("root2", &[])]);
        assert_eq!(
            walk(&g, "root").leaves,
            Err(ClusterError::AggregateNoLeaves {
                name: "root".into()
            })
        );
    }
}
