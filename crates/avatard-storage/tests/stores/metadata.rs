//! The SQL metadata store on SQLite and, when available, PostgreSQL: the same behaviour on both.

use std::collections::HashSet;

use crate::engines;
use std::sync::Arc;

use avatard_domain::StoreError;
use avatard_domain::model::{
    Audit, AvatarOrigin, AvatarRecord, Email, Permission, StoredSetting, User,
};
use avatard_domain::store::MetadataStore;
use chrono::{DateTime, Duration, Utc};

fn user(id: &str, username: &str, email: &str) -> User {
    User {
        id: id.into(),
        username: username.into(),
        name: username.into(),
        email: Some(Email {
            address: email.into(),
            verified: true,
        }),
        password_hash: Some("$argon2id$…".into()),
        roles: vec!["user".into(), "bot".into()],
        active: true,
        created_at: DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
    }
}

fn avatar(key: &str) -> AvatarRecord {
    AvatarRecord {
        blob_key: key.into(),
        etag: format!("etag-{key}"),
        origin: AvatarOrigin::Url,
        content_type: "image/png".into(),
        size: 3,
        uploaded_at: DateTime::from_timestamp_millis(1_700_000_000_000).unwrap(),
    }
}

#[tokio::test]
async fn users_round_trip_and_are_unique_case_insensitively() {
    for (engine, db) in engines::databases().await {
        let arthur = user("1", "Arthur", "a@example.com");
        db.insert_user(&arthur).await.unwrap();
        let found = db.user_by_username("ARTHUR").await.unwrap().expect(&engine);
        assert_eq!(found.user, arthur, "{engine}");
        assert_eq!(
            db.user_by_email("A@Example.COM")
                .await
                .unwrap()
                .unwrap()
                .user
                .id,
            "1",
            "{engine}"
        );
        assert!(matches!(
            db.insert_user(&user("2", "arthur", "b@example.com")).await,
            Err(StoreError::Conflict("username"))
        ));
        assert!(matches!(
            db.insert_user(&user("3", "zaphod", "a@EXAMPLE.com")).await,
            Err(StoreError::Conflict("email"))
        ));
        assert!(matches!(
            db.insert_user(&user("1", "ford", "f@example.com")).await,
            Err(StoreError::Conflict("id"))
        ));
        assert_eq!(db.all_users().await.unwrap().len(), 1, "{engine}");
    }
}

#[tokio::test]
async fn avatar_commits_report_what_they_replaced() {
    for (engine, db) in engines::databases().await {
        db.insert_user(&user("1", "Arthur", "a@example.com"))
            .await
            .unwrap();
        assert_eq!(
            db.commit_avatar("1", &avatar("1/a"), None).await.unwrap(),
            None,
            "{engine}"
        );
        assert_eq!(
            db.commit_avatar("1", &avatar("1/b"), None)
                .await
                .unwrap()
                .as_deref(),
            Some("1/a")
        );
        assert_eq!(
            db.user_by_id("1").await.unwrap().unwrap().avatar,
            Some(avatar("1/b"))
        );
        assert_eq!(
            db.referenced_blob_keys(0).await.unwrap(),
            vec!["1/b".to_owned()]
        );
        assert!(matches!(
            db.commit_avatar("ghost", &avatar("x/y"), None).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(
            db.clear_avatar("1", None).await.unwrap().as_deref(),
            Some("1/b")
        );
        assert_eq!(db.clear_avatar("1", None).await.unwrap(), None, "{engine}");
    }
}

#[tokio::test]
async fn concurrent_commits_for_one_user_take_turns() {
    for (engine, db) in engines::databases().await {
        let db = Arc::new(db);
        db.insert_user(&user("1", "arthur", "a@example.com"))
            .await
            .unwrap();
        let writes = 24;
        let tasks: Vec<_> = (0..writes)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.commit_avatar("1", &avatar(&format!("1/{i}")), None)
                        .await
                })
            })
            .collect();
        let mut replaced = HashSet::new();
        for task in futures_util::future::join_all(tasks).await {
            if let Some(key) = task.unwrap().unwrap() {
                assert!(
                    replaced.insert(key),
                    "{engine}: a key was reported replaced twice"
                );
            }
        }
        // Every key but the final one was replaced exactly once: each commit saw its predecessor.
        let current = db
            .user_by_id("1")
            .await
            .unwrap()
            .unwrap()
            .avatar
            .unwrap()
            .blob_key;
        assert_eq!(replaced.len(), writes - 1, "{engine}");
        assert!(!replaced.contains(&current), "{engine}");
    }
}

