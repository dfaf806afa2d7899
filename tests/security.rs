//! TLS, client certificates and bearer tokens, over real servers with
//! certificates generated for the test.

mod common;

use common::{TestServer, certs::TestCa, health_status, with_token};
use learning_service::{
    auth::BearerTokens,
    pb::{self, budget_service_client::BudgetServiceClient},
    server::ServerOptions,
    tls::TlsSettings,
};
use tonic::{Code, transport::Channel};
use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest,
};

const TOKEN: &str = "s3cret-token-for-tests-0123456789";

fn tls_options(ca: &TestCa, client_ca: Option<&TestCa>) -> ServerOptions {
    let server = ca.server();
    ServerOptions {
        tls: Some(TlsSettings::from_pem(
            server.cert,
            server.key,
            client_ca.map(|c| c.cert.clone().into_bytes()),
        )),
        ..ServerOptions::default()
    }
}

fn token_options() -> ServerOptions {
    ServerOptions {
        auth: Some(BearerTokens::new(["another-token-abcdefghijkl", TOKEN]).unwrap()),
        ..ServerOptions::default()
    }
}

fn a_write() -> pb::UpdateExplorationBudgetRequest {
    pb::UpdateExplorationBudgetRequest {
        job_hash: "job".into(),
        budget_value: 0.2,
        adjustment_type: pb::AdjustmentType::Boost as i32,
        ..Default::default()
    }
}

fn a_read() -> pb::GetExplorationBudgetRequest {
    pb::GetExplorationBudgetRequest {
        job_hash: Some("job".into()),
    }
}

/// Whether a call over `channel` (if it connected at all) succeeds.
async fn works(channel: Result<Channel, tonic::transport::Error>) -> bool {
    match channel {
        Err(_) => false,
        Ok(channel) => BudgetServiceClient::new(channel)
            .get_exploration_budget(a_read())
            .await
            .is_ok(),
    }
}

#[tokio::test]
async fn tls_serves_clients_that_trust_its_ca_and_nothing_else() {
    let ca = TestCa::new("test CA");
    let server = TestServer::start_with(tls_options(&ca, None)).await;

    let channel = server
        .connect(Some(&ca.cert), None)
        .await
        .expect("TLS connect");
    let mut budget = BudgetServiceClient::new(channel.clone());
    budget
        .update_exploration_budget(a_write())
        .await
        .expect("write over TLS");
    let latest = budget
        .get_exploration_budget(a_read())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(latest.budget.unwrap().budget_value, 0.2);
    let mut health = HealthClient::new(channel);
    assert_eq!(
        health_status(&mut health, "").await.unwrap(),
        ServingStatus::Serving
    );

    assert!(
        !works(server.connect(None, None).await).await,
        "plaintext client served"
    );
    let stranger = TestCa::new("another CA");
    assert!(
        !works(server.connect(Some(&stranger.cert), None).await).await,
        "client that does not trust the server's CA served"
    );
    server.stop().await;
}

#[tokio::test]
async fn client_certificates_are_required_when_a_client_ca_is_set() {
    let ca = TestCa::new("server CA");
    let clients = TestCa::new("client CA");
    let server = TestServer::start_with(tls_options(&ca, Some(&clients))).await;

    assert!(
        !works(server.connect(Some(&ca.cert), None).await).await,
        "client without a certificate served"
    );
    let stranger = TestCa::new("another CA").client("mallory");
    assert!(
        !works(
            server
                .connect(Some(&ca.cert), Some((&stranger.cert, &stranger.key)))
                .await
        )
        .await,
        "client with a certificate from another CA served"
    );
    let known = clients.client("orchestrator");
    assert!(
        works(
            server
                .connect(Some(&ca.cert), Some((&known.cert, &known.key)))
                .await
        )
        .await,
        "client with a certificate signed by the client CA refused"
    );
    server.stop().await;
}

#[tokio::test]
async fn tokens_are_required_on_the_api_but_not_on_health() {
    let server = TestServer::start_with(token_options()).await;
    let before = server.row_counts();

    let missing = server
        .budget()
        .update_exploration_budget(a_write())
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated, "{missing:?}");
    assert!(
        missing.message().contains("authorization: Bearer"),
        "{missing:?}"
    );

    let wrong = BudgetServiceClient::new(with_token(
        server.channel(),
        "s3cret-token-for-tests-012345678",
    ))
    .update_exploration_budget(a_write())
    .await
    .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated, "{wrong:?}");
    assert!(wrong.message().contains("not valid"), "{wrong:?}");
    assert_eq!(server.row_counts(), before, "a refused call wrote");

    let mut health = server.health();
    assert_eq!(
        health_status(&mut health, "").await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        health_status(&mut health, "learning.v1.BudgetService")
            .await
            .unwrap(),
        ServingStatus::Serving
    );

    let reflection = ServerReflectionClient::new(server.channel())
        .server_reflection_info(tokio_stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }]))
        .await
        .unwrap_err();
    assert_eq!(reflection.code(), Code::Unauthenticated, "{reflection:?}");

    let mut budget = BudgetServiceClient::new(with_token(server.channel(), TOKEN));
    budget
        .update_exploration_budget(a_write())
        .await
        .expect("right token");
    let latest = budget
        .get_exploration_budget(a_read())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(latest.budget.unwrap().budget_value, 0.2);
    server.stop().await;
}

#[tokio::test]
async fn tokens_and_mutual_tls_together() {
    let ca = TestCa::new("server CA");
    let clients = TestCa::new("client CA");
    let options = ServerOptions {
        auth: token_options().auth,
        ..tls_options(&ca, Some(&clients))
    };
    let server = TestServer::start_with(options).await;
    let client = clients.client("orchestrator");
    let channel = server
        .connect(Some(&ca.cert), Some((&client.cert, &client.key)))
        .await
        .expect("mutual TLS connect");
    let refused = BudgetServiceClient::new(channel.clone())
        .get_exploration_budget(a_read())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    BudgetServiceClient::new(with_token(channel, TOKEN))
        .get_exploration_budget(a_read())
        .await
        .expect("certificate and token");
    server.stop().await;
}
