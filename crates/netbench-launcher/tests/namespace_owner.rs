//! Two launches with the same `--namespace` never adopt or delete each other's run: against a
//! REAL kube-apiserver 1.36 as THE launcher ServiceAccount of deploy/.
//! Before: creation was a forced server-side apply (the second launch adopted the namespace) and
//! deletion went by name (the first launch's cleanup deleted whatever had that name).

mod support;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, PostParams};
use kube::Api;
use netbench_launcher::{cluster, LaunchError};
use std::time::Duration;
use support::ControlPlane;

fn namespace(name: &str) -> Namespace {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "netbench"}}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_is_created_once_and_deleted_only_by_whoever_created_it() {
    let cp = ControlPlane::start().await;
    let launcher = cp.launcher_client().await;
    let admin = cp.admin().await;
    let ns = namespace("netbench-owned");

    // The first launch creates it; the second is refused, clearly.
    let uid = cluster::create_namespace(&launcher, &ns).await.unwrap();
    assert!(!uid.is_empty());
    let e = cluster::create_namespace(&launcher, &ns).await.unwrap_err();
    assert!(matches!(e, LaunchError::NamespaceExists(..)), "{e}");
    assert!(e.to_string().contains("netbench-owned"), "{e}");

    // Someone deletes it and creates one of the same name: the first launch's cleanup, holding
    // the old UID, leaves the new one alone.
    let api: Api<Namespace> = Api::all(admin.clone());
    api.delete("netbench-owned", &DeleteParams::default())
        .await
        .unwrap();
    for _ in 0..300 {
        if api.get_opt("netbench-owned").await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let other = api.create(&PostParams::default(), &ns).await.unwrap();
    assert_ne!(other.metadata.uid.as_deref(), Some(uid.as_str()));
    let e = cluster::delete_namespace_of(
        &launcher,
        "netbench-owned",
        Some(&uid),
        Duration::from_secs(20),
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("no longer the one this launch created"),
        "{e}"
    );
    assert!(
        api.get_opt("netbench-owned").await.unwrap().is_some(),
        "the other launch's namespace was deleted"
    );

    // Its owner, with the right UID, deletes it.
    let uid2 = other.metadata.uid.unwrap();
    cluster::delete_namespace_of(
        &launcher,
        "netbench-owned",
        Some(&uid2),
        Duration::from_secs(60),
        |_| {},
    )
    .await
    .unwrap();
    assert!(api.get_opt("netbench-owned").await.unwrap().is_none());
}

/// A node selector that matches no node is refused with the selector and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_matching_no_node_is_named() {
    let cp = ControlPlane::start().await;
    cp.add_node("n1", "192.0.2.1", &[]).await;
    let launcher = cp.launcher_client().await;
    let e = cluster::select_nodes(&launcher, "netbench=nowhere")
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, LaunchError::TooFewNodes { found: 0, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("\"netbench=nowhere\" matches 0 node(s)") && msg.contains("Label more nodes"),
        "{msg}"
    );
}