#[tokio::test]
async fn tokens_find_their_user_and_deleting_a_user_removes_everything() {
    for (engine, db) in engines::databases().await {
        db.insert_user(&user("1", "arthur", "a@example.com"))
            .await
            .unwrap();
        db.insert_login_token("1", "hash", Utc::now())
            .await
            .unwrap();
        db.commit_avatar("1", &avatar("1/a"), None).await.unwrap();
        assert!(
            db.user_by_token(Some("1"), "hash").await.unwrap().is_some(),
            "{engine}"
        );
        assert!(db.user_by_token(None, "hash").await.unwrap().is_some());
        assert!(db.user_by_token(Some("2"), "hash").await.unwrap().is_none());
        assert_eq!(db.all_login_tokens().await.unwrap().len(), 1);
        db.delete_login_token("1", "hash").await.unwrap();
        assert!(
            db.user_by_token(None, "hash").await.unwrap().is_none(),
            "{engine}"
        );
        db.insert_login_token("1", "hash2", Utc::now())
            .await
            .unwrap();
        assert_eq!(db.delete_user("1").await.unwrap().as_deref(), Some("1/a"));
        assert!(db.user_by_token(None, "hash2").await.unwrap().is_none());
        assert!(db.user_by_id("1").await.unwrap().is_none(), "{engine}");
    }
}

#[tokio::test]
async fn permissions_and_settings_persist() {
    for (engine, db) in engines::databases().await {
        let p = |roles: &[&str]| Permission {
            id: "edit-other-user-avatar".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            updated_at: Utc::now(),
        };
        db.seed_permissions(&[p(&["admin"])]).await.unwrap();
        db.update_permissions(&[p(&["admin", "moderator"])])
            .await
            .unwrap();
        db.seed_permissions(&[p(&["admin"])]).await.unwrap();
        assert_eq!(
            db.permissions().await.unwrap()[0].roles,
            vec!["admin", "moderator"],
            "{engine}"
        );

        let setting = StoredSetting {
            id: "Accounts_AvatarSize".into(),
            value: serde_json::json!(64),
            updated_at: Utc::now(),
        };
        db.put_setting(&setting).await.unwrap();
        db.put_setting(&StoredSetting {
            value: serde_json::json!({"nested": [1, "two"]}),
            ..setting
        })
        .await
        .unwrap();
        assert_eq!(
            db.settings().await.unwrap()[0].value,
            serde_json::json!({"nested": [1, "two"]}),
            "{engine}"
        );
    }
}

#[tokio::test]
async fn a_lease_has_one_holder_until_it_expires() {
    for (engine, db) in engines::databases().await {
        let now = Utc::now();
        let later = now + Duration::seconds(60);
        assert!(
            db.try_lease("sweep", "a", now, later).await.unwrap(),
            "{engine}"
        );
        assert!(
            !db.try_lease("sweep", "b", now, later).await.unwrap(),
            "{engine}: b took a's lease"
        );
        assert!(
            db.try_lease("sweep", "a", now, later).await.unwrap(),
            "{engine}: a could not renew"
        );
        assert!(db.try_lease("other", "b", now, later).await.unwrap());
        let after_expiry = later + Duration::seconds(1);
        assert!(
            db.try_lease(
                "sweep",
                "b",
                after_expiry,
                after_expiry + Duration::seconds(60)
            )
            .await
            .unwrap()
        );
        assert!(
            !db.try_lease("sweep", "a", after_expiry, after_expiry)
                .await
                .unwrap(),
            "{engine}"
        );
        db.ping().await.unwrap();
    }
}

