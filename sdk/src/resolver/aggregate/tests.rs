//! Aggregate graph flattening: order, dedup, loops, depth, unknown children.
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
