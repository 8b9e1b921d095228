//! Rules applied to every URL: trailing slashes, NUL bytes, unknown routes and methods.

use registry_testkit::*;

use crate::helpers::*;

on_both_backends! {
    async fn a_trailing_slash_redirects_permanently_to_the_path_without_it(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("files")]).await;

        let reply = app.get("/v0.1/servers/?limit=5").await;
        let deep = app.get("/registry/files/v0.1/servers//").await;

        assert_eq!(reply.status, 308);
        assert_eq!(reply.headers["location"], "/v0.1/servers?limit=5");
        assert_eq!(deep.headers["location"], "/registry/files/v0.1/servers");
    }

    async fn a_nul_byte_in_path_or_query_is_400(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("files")]).await;

        for path in ["/v0.1/servers?search=a%00b", "/v0.1/servers/io.example%2Fa%00b/versions", "/v0.1/servers?x=%00"] {
            let reply = app.get(path).await;
            assert!(reply.problem(400)["detail"].as_str().unwrap().contains("NUL"), "{path}");
        }
    }

    async fn unknown_routes_and_methods_answer_with_problem_json(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("files")]).await;

        let unknown = app.get("/servers").await;
        let inside = app.get("/v0.1/nothing").await;
        let post = app.send(app.client.post(format!("{}/v0.1/servers", app.base))).await;

        assert!(unknown.problem(404)["detail"].as_str().unwrap().contains("/v0.1/servers"), "suggests the prefixed path");
        inside.problem(404);
        post.problem(405);
    }
}
