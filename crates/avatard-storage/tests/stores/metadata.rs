//! The SQL metadata store on SQLite and, when available, PostgreSQL: the same behaviour on both.

use std::collections::HashSet;

use crate::engines;
use std::sync::Arc;

use avatard_domain::StoreError;
use avatard_domain::model::{AvatarOrigin, AvatarRecord, Email, Permission, StoredSetting, User};
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
            db.commit_avatar("1", &avatar("1/a")).await.unwrap(),
            None,
            "{engine}"
        );
        assert_eq!(
            db.commit_avatar("1", &avatar("1/b"))
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
            db.referenced_blob_keys().await.unwrap(),
            vec!["1/b".to_owned()]
        );
        assert!(matches!(
            db.commit_avatar("ghost", &avatar("x/y")).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(db.clear_avatar("1").await.unwrap().as_deref(), Some("1/b"));
        assert_eq!(db.clear_avatar("1").await.unwrap(), None, "{engine}");
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
                tokio::spawn(async move { db.commit_avatar("1", &avatar(&format!("1/{i}"))).await })
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
        db.commit_avatar("1", &avatar("1/a")).await.unwrap();
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

        db.commit_avatar("u1", &avatar("k1")).await.unwrap();
        db.commit_avatar("u2", &avatar("k2")).await.unwrap();
        // Clearing an avatar that is not there changes nothing and is no event.
        assert_eq!(db.clear_avatar("u2").await.unwrap(), Some("k2".into()));
        assert_eq!(db.clear_avatar("u2").await.unwrap(), None);
        assert_eq!(db.delete_user("u1").await.unwrap(), Some("k1".into()));
        // Neither is deleting nobody, or committing for nobody.
        assert_eq!(db.delete_user("u1").await.unwrap(), None);
        assert!(matches!(
            db.commit_avatar("u1", &avatar("k3")).await,
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
        db.commit_avatar("u3", &avatar("k4")).await.unwrap();
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
                db.commit_avatar(&format!("c{i}"), &avatar(&format!("key{i}")))
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
