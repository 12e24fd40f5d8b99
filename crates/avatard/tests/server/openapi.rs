//! `GET /api/openapi.json`: the OpenAPI document, checked against the routes the server answers.
//! scripts/schemathesis.sh checks the answers themselves against it; the unit test in
//! avatard-http's api/openapi.rs checks it against the router's source.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::Server;

/// The document as checked in: the server must serve exactly these bytes.
const DOCUMENT: &str = include_str!("../../../avatard-http/openapi.json");

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn fetch_document(server: &Server) -> Value {
    let response = server
        .http
        .get(server.url("/api/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "no-store");
    let text = response.text().await.expect("body");
    assert!(text == DOCUMENT, "the served document is not openapi.json");
    serde_json::from_str(&text).expect("the document is JSON")
}

/// Every `(method, path template)` the document describes.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .filter(|key| METHODS.contains(&key.as_str()))
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect()
}

/// What a probe got back.
struct Answer {
    status: StatusCode,
    /// The router's "no such route" body.
    no_such_route: bool,
    content_type: Option<String>,
    body: String,
}

/// A request to `path` that touches nothing: no credentials (so `logout` revokes nothing and
/// `avatars.events` answers at once) and an empty JSON object for a body.
async fn probe(server: &Server, method: &str, path: &str) -> Answer {
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("method");
    let mut request = server
        .http
        .request(method.clone(), server.url(path))
        .timeout(Duration::from_secs(10));
    if method != Method::GET && method != Method::HEAD {
        request = request.json(&json!({}));
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().expect("content type").to_owned());
    let body = response.text().await.unwrap_or_default();
    let no_such_route = serde_json::from_str::<Value>(&body).ok()
        == Some(json!({"success": false, "error": "Resource not found"}));
    Answer {
        status,
        no_such_route,
        content_type,
        body,
    }
}

/// Follow `value`'s `$ref`, if it is one, within `doc`.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(target) => resolve(
            doc,
            doc.pointer(target.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{target} does not resolve")),
        ),
        None => value,
    }
}

/// Where `value` breaks `schema` (the subset of OpenAPI 3.0 schemas openapi.json uses: `$ref`,
/// `type`, `nullable`, `enum`, `required`, `properties`, `additionalProperties`, `items`,
/// `maxItems`, `anyOf`; formats are not checked), or `None` when it conforms.
fn breaks(doc: &Value, schema: &Value, value: &Value, at: &str) -> Option<String> {
    let schema = resolve(doc, schema);
    if value.is_null() && schema["nullable"] == json!(true) {
        return None;
    }
    if let Some(branches) = schema["anyOf"].as_array() {
        return branches
            .iter()
            .all(|branch| breaks(doc, branch, value, at).is_some())
            .then(|| format!("{at}: {value} matches no branch of anyOf"));
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Some(format!("{at}: {value} is not one of {allowed:?}"));
    }
    let type_ok = match schema["type"].as_str() {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some(other) => panic!("{at}: type {other} unknown to this checker"),
    };
    if !type_ok {
        return Some(format!("{at}: {value} is not of type {}", schema["type"]));
    }
    if let Some(object) = value.as_object() {
        for key in schema["required"].as_array().into_iter().flatten() {
            let key = key.as_str().expect("required key");
            if !object.contains_key(key) {
                return Some(format!("{at}: no {key:?} in {value}"));
            }
        }
        for (key, item) in object {
            let at = format!("{at}.{key}");
            let problem = match (
                schema["properties"].get(key),
                &schema["additionalProperties"],
            ) {
                (Some(property), _) => breaks(doc, property, item, &at),
                (None, Value::Bool(false)) => Some(format!("{at}: not a documented property")),
                (None, extra) if extra.is_object() => breaks(doc, extra, item, &at),
                (None, _) => None,
            };
            if problem.is_some() {
                return problem;
            }
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(max) = schema["maxItems"].as_u64()
            && items.len() as u64 > max
        {
            return Some(format!("{at}: more than {max} items"));
        }
        if schema.get("items").is_some() {
            for (i, item) in items.iter().enumerate() {
                if let Some(problem) = breaks(doc, &schema["items"], item, &format!("{at}[{i}]")) {
                    return Some(problem);
                }
            }
        }
    }
    None
}

/// Check an answer against the response the document gives for its status: documented, with
/// the documented content type, and a JSON body that conforms to the schema.
fn conforms(doc: &Value, operation: &Value, what: &str, answer: &Answer) {
    let response = operation["responses"]
        .get(answer.status.as_str())
        .map(|r| resolve(doc, r))
        .unwrap_or_else(|| {
            panic!(
                "{what}: {} is not among the documented responses {:?}",
                answer.status,
                operation["responses"]
                    .as_object()
                    .map(|r| r.keys().collect::<Vec<_>>())
            )
        });
    let Some(content) = response["content"].as_object() else {
        return;
    };
    let media = answer
        .content_type
        .as_deref()
        .map(|ct| ct.split(';').next().unwrap_or_default().trim())
        .unwrap_or_else(|| panic!("{what}: no content type"));
    let documented = content
        .get(media)
        .unwrap_or_else(|| panic!("{what}: {media} is not a documented content type"));
    if media == "application/json" && !answer.body.is_empty() {
        let body: Value = serde_json::from_str(&answer.body).expect("a JSON body");
        if let Some(problem) = breaks(doc, &documented["schema"], &body, "body") {
            panic!("{what}: {problem}");
        }
    }
}

#[tokio::test]
async fn the_document_is_served_and_is_openapi_3() {
    let server = Server::start().await;
    let doc = fetch_document(&server).await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["userId"]["name"], "X-User-Id");
    assert_eq!(schemes["authToken"]["name"], "X-Auth-Token");
    assert_eq!(
        doc["security"],
        json!([{"userId": [], "authToken": []}]),
        "both headers, together"
    );
}

