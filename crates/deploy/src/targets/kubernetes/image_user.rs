//! The user the pod runs as, from the image: its config's `User` (the OCI image config's
//! `config.User`: `user`, `uid`, `user:group`, `uid:gid`; empty is root). Kubernetes holds
//! a container to `runAsNonRoot` only by a numeric user, so a numeric, non-root `User`
//! becomes `runAsUser` (and `runAsGroup`: its group, else the same id); a name, or root,
//! is refused (exit 2) unless `--run-as` says whom to run as.

use oci_client::manifest::OciDescriptor;
use serde_json::Value;
use slipway_contract::Console;
use slipway_registry::media::is_index;
use slipway_registry::{ImageReference, Registry, RegistryOptions};

/// `(uid, gid)` from an image's `User`, or why it cannot run under `runAsNonRoot`.
pub fn ids(user: &str) -> Result<(i64, i64), String> {
    let user = user.trim();
    let (name, group) = match user.split_once(':') {
        Some((name, group)) => (name, Some(group)),
        None => (user, None),
    };
    let numeric = |text: &str| text.parse::<i64>().ok().filter(|id| (0..=i64::from(u32::MAX)).contains(id));
    if name.is_empty() {
        return Err("names no User in its config, so it runs as root".to_owned());
    }
    if name == "root" || numeric(name) == Some(0) {
        return Err(format!("runs as root (its config's User is `{user}`)"));
    }
    let uid = numeric(name).ok_or_else(|| {
        format!(
            "runs as the user `{name}`, a name: Kubernetes can hold a container to runAsNonRoot by a numeric UID only"
        )
    })?;
    let gid = match group {
        None => uid,
        Some(group) => {
            numeric(group).ok_or_else(|| format!("runs as the group `{group}`, a name: runAsGroup is numeric"))?
        }
    };
    Ok((uid, gid))
}

/// The `User` in `image`'s config (of its linux/amd64 image when it is an index, else of
/// its first linux image), read with the registry's credentials as push-image finds them.
pub async fn user_of(image: &str, console: &Console) -> Result<String, String> {
    let reference = ImageReference::parse(image)?;
    let provided = slipway_registry::ecr::provided_login(reference.registry(), false, console)
        .await
        .map_err(|error| error.to_string())?;
    let registry = Registry::new(RegistryOptions { provided, ..RegistryOptions::default() }, &[&reference], console);
    let top = registry.pull_manifest(&reference).await.map_err(|error| error.to_string())?;
    let json = |bytes: &[u8], what: &str| -> Result<Value, String> {
        serde_json::from_slice(bytes).map_err(|error| format!("its {what} is not JSON: {error}"))
    };
    let mut manifest = json(&top.bytes, "manifest")?;
    if is_index(&top.media_type) {
        let children = manifest["manifests"].as_array().cloned().unwrap_or_default();
        let linux = |arch: Option<&str>| {
            children.iter().find(|child| {
                child["platform"]["os"] == "linux" && arch.is_none_or(|arch| child["platform"]["architecture"] == arch)
            })
        };
        let child = linux(Some("amd64")).or_else(|| linux(None)).ok_or("its index has no linux image")?;
        let digest = child["digest"].as_str().ok_or("its index has an entry without a digest")?;
        let pulled = registry.pull_manifest(&reference.at_digest(digest)).await.map_err(|error| error.to_string())?;
        manifest = json(&pulled.bytes, "manifest")?;
    }
    let config = &manifest["config"];
    let descriptor = OciDescriptor {
        digest: config["digest"].as_str().ok_or("its manifest has no config")?.to_owned(),
        size: config["size"].as_i64().unwrap_or_default(),
        media_type: config["mediaType"].as_str().unwrap_or_default().to_owned(),
        ..OciDescriptor::default()
    };
    let bytes = registry.pull_blob_bytes(&reference, &descriptor).await.map_err(|error| error.to_string())?;
    Ok(json(&bytes, "config")?["config"]["User"].as_str().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_numeric_non_root_user_and_group_or_why_not() {
        assert_eq!(ids("65532:65532"), Ok((65532, 65532)));
        assert_eq!(ids("1000"), Ok((1000, 1000)), "no group: the same id");
        assert_eq!(ids(" 1000:2000 "), Ok((1000, 2000)));
        assert!(ids("").unwrap_err().contains("runs as root"));
        assert!(ids("0").unwrap_err().contains("runs as root"));
        assert!(ids("root:root").unwrap_err().contains("runs as root"));
        assert!(ids("0:1000").unwrap_err().contains("runs as root"));
        assert!(ids("app").unwrap_err().contains("the user `app`, a name"));
        assert!(ids("1000:staff").unwrap_err().contains("the group `staff`, a name"));
        assert!(ids("99999999999").is_err(), "beyond a UID");
    }
}
