//! Error paths a real API server will not produce on demand (5xx, a 403 on one verb, a
//! namespace that never goes, the ServiceAccount race), against kube-rs's tower-test mock in
//! the ApiServerVerifier style of kube-rs/controller-rs: each scenario asserts the requests
//! the launcher makes and answers like the server would; a missing call fails on a timeout.

use http::{Request, Response};
use k8s_openapi::api::core::v1::Namespace;
use kube::client::Body;
use kube::{Api, Client};
use netbench_launcher::{cluster, LaunchError};
use std::time::Duration;
use tokio::task::JoinHandle;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn mock() -> (Client, Handle) {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(svc, "default"), handle)
}

fn respond(code: u16, body: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

fn status(code: u16, reason: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code})
}

/// Plays the API server: `steps` answer successive requests after checking method and path.
struct Verifier(Handle);
impl Verifier {
    async fn expect(&mut self, method: &str, path_prefix: &str, answer: Response<Body>) {
        let (req, send) = tokio::time::timeout(Duration::from_secs(5), self.0.next_request())
            .await
            .unwrap_or_else(|_| panic!("no {method} {path_prefix} request came"))
            .expect("service not dropped");
        assert_eq!(req.method().as_str(), method, "{}", req.uri());
        assert!(
            req.uri().path().starts_with(path_prefix),
            "{} {} (wanted {path_prefix})",
            req.method(),
            req.uri()
        );
        send.send_response(answer);
    }
}

fn spawn<F: std::future::Future<Output = ()> + Send + 'static>(f: F) -> JoinHandle<()> {
    tokio::spawn(f)
}

async fn finish(server: JoinHandle<()>) {
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("scenario finished")
        .expect("scenario passed");
}

#[tokio::test]
async fn a_5xx_listing_nodes_says_what_failed_and_the_selector() {
    let (client, handle) = mock();
    let server = spawn(async move {
        let mut v = Verifier(handle);
        v.expect(
            "GET",
            "/api/v1/nodes",
            respond(
                500,
                status(500, "InternalError", "etcdserver: request timed out"),
            ),
        )
        .await;
    });
    let e = cluster::select_nodes(&client, "node-lifecycle=on-demand")
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("cannot list nodes (selector \"node-lifecycle=on-demand\")")
            && msg.contains("etcdserver: request timed out"),
        "{msg}"
    );
    finish(server).await;
}

#[tokio::test]
async fn a_403_on_one_verb_points_at_the_clusterrole() {
    let (client, handle) = mock();
    let server = spawn(async move {
        let mut v = Verifier(handle);
        v.expect(
            "PATCH",
            "/api/v1/namespaces/nb-x",
            respond(
                403,
                status(
                    403,
                    "Forbidden",
                    "namespaces \"nb-x\" is forbidden: User \"system:serviceaccount:netbench:netbench-launcher\" cannot patch resource \"namespaces\"",
                ),
            ),
        )
        .await;
    });
    let mut ns = Namespace::default();
    ns.metadata.name = Some("nb-x".into());
    let e = cluster::apply(&Api::<Namespace>::all(client), &ns)
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, LaunchError::Kube { .. }));
    assert!(
        msg.starts_with("cannot apply Namespace nb-x: ")
            && msg.contains("cannot patch resource \"namespaces\"")
            && msg.contains("deploy/rbac.yaml"),
        "{msg}"
    );
    finish(server).await;
}

#[tokio::test]
async fn pods_refused_until_the_default_service_account_exists_are_retried() {
    let (client, handle) = mock();
    let server = spawn(async move {
        let mut v = Verifier(handle);
        v.expect(
            "PATCH",
            "/api/v1/namespaces/nb-x/pods/nats",
            respond(
                403,
                status(
                    403,
                    "Forbidden",
                    "pods \"nats\" is forbidden: error looking up service account nb-x/default: serviceaccount \"default\" not found",
                ),
            ),
        )
        .await;
        let mut pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "nats", "namespace": "nb-x"}, "spec": {"containers": []}});
        v.expect(
            "PATCH",
            "/api/v1/namespaces/nb-x/pods/nats",
            respond(200, pod.take()),
        )
        .await;
    });
    let mut pod = k8s_openapi::api::core::v1::Pod::default();
    pod.metadata.name = Some("nats".into());
    let pods = Api::namespaced(client, "nb-x");
    cluster::apply(&pods, &pod)
        .await
        .expect("second try succeeds");
    finish(server).await;
}