#[tokio::test]
async fn every_avatar_change_is_an_event_in_commit_order() {
    for (engine, db) in engines::databases().await {
        assert_eq!(db.last_avatar_event().await.unwrap(), 0, "{engine}");
        assert_eq!(db.first_avatar_event().await.unwrap(), None, "{engine}");
        db.insert_user(&user("u1", "Trillian", "t@example.com"))
            .await
            .unwrap();
        db.insert_user(&user("u2", "Marvin", "m@example.com"))
            .await
            .unwrap();

        db.commit_avatar("u1", &avatar("k1"), None).await.unwrap();
        db.commit_avatar("u2", &avatar("k2"), None).await.unwrap();
        // Clearing an avatar that is not there changes nothing and is no event.
        assert_eq!(
            db.clear_avatar("u2", None).await.unwrap(),
            Some("k2".into())
        );
        assert_eq!(db.clear_avatar("u2", None).await.unwrap(), None);
        assert_eq!(db.delete_user("u1").await.unwrap(), Some("k1".into()));
        // Neither is deleting nobody, or committing for nobody.
        assert_eq!(db.delete_user("u1").await.unwrap(), None);
        assert!(matches!(
            db.commit_avatar("u1", &avatar("k3"), None).await,
            Err(StoreError::NotFound)
        ));

        let events = db.avatar_events(0, 100).await.unwrap();
        let seen: Vec<_> = events
            .iter()
            .map(|e| (e.user_id.as_str(), e.username.as_str(), e.etag.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                ("u1", "Trillian", Some("etag-k1")),
                ("u2", "Marvin", Some("etag-k2")),
                ("u2", "Marvin", None),
                ("u1", "Trillian", None),
            ],
            "{engine}"
        );
        assert!(events.windows(2).all(|w| w[0].seq < w[1].seq), "{engine}");
        assert!(
            events
                .iter()
                .all(|e| (Utc::now() - e.at) < Duration::minutes(1)),
            "{engine}"
        );
        let last = events[3].seq;
        assert_eq!(db.last_avatar_event().await.unwrap(), last, "{engine}");
        assert_eq!(
            db.first_avatar_event().await.unwrap(),
            Some(events[0].seq),
            "{engine}"
        );
        // Paging: after an event, and at most `limit`.
        let page = db.avatar_events(events[1].seq, 1).await.unwrap();
        assert_eq!(page.len(), 1, "{engine}");
        assert_eq!(page[0].seq, events[2].seq, "{engine}");

        // Pruning forgets old events but never reuses their numbers.
        assert_eq!(
            db.prune_avatar_events(Utc::now() + Duration::seconds(1))
                .await
                .unwrap(),
            4,
            "{engine}"
        );
        assert_eq!(db.first_avatar_event().await.unwrap(), None, "{engine}");
        db.insert_user(&user("u3", "Zaphod", "z@example.com"))
            .await
            .unwrap();
        db.commit_avatar("u3", &avatar("k4"), None).await.unwrap();
        let after = db.avatar_events(0, 100).await.unwrap();
        assert_eq!(after.len(), 1, "{engine}");
        assert!(after[0].seq > last, "{engine}");
    }
}

#[tokio::test]
async fn concurrent_avatar_commits_get_distinct_ordered_events() {
    for (engine, db) in engines::databases().await {
        let db = Arc::new(db);
        for i in 0..8 {
            db.insert_user(&user(
                &format!("c{i}"),
                &format!("c{i}"),
                &format!("c{i}@x.org"),
            ))
            .await
            .unwrap();
        }
        let commits = (0..8).map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                db.commit_avatar(&format!("c{i}"), &avatar(&format!("key{i}")), None)
                    .await
            })
        });
        for commit in futures_util::future::join_all(commits).await {
            commit.unwrap().unwrap();
        }
        let events = db.avatar_events(0, 100).await.unwrap();
        assert_eq!(events.len(), 8, "{engine}");
        let users: HashSet<_> = events.iter().map(|e| e.user_id.clone()).collect();
        assert_eq!(users.len(), 8, "{engine}");
        assert!(events.windows(2).all(|w| w[0].seq < w[1].seq), "{engine}");
    }
}