/// The operations of the document are exactly the ones the server answers: each one is routed
/// (neither the router's 404 nor 405) and answers a status the document lists for it; every
/// method the document does not list for a path is 405; paths it does not list are 404.
#[tokio::test]
async fn the_document_describes_exactly_the_routes_served() {
    let server = Server::start().await;
    let doc = fetch_document(&server).await;
    let documented = operations(&doc);
    assert!(documented.len() >= 27, "{documented:?}");

    for (method, template) in &documented {
        let path = template
            .replace("{username}", &server.admin.username)
            .replace("{userId}", &server.admin.user_id)
            .replace("{id}", "Accounts_AvatarCacheTime");
        assert!(
            !path.contains('{'),
            "{template}: a parameter this test does not know"
        );
        let answer = probe(&server, method, &path).await;
        assert!(
            answer.status != StatusCode::METHOD_NOT_ALLOWED && !answer.no_such_route,
            "{method} {path}: documented but not served ({})",
            answer.status
        );
        let operation = &doc["paths"][template][method];
        conforms(&doc, operation, &format!("{method} {path}"), &answer);
    }

    // Methods a documented path does not have. axum answers HEAD wherever it answers GET, and the
    // document lists HEAD only where it is part of the contract (/avatar/...).
    let paths: BTreeSet<&String> = documented.iter().map(|(_, path)| path).collect();
    for template in paths {
        let path = template
            .replace("{username}", &server.admin.username)
            .replace("{userId}", &server.admin.user_id)
            .replace("{id}", "Accounts_AvatarCacheTime");
        for method in ["get", "post", "put", "delete", "patch"] {
            if documented.contains(&(method.to_owned(), template.clone())) {
                continue;
            }
            assert_eq!(
                probe(&server, method, &path).await.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: not documented, yet answered"
            );
        }
    }

    for path in [
        "/api/v1/users.nonexistent",
        "/api/v1/users.list",
        "/api/v1/rooms.info",
        "/api/v1/settings",
        "/api/v1/settings/Accounts_AvatarSize/extra",
        "/api/v1/",
        "/api/v2/info",
        "/api/openapi.yaml",
        "/api",
        "/metrics",
        "/",
    ] {
        for method in ["get", "post"] {
            let answer = probe(&server, method, path).await;
            assert!(
                answer.status == StatusCode::NOT_FOUND && answer.no_such_route,
                "{method} {path}: not documented, yet answered {}",
                answer.status
            );
        }
    }
}

/// `avatars.events` is the one operation schemathesis.sh cannot run with credentials (the stream
/// never ends), so its parameter's edges are tried here: an id is either resumed after (200) or
/// refused (400), never a server error. i64::MAX used to overflow the event log's cursor: a 500.
#[tokio::test]
async fn avatars_events_takes_any_last_event_id_without_a_server_error() {
    let server = Server::start().await;
    for (id, expected) in [
        ("9223372036854775807", 200),
        ("9223372036854775808", 400),
        ("-9223372036854775808", 200),
        ("9223372036854775806", 200),
        ("-1", 200),
        ("0", 200),
        (" 7 ", 200),
        ("", 400),
        ("1e3", 400),
        ("0x10", 400),
    ] {
        let response = server
            .http
            .get(server.url("/api/v1/avatars.events"))
            .header("X-User-Id", &server.admin.user_id)
            .header("X-Auth-Token", &server.admin.token)
            .header("Last-Event-ID", id)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("request");
        // A 200 is the stream's head; dropping the response ends it.
        assert_eq!(response.status(), expected, "Last-Event-ID: {id:?}");
    }
}

/// The one documented answer schemathesis.sh never sees (it runs in test mode, without the rate
/// limiter): a 429, with its required headers and body.
#[tokio::test]
async fn a_rate_limited_answer_is_as_documented() {
    let server = Server::start_with(&[("TEST_MODE", "false")]).await;
    server
        .set_setting("API_Enable_Rate_Limiter_Limit_Calls_Default", json!(1))
        .await;
    let doc = fetch_document(&server).await;
    let operation = &doc["paths"]["/api/v1/users.getAvatar"]["get"];
    // Anonymous: the admin may bypass the limiter.
    let first = probe(&server, "get", "/api/v1/users.getAvatar?username=admin").await;
    assert_eq!(first.status, 307);
    conforms(&doc, operation, "the first call", &first);
    let response = server
        .http
        .get(server.url("/api/v1/users.getAvatar?username=admin"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 429);
    let documented = resolve(&doc, &operation["responses"]["429"]);
    for (name, header) in documented["headers"].as_object().expect("headers") {
        let value = response.headers().get(name.as_str());
        let header = resolve(&doc, header);
        if header["required"] == json!(true) {
            let value = value.unwrap_or_else(|| panic!("429 without {name}"));
            let value = value.to_str().expect("header");
            let value = serde_json::from_str(value).unwrap_or(Value::String(value.to_owned()));
            assert_eq!(breaks(&doc, &header["schema"], &value, name), None);
        }
    }
    let answer = Answer {
        status: response.status(),
        no_such_route: false,
        content_type: response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().expect("content type").to_owned()),
        body: response.text().await.expect("body"),
    };
    conforms(&doc, operation, "the second call", &answer);
}
