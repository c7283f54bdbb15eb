#![allow(clippy::unwrap_used, reason = "tests")]

use std::time::Duration;

use super::*;

fn p(s: &str) -> VirtualPath {
    VirtualPath::parse_absolute(s).unwrap()
}

fn new(root: &str, scope: LockScope, infinite: bool, who: &str) -> NewLock {
    NewLock {
        root: p(root),
        collection: false,
        scope,
        infinite,
        owner: None,
        principal: who.into(),
        timeout: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn exclusive_and_shared_conflicts() {
    let store = MemoryLocks::new(10);
    assert!(store.is_empty());
    let a = store.lock(new("/d/f", LockScope::Exclusive, false, "u")).await.unwrap();
    assert!(a.token.starts_with("opaquelocktoken:"));
    assert!(!store.is_empty());
    // Same resource: refused whatever the scope.
    for scope in [LockScope::Exclusive, LockScope::Shared] {
        match store.lock(new("/d/f", scope, false, "u")).await {
            Err(LockError::Conflict(held)) => assert_eq!(held, vec![a.clone()]),
            other => panic!("{other:?}"),
        }
    }
    // A depth-infinity lock above it conflicts; a depth-0 lock on the parent does not.
    assert!(store.lock(new("/d", LockScope::Exclusive, true, "u")).await.is_err());
    let parent = store.lock(new("/d", LockScope::Exclusive, false, "u")).await.unwrap();
    // A sibling whose name starts the same is another resource.
    store
        .lock(new("/d/f2", LockScope::Exclusive, false, "u"))
        .await
        .unwrap();
    store.unlock(&parent.token, &p("/d"), "u").await.unwrap();
    // Shared locks share.
    let s1 = store.lock(new("/s", LockScope::Shared, true, "u")).await.unwrap();
    let s2 = store.lock(new("/s/x", LockScope::Shared, false, "v")).await.unwrap();
    assert!(store.lock(new("/s/x", LockScope::Exclusive, false, "u")).await.is_err());
    assert_eq!(store.covering(&p("/s/x")).await.len(), 2);
    assert_eq!(store.covering(&p("/s")).await.len(), 1);
    assert_eq!(store.within(&p("/s")).await.len(), 2);
    assert_ne!(s1.token, s2.token);
}

#[tokio::test]
async fn unlock_refresh_need_the_token_the_path_and_the_owner() {
    let store = MemoryLocks::new(10);
    let l = store
        .lock(new("/c", LockScope::Exclusive, true, "alice"))
        .await
        .unwrap();
    assert_eq!(
        store.unlock(&l.token, &p("/other"), "alice").await,
        Err(LockError::NoSuchLock)
    );
    assert_eq!(
        store.unlock("opaquelocktoken:x", &p("/c"), "alice").await,
        Err(LockError::NoSuchLock)
    );
    assert_eq!(
        store.unlock(&l.token, &p("/c/m"), "bob").await,
        Err(LockError::NotOwner)
    );
    // Refreshed through a member (an indirect refresh, §7.7).
    let r = store
        .refresh(&l.token, &p("/c/m"), "alice", Duration::from_secs(120))
        .await
        .unwrap();
    assert!(r.expires > l.expires);
    assert_eq!(
        store.refresh(&l.token, &p("/c"), "bob", Duration::from_secs(1)).await,
        Err(LockError::NotOwner)
    );
    store.unlock(&l.token, &p("/c/m"), "alice").await.unwrap();
    assert!(store.is_empty());
}

#[tokio::test]
async fn bounded_expiring_and_released_by_subtree() {
    let store = MemoryLocks::new(2);
    store.lock(new("/a", LockScope::Exclusive, false, "u")).await.unwrap();
    let mut short = new("/b", LockScope::Exclusive, false, "u");
    short.timeout = Duration::from_millis(50);
    store.lock(short).await.unwrap();
    assert_eq!(
        store.lock(new("/c", LockScope::Exclusive, false, "u")).await,
        Err(LockError::Full)
    );
    tokio::time::sleep(Duration::from_millis(80)).await;
    // The expired one is gone and makes room.
    assert!(store.covering(&p("/b")).await.is_empty());
    store.lock(new("/c/x", LockScope::Exclusive, false, "u")).await.unwrap();
    store.release_within(&p("/c")).await;
    assert!(store.within(&p("/c")).await.is_empty());
    assert_eq!(store.within(&p("/")).await.len(), 1);
}

#[test]
fn user_view_strips_the_home() {
    assert_eq!(user_view(&p("/"), &p("/a/b")), Some(p("/a/b")));
    assert_eq!(user_view(&p("/home/al"), &p("/home/al/x")), Some(p("/x")));
    assert_eq!(user_view(&p("/home/al"), &p("/home/al")), Some(p("/")));
    assert_eq!(user_view(&p("/home/al"), &p("/home/alx/x")), None);
}
