//! Recursive delete through the [`Storage`] calls alone, for back-ends without a
//! native one (object stores have no symbolic links to follow, so listing and
//! deleting is all there is). Depth-first with an explicit stack, so a deep tree
//! cannot overflow the call stack; listings streamed batch by batch. The volume's
//! root is refused before anything is touched.

use futures_util::StreamExt;

use super::{ErrorKind, Storage, StorageError, TreeError};
use crate::path::VirtualPath;

/// Removes `root` and everything beneath it; the number of entries removed, or
/// how far it got.
pub async fn remove_tree_generic<S: Storage + ?Sized>(storage: &S, root: &VirtualPath) -> Result<u64, TreeError> {
    if root.is_root() {
        // Refused before anything is touched: the volume's root stays.
        return Err(TreeError::at_start(
            StorageError::new(ErrorKind::PermissionDenied),
            root,
        ));
    }
    let meta = storage.stat(root).await.map_err(|e| TreeError::at_start(e, root))?;
    if !meta.is_dir() {
        storage.delete(root).await.map_err(|e| TreeError::at_start(e, root))?;
        return Ok(1);
    }
    let mut done = 0u64;
    let fail = |error: StorageError, at: &VirtualPath, done: u64| TreeError {
        error,
        done,
        at: at.clone(),
    };
    let mut stack = vec![(root.clone(), false)];
    while let Some((dir, emptied)) = stack.pop() {
        if emptied {
            match storage.rmdir(&dir).await {
                Ok(()) => done += 1,
                // An implicit directory of an object store (keys, no marker) goes
                // with its last member: emptied is removed.
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => return Err(fail(e, &dir, done)),
            }
            continue;
        }
        stack.push((dir.clone(), true));
        let mut entries = storage.list(&dir).await.map_err(|e| fail(e, &dir, done))?;
        while let Some(batch) = entries.next().await {
            for entry in batch.map_err(|e| fail(e, &dir, done))? {
                let path = dir
                    .join_name(&entry.name)
                    .map_err(|_| fail(StorageError::new(ErrorKind::InvalidName), &dir, done))?;
                if entry.meta.is_dir() {
                    stack.push((path, false));
                } else {
                    storage.delete(&path).await.map_err(|e| fail(e, &path, done))?;
                    done += 1;
                }
            }
        }
    }
    Ok(done)
}
