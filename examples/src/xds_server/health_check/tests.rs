use std::net::SocketAddr;

use super::effective::{Observed, effective, priority_load};
use crate::xds_server::mesh::{Health, Mesh};

/// Primary locality with `primary` endpoints (ports 1..), secondary with 2 (ports 101..).
fn failover_mesh(primary: u16, checked: bool) -> Mesh {
    let endpoints = |from: u16, n: u16| {
        (from..from + n)
            .map(|p| format!("      - address: 127.0.0.1:{p}\n"))
            .collect::<String>()
    };
    let checks = if checked {
        "  health_check: {interval: 100ms}\n  overprovisioning_factor: 200\n"
    } else {
        ""
    };
    let yaml = format!(
        "clusters:\n- name: c\n{checks}  localities:\n  - locality: {{zone: a}}\n    priority: 0\n    endpoints:\n{}  - locality: {{zone: b}}\n    priority: 1\n    endpoints:\n{}",
        endpoints(1, primary),
        endpoints(101, 2)
    );
    Mesh::from_yaml(&yaml).expect("test mesh")
}

fn down(ports: &[u16]) -> Observed {
    ports
        .iter()
        .map(|p| (SocketAddr::from(([127, 0, 0, 1], *p)), false))
        .collect()
}

#[test]
fn results_become_eds_health_only_in_checked_clusters() {
    let observed = down(&[1]);
    let checked = effective(&failover_mesh(2, true), &observed);
    assert_eq!(
        checked.clusters[0].localities[0].endpoints[0].health,
        Health::Unhealthy
    );
    assert_eq!(
        checked.clusters[0].localities[0].endpoints[1].health,
        Health::Healthy
    );
    let unchecked = effective(&failover_mesh(2, false), &observed);
    assert_eq!(unchecked, failover_mesh(2, false));
}

#[test]
fn half_healthy_primary_keeps_all_load_with_factor_200() {
    let mesh = effective(&failover_mesh(2, true), &down(&[1]));
    assert_eq!(priority_load(&mesh.clusters[0], 200), vec![100.0, 0.0]);
    assert_eq!(mesh.clusters[0].localities[1].priority, 1, "no spill");
}

#[test]
fn third_healthy_primary_spills_into_one_merged_priority() {
    let mesh = effective(&failover_mesh(3, true), &down(&[1, 2]));
    // Primary health 200 × 1/3 = 66.7 %, the secondary takes the other 33.3 %.
    let localities = &mesh.clusters[0].localities;
    assert!(localities.iter().all(|l| l.priority == 0), "{localities:?}");
    assert_eq!(localities[0].weight, Some(6667));
    assert_eq!(localities[1].weight, Some(3333));
}

#[test]
fn all_down_primary_leaves_priorities_to_the_client() {
    let mesh = effective(&failover_mesh(2, true), &down(&[1, 2]));
    assert_eq!(priority_load(&mesh.clusters[0], 200), vec![0.0, 100.0]);
    assert_eq!(mesh.clusters[0].localities[1].priority, 1);
}