#[tokio::test]
async fn cursors_start_at_zero_and_remember() {
    for (engine, db) in engines::databases().await {
        assert_eq!(db.cursor("webhook").await.unwrap(), 0, "{engine}");
        db.set_cursor("webhook", 41).await.unwrap();
        db.set_cursor("webhook", 42).await.unwrap();
        db.set_cursor("other", 7).await.unwrap();
        assert_eq!(db.cursor("webhook").await.unwrap(), 42, "{engine}");
        assert_eq!(db.cursor("other").await.unwrap(), 7, "{engine}");
    }
}

#[tokio::test]
async fn avatar_changes_are_audited_in_their_transaction_and_keep_the_newest_blobs() {
    for (engine, db) in engines::databases().await {
        db.insert_user(&user("h1", "Zaphod", "z@example.com"))
            .await
            .unwrap();
        db.insert_user(&user("h2", "Ford", "f@example.com"))
            .await
            .unwrap();
        let by = |action: &'static str| Audit {
            actor_id: "admin-id".into(),
            actor_username: "admin".into(),
            action,
            ip: Some("192.0.2.7".into()),
        };
        for key in ["h1/a", "h1/b", "h1/c"] {
            db.commit_avatar("h1", &avatar(key), Some(&by("rest")))
                .await
                .unwrap();
        }
        db.clear_avatar("h1", Some(&by("reset"))).await.unwrap();
        // Without an audit (copying a deployment) nothing is recorded; a failed commit neither.
        db.commit_avatar("h2", &avatar("h2/a"), None).await.unwrap();
        assert!(
            db.commit_avatar("ghost", &avatar("x/y"), Some(&by("rest")))
                .await
                .is_err()
        );

        let (page, total) = db.avatar_history("h1", 0, 10).await.unwrap();
        assert_eq!(total, 4, "{engine}");
        let seen: Vec<_> = page
            .iter()
            .map(|c| {
                (
                    c.action.as_str(),
                    c.previous_etag.as_deref(),
                    c.etag.as_deref(),
                    c.blob_key.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("reset", Some("etag-h1/c"), None, None),
                ("rest", Some("etag-h1/b"), Some("etag-h1/c"), Some("h1/c")),
                ("rest", Some("etag-h1/a"), Some("etag-h1/b"), Some("h1/b")),
                ("rest", None, Some("etag-h1/a"), Some("h1/a")),
            ],
            "{engine}"
        );
        let newest = &page[1];
        assert_eq!(
            (
                newest.username.as_str(),
                newest.actor_id.as_str(),
                newest.actor_username.as_str(),
                newest.ip.as_deref(),
                newest.content_type.as_deref(),
                newest.size,
            ),
            (
                "Zaphod",
                "admin-id",
                "admin",
                Some("192.0.2.7"),
                Some("image/png"),
                Some(3)
            ),
            "{engine}"
        );
        assert!((Utc::now() - newest.at).num_seconds() < 60, "{engine}");
        assert_eq!(
            db.avatar_change(newest.id).await.unwrap().as_ref(),
            Some(newest)
        );
        assert_eq!(db.avatar_change(-1).await.unwrap(), None, "{engine}");
        let (second_page, _) = db.avatar_history("h1", 2, 10).await.unwrap();
        assert_eq!(second_page, page[2..], "{engine}");

        // The sweep keeps current avatars and the newest `kept + 1` audited blobs of each user.
        let kept = async |n| {
            let mut keys = db.referenced_blob_keys(n).await.unwrap();
            keys.sort();
            keys
        };
        assert_eq!(kept(0).await, ["h1/c", "h2/a"], "{engine}");
        assert_eq!(kept(1).await, ["h1/b", "h1/c", "h2/a"], "{engine}");
        assert_eq!(kept(5).await, ["h1/a", "h1/b", "h1/c", "h2/a"], "{engine}");
        // A deleted user's trail stays, but keeps none of their avatars.
        db.delete_user("h1").await.unwrap();
        assert_eq!(
            db.avatar_history("h1", 0, 10).await.unwrap().1,
            4,
            "{engine}"
        );
        assert_eq!(kept(5).await, ["h2/a"], "{engine}");
    }
}
