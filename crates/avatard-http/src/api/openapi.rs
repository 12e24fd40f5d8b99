//! `GET /api/openapi.json`: the OpenAPI 3 document of the whole HTTP API (`crates/avatard-http/
//! openapi.json`, served as written). scripts/schemathesis.sh checks the server against it; the test
//! below checks that every route the router serves is in it, and nothing else.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The document, compiled in.
pub const DOCUMENT: &str = include_str!("../../openapi.json");

pub async fn document() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::DOCUMENT;

    /// The `(method, path)` pairs of the `.route("<path>", <method router>)` calls in `source`, with
    /// axum's `{param}` syntax, which is OpenAPI's too. A route that axum serves for every method
    /// (`any`) cannot be documented operation by operation: it fails the test.
    fn routes_in(source: &str) -> BTreeSet<(String, String)> {
        let mut routes = BTreeSet::new();
        let mut rest = source;
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            // The call's arguments: up to the parenthesis that closes `.route(`.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .expect("a .route( call is closed");
            let call = &rest[..end];
            let path = call
                .split('"')
                .nth(1)
                .expect("a route's path is a string literal");
            // The method routers: `get(` / `.post(` ..., not `users::get_avatar` or `settings::get`.
            let bytes = call.as_bytes();
            let mut methods = BTreeSet::new();
            for method in [
                "get", "post", "put", "delete", "patch", "head", "options", "any",
            ] {
                for (i, _) in call.match_indices(&format!("{method}(")) {
                    let before = i.checked_sub(1).map(|j| bytes[j]);
                    let is_call = match before {
                        None => true,
                        Some(b) => !(b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
                    };
                    if is_call {
                        assert_ne!(method, "any", "{path}: `any` routes cannot be documented");
                        methods.insert(method);
                    }
                }
            }
            assert!(
                !methods.is_empty(),
                "{path}: no method router found in {call:?}"
            );
            for method in methods {
                routes.insert((method.to_owned(), path.to_owned()));
            }
            rest = &rest[end..];
        }
        routes
    }

    fn document() -> Value {
        serde_json::from_str(DOCUMENT).expect("openapi.json is JSON")
    }

    fn documented(doc: &Value) -> BTreeSet<(String, String)> {
        let methods = [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ];
        doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .expect("path item")
                    .keys()
                    .filter(|key| methods.contains(&key.as_str()))
                    .map(move |method| (method.clone(), path.clone()))
            })
            .collect()
    }

    #[test]
    fn is_openapi_3_with_unique_operation_ids_and_resolvable_refs() {
        let doc = document();
        assert!(
            doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
            "{}",
            doc["openapi"]
        );
        let mut ids = BTreeSet::new();
        for (method, path) in documented(&doc) {
            let id = doc["paths"][&path][&method]["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            assert!(
                doc["paths"][&path][&method]["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path}: no responses"
            );
        }
        fn refs(value: &Value, out: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        out.push(target.clone());
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut targets = Vec::new();
        refs(&doc, &mut targets);
        assert!(!targets.is_empty());
        for target in targets {
            let pointer = target
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{target}: only local references"));
            assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
        }
    }

    /// Every route of the router (api/mod.rs and lib.rs) is documented, and every documented
    /// operation is a route: a new route without documentation fails here. axum answers `HEAD` for
    /// every `get` route; the document lists `HEAD` only for `/avatar/...`, where it is part of
    /// Rocket.Chat's contract. `/avatar/...` is not a route of the router: `App::call` (lib.rs)
    /// hands every path under it to avatar_route.rs, which answers GET and HEAD.
    #[test]
    fn documents_exactly_the_routes_the_router_serves() {
        let mut served = routes_in(include_str!("mod.rs"));
        served.extend(routes_in(include_str!("../lib.rs")));
        assert!(
            served.contains(&("get".to_owned(), "/api/v1/users.info".to_owned())),
            "the route parser found {served:?}"
        );
        assert!(served.contains(&("get".to_owned(), "/health".to_owned())));
        for path in ["/avatar/{username}", "/avatar/uid/{userId}"] {
            for method in ["get", "head"] {
                served.insert((method.to_owned(), path.to_owned()));
            }
        }
        let documented = documented(&document());
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(
            undocumented.is_empty() && unserved.is_empty(),
            "served but not in openapi.json: {undocumented:?}; in openapi.json but not served: {unserved:?}"
        );
    }

    #[test]
    fn the_route_parser_reads_method_routers() {
        let source = r#"
            .route("/a", get(x::get_avatar))
            .route(
                "/b/{id}",
                get(settings::get).post(settings::set),
            )
            .route("/c", post(f).get(g))
        "#;
        let pairs: Vec<(&str, &str)> = vec![
            ("get", "/a"),
            ("get", "/b/{id}"),
            ("get", "/c"),
            ("post", "/b/{id}"),
            ("post", "/c"),
        ];
        let expected: BTreeSet<(String, String)> = pairs
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        assert_eq!(routes_in(source), expected);
    }
}
