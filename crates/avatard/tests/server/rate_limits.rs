//! Rocket.Chat's API rate limiter (per route and client address, `X-RateLimit-*`, 429
//! `error-too-many-requests`, `api-bypass-rate-limit`) and the failed-login blocks.

use std::time::Duration;

use crate::common::{PASSWORD, Server, Session, read_json};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A server with the limiter on (the harness runs servers in test mode, which turns it off).
async fn limited(envs: &[(&str, &str)]) -> Server {
    let mut envs = envs.to_vec();
    envs.push(("TEST_MODE", "false"));
    Server::start_with(&envs).await
}

/// `GET path` as `session` (or anonymously, from the given forwarded address): the status, the
/// three rate-limit headers (absent ones as `None`) and the body.
async fn call(
    server: &Server,
    session: Option<&Session>,
    path: &str,
    forwarded_for: Option<&str>,
) -> (StatusCode, [Option<i64>; 3], Value) {
    let mut request = reqwest::Client::new().get(server.url(path));
    if let Some(s) = session {
        request = request
            .header("X-User-Id", &s.user_id)
            .header("X-Auth-Token", &s.token);
    }
    if let Some(address) = forwarded_for {
        request = request.header("X-Forwarded-For", address);
    }
    let response = request.send().await.expect("request");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().parse::<i64>().unwrap())
    };
    let quota = [
        header("x-ratelimit-limit"),
        header("x-ratelimit-remaining"),
        header("x-ratelimit-reset"),
    ];
    let (status, body) = read_json(response).await;
    (status, quota, body)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn each_route_allows_the_configured_calls_per_window_then_answers_429() {
    let server = limited(&[]).await;
    let alice = server.create_user("alice").await;
    server
        .set_setting("API_Enable_Rate_Limiter_Limit_Calls_Default", json!(3))
        .await;
    server
        .set_setting("API_Enable_Rate_Limiter_Limit_Time_Default", json!(1500))
        .await;

    let before = now_ms();
    for remaining in [2, 1, 0] {
        let (status, [limit, left, reset], body) =
            call(&server, Some(&alice), "/api/v1/me", None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(limit, Some(3));
        assert_eq!(left, Some(remaining));
        let reset = reset.expect("X-RateLimit-Reset");
        assert!(reset > before && reset <= now_ms() + 1500, "reset {reset}");
    }
    let (status, [limit, left, _], body) = call(&server, Some(&alice), "/api/v1/me", None).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!((limit, left), (Some(3), Some(0)));
    assert_eq!(body["success"], false);
    assert_eq!(body["errorType"], "error-too-many-requests");
    let seconds = body["details"]["seconds"]
        .as_u64()
        .expect("details.seconds");
    assert!((1..=2).contains(&seconds), "{body}");
    assert_eq!(
        body["error"],
        format!(
            "Error, too many requests. Please slow down. You must wait {seconds} seconds before trying this endpoint again. [error-too-many-requests]"
        )
    );
    assert!(body["details"]["timeToReset"].as_i64().unwrap() <= 1500);

    // Another route has its own count; the unversioned /api/info is not limited at all.
    let (status, [_, left, _], _) = call(
        &server,
        Some(&alice),
        "/api/v1/users.info?username=alice",
        None,
    )
    .await;
    assert_eq!((status, left), (StatusCode::OK, Some(2)));
    let (status, quota, _) = call(&server, None, "/api/info", None).await;
    assert_eq!((status, quota), (StatusCode::OK, [None, None, None]));

    // The window ends and the route answers again.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (status, [_, left, _], _) = call(&server, Some(&alice), "/api/v1/me", None).await;
    assert_eq!((status, left), (StatusCode::OK, Some(2)));
}

#[tokio::test]
async fn callers_with_api_bypass_rate_limit_are_neither_counted_nor_told() {
    let server = limited(&[]).await;
    let bot = server.create_user_with_roles("robot", &["bot"]).await;
    let alice = server.create_user("alice").await;
    server
        .set_setting("API_Enable_Rate_Limiter_Limit_Calls_Default", json!(2))
        .await;
    for session in [&server.admin, &bot] {
        for _ in 0..5 {
            let (status, quota, body) = call(&server, Some(session), "/api/v1/me", None).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(quota, [None, None, None], "{}", session.username);
        }
    }
    // Taking the permission away from bots puts them under the limit.
    let (status, body) = server
        .post(
            Some(&server.admin),
            "/api/v1/permissions.update",
            json!({"permissions": [{"_id": "api-bypass-rate-limit", "roles": ["admin"]}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, [limit, _, _], _) = call(&server, Some(&bot), "/api/v1/me", None).await;
    assert_eq!(limit, Some(2));
    // Alice was never exempt; the same address shares the count of a route.
    let (_, [_, left, _], _) = call(&server, Some(&alice), "/api/v1/me", None).await;
    assert_eq!(left, Some(0));
    let (status, _, _) = call(&server, Some(&alice), "/api/v1/me", None).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn the_limiter_can_be_switched_off() {
    let server = limited(&[]).await;
    let alice = server.create_user("alice").await;
    server
        .set_setting("API_Enable_Rate_Limiter_Limit_Calls_Default", json!(1))
        .await;
    let (_, [limit, ..], _) = call(&server, Some(&alice), "/api/v1/me", None).await;
    assert_eq!(limit, Some(1));
    server
        .set_setting("API_Enable_Rate_Limiter", json!(false))
        .await;
    for _ in 0..4 {
        let (status, quota, _) = call(&server, Some(&alice), "/api/v1/me", None).await;
        assert_eq!((status, quota), (StatusCode::OK, [None, None, None]));
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_count() {
    let server = limited(&[("AVATARD_TRUSTED_PROXIES", "1")]).await;
    server
        .set_setting("API_Enable_Rate_Limiter_Limit_Calls_Default", json!(1))
        .await;
    let (status, _, _) = call(&server, None, "/api/v1/me", Some("198.51.100.7")).await;
    assert_eq!(status, 401);
    let (status, _, _) = call(&server, None, "/api/v1/me", Some("198.51.100.7")).await;
    assert_eq!(status, 429);
    // What the client itself put in front of the proxy's entry does not count.
    let (status, _, _) = call(&server, None, "/api/v1/me", Some("10.9.9.9, 198.51.100.7")).await;
    assert_eq!(status, 429);
    let (status, [_, left, _], _) = call(&server, None, "/api/v1/me", Some("198.51.100.8")).await;
    assert_eq!((status, left), (StatusCode::UNAUTHORIZED, Some(0)));
}

#[tokio::test]
async fn failed_logins_block_the_user_then_the_address() {
    let server = Server::start().await;
    let _alice = server.create_user("alice").await;
    let _bob = server.create_user("bob").await;
    server
        .set_setting(
            "Block_Multiple_Failed_Logins_Attempts_Until_Block_by_User",
            json!(3),
        )
        .await;
    server
        .set_setting(
            "Block_Multiple_Failed_Logins_Attempts_Until_Block_By_Ip",
            json!(6),
        )
        .await;
    let login = |user: &str, password: &'static str| {
        let user = user.to_owned();
        let server = &server;
        async move {
            server
                .post(
                    None,
                    "/api/v1/login",
                    json!({"user": user, "password": password}),
                )
                .await
        }
    };
    for _ in 0..3 {
        let (status, body) = login("alice", "wrong").await;
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::UNAUTHORIZED, &json!("Unauthorized"))
        );
    }
    // Alice is blocked, even with her password; the block names its reason as Rocket.Chat does.
    let (status, body) = login("alice", PASSWORD).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({
            "success": false,
            "status": "error",
            "error": "error-login-blocked-for-user",
            "message": "Login has been temporarily blocked for this User",
        })
    );
    // Bob is not; his success forgives nothing of Alice's, but does reset the address count.
    let (status, _) = login("bob", PASSWORD).await;
    assert_eq!(status, 200);
    // Each name fails fewer times than blocks a user; together they block the address.
    for attempt in 0..6 {
        let (status, body) = login(&format!("nobody-{attempt}"), "wrong").await;
        assert_eq!(status, 401, "attempt {attempt}: {body}");
    }
    let (status, body) = login("bob", PASSWORD).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "error-login-blocked-for-ip", "{body}");
    assert_eq!(
        body["message"],
        "Login has been temporarily blocked for this IP"
    );

    // An admin switches the blocks off; everybody gets in again.
    let (status, body) = server
        .post(
            Some(&server.admin),
            "/api/v1/settings/Block_Multiple_Failed_Logins_Enabled",
            json!({"value": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(login("alice", PASSWORD).await.0, 200);
    assert_eq!(login("bob", PASSWORD).await.0, 200);
}