#[tokio::test]
async fn a_namespace_that_never_goes_is_reported_with_the_command_to_finish() {
    let (client, handle) = mock();
    let server = spawn(async move {
        let mut v = Verifier(handle);
        let terminating = serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "nb-x"}, "status": {"phase": "Terminating"}});
        // A ClusterRole from before the launcher emptied namespaces: no "delete" on Jobs.
        v.expect(
            "DELETE",
            "/apis/batch/v1/namespaces/nb-x/jobs/orchestrator",
            respond(
                403,
                status(403, "Forbidden", "jobs.batch \"orchestrator\" is forbidden"),
            ),
        )
        .await;
        v.expect(
            "DELETE",
            "/api/v1/namespaces/nb-x",
            respond(200, terminating.clone()),
        )
        .await;
        // Polled until the timeout: still there every time.
        loop {
            let Ok(Some((req, send))) =
                tokio::time::timeout(Duration::from_secs(3), v.0.next_request()).await
            else {
                break;
            };
            assert_eq!(req.method(), "GET");
            send.send_response(respond(200, terminating.clone()));
        }
    });
    let mut notes = Vec::new();
    let e = cluster::delete_namespace(&client, "nb-x", Duration::from_millis(1200), |n| {
        notes.push(n.to_string())
    })
    .await
    .unwrap_err();
    assert_eq!(
        notes,
        [
            "could not empty namespace nb-x before deleting it (deleting the orchestrator Job: \
          forbidden; deploy/rbac.yaml grants it, re-apply it to clean up faster); deleting it \
          with what is left, which takes longer"
        ]
    );
    let msg = e.to_string();
    assert!(matches!(e, LaunchError::Cleanup(_)), "{msg}");
    assert!(
        msg.contains("namespace nb-x still exists after 1.2s (phase Terminating)")
            && msg.contains("kubectl delete namespace nb-x"),
        "{msg}"
    );
    finish(server).await;
}

#[tokio::test]
async fn deleting_a_namespace_that_is_already_gone_is_fine() {
    let (client, handle) = mock();
    let server = spawn(async move {
        let mut v = Verifier(handle);
        let no_pods = serde_json::json!({"apiVersion": "v1", "kind": "PodList",
            "metadata": {}, "items": []});
        v.expect(
            "DELETE",
            "/apis/batch/v1/namespaces/nb-x/jobs/orchestrator",
            respond(
                404,
                status(404, "NotFound", "jobs.batch \"orchestrator\" not found"),
            ),
        )
        .await;
        v.expect(
            "DELETE",
            "/api/v1/namespaces/nb-x/pods",
            respond(200, no_pods.clone()),
        )
        .await;
        v.expect("GET", "/api/v1/namespaces/nb-x/pods", respond(200, no_pods))
            .await;
        v.expect(
            "DELETE",
            "/api/v1/namespaces/nb-x",
            respond(
                404,
                status(404, "NotFound", "namespaces \"nb-x\" not found"),
            ),
        )
        .await;
    });
    let mut notes = Vec::new();
    cluster::delete_namespace(&client, "nb-x", Duration::from_secs(1), |n| {
        notes.push(n.to_string())
    })
    .await
    .unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    finish(server).await;
}

/// `--paths host`'s admission check: a server-side dry run (`dryRun=All`, nothing stored), retried
/// while a fresh namespace lacks its default ServiceAccount; admission's refusal comes back as the
/// server's words (the launcher turns them into exit 2 with the fix), any other failure as an
/// error naming what was tried.
#[tokio::test]
async fn the_host_workers_dry_run_is_retried_through_the_service_account_race_and_says_why() {
    let (client, handle) = mock();
    let server = spawn(async move {
        let mut h = handle;
        dry(&mut h, 403, "Forbidden", "pods \"hostnet-n1\" is forbidden: error looking up service account nb-x/default: serviceaccount \"default\" not found").await;
        dry(&mut h, 403, "Forbidden", "pods \"hostnet-n1\" is forbidden: violates PodSecurity \"restricted:latest\": host namespaces (hostNetwork=true)").await;
        dry(
            &mut h,
            500,
            "InternalError",
            "etcdserver: request timed out",
        )
        .await;
    });
    let mut pod = k8s_openapi::api::core::v1::Pod::default();
    pod.metadata.name = Some("hostnet-n1".into());
    let refused = cluster::dry_run_admits(&client, "nb-x", &pod)
        .await
        .expect("an answer")
        .unwrap_err();
    assert!(
        refused.contains("violates PodSecurity \"restricted:latest\""),
        "{refused}"
    );
    let e = cluster::dry_run_admits(&client, "nb-x", &pod)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot dry-run create pod hostnet-n1 in nb-x")
            && e.contains("etcdserver: request timed out"),
        "{e}"
    );
    finish(server).await;
}

/// Answer one dry-run create of a pod in nb-x (checked to be one) with `code`.
async fn dry(h: &mut Handle, code: u16, reason: &str, msg: &str) {
    let (req, send) = tokio::time::timeout(Duration::from_secs(5), h.next_request())
        .await
        .expect("a request came")
        .expect("service not dropped");
    assert_eq!(req.method().as_str(), "POST");
    assert_eq!(req.uri().path(), "/api/v1/namespaces/nb-x/pods");
    assert!(
        req.uri().query().unwrap_or_default().contains("dryRun=All"),
        "{}",
        req.uri()
    );
    send.send_response(respond(code, status(code, reason, msg)));
}
