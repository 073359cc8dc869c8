//! A dynamic native executable on its base: every library it needs (`DT_NEEDED`) and its
//! program interpreter must be files of the base, found the way the dynamic loader looks for
//! them (its run paths, the base's `LD_LIBRARY_PATH`, `/etc/ld.so.conf`, the system
//! directories), read from the base's layers themselves: whiteouts applied, symbolic links
//! followed (merged-/usr bases link `/lib` to `usr/lib`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use slipway_artifact::NativeExecutable;
use slipway_registry::media;

/// What a layer stack leaves at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Directory,
    File,
    /// A symbolic link's target, as written (relative or absolute).
    Link(String),
}

/// The files of a base image, its layers applied in order. Paths are absolute, without a
/// trailing slash (`/usr/lib/x86_64-linux-gnu/libc.so.6`).
#[derive(Debug, Default)]
pub struct BaseFiles {
    nodes: BTreeMap<String, Node>,
    /// The text of `/etc/ld.so.conf` and `/etc/ld.so.conf.d/*.conf`, by path.
    loader_config: BTreeMap<String, String>,
}

fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(at) => &path[..at],
    }
}

fn is_loader_config(path: &str) -> bool {
    path == "/etc/ld.so.conf" || (path.starts_with("/etc/ld.so.conf.d/") && path.ends_with(".conf"))
}

impl BaseFiles {
    /// Applies one layer (a tar stream, decompressed as its media type says).
    pub fn apply_layer(&mut self, media_type: &str, reader: impl Read) -> std::io::Result<()> {
        let reader: Box<dyn Read + '_> = match media::oci_layer_type(media_type) {
            Some(media::OCI_LAYER_GZIP) => Box::new(flate2::read::GzDecoder::new(reader)),
            Some(media::OCI_LAYER_ZSTD) => Box::new(zstd::stream::read::Decoder::new(reader)?),
            _ => Box::new(reader),
        };
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let path = normalize(&String::from_utf8_lossy(&entry.path_bytes()));
            let name = path.rsplit('/').next().unwrap_or_default().to_owned();
            // Whiteouts (OCI image spec, "Representing Changes"): the opaque marker hides what
            // lower layers put in its directory; `.wh.NAME` removes NAME.
            if name == ".wh..wh..opq" {
                let dir = parent(&path).to_owned();
                self.remove_below(&dir);
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let dir = parent(&path);
                let target = normalize(&format!("{dir}/{hidden}"));
                self.nodes.remove(&target);
                self.remove_below(&target);
                self.loader_config.remove(&target);
                continue;
            }
            let kind = entry.header().entry_type();
            let node = if kind.is_dir() {
                Node::Directory
            } else if kind.is_symlink() {
                let target =
                    entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned()).unwrap_or_default();
                Node::Link(target)
            } else if kind.is_hard_link() || kind.is_file() {
                Node::File
            } else {
                continue;
            };
            if node != Node::Directory {
                // A file or link replaces whatever a lower layer had there, a directory too.
                self.remove_below(&path);
            }
            if node == Node::File && is_loader_config(&path) && kind.is_file() {
                let mut text = String::new();
                entry.by_ref().take(64 * 1024).read_to_string(&mut text).unwrap_or_default();
                self.loader_config.insert(path.clone(), text);
            }
            self.nodes.insert(path, node);
        }
        Ok(())
    }

    fn remove_below(&mut self, dir: &str) {
        let prefix = if dir == "/" { "/".to_owned() } else { format!("{dir}/") };
        self.nodes.retain(|path, _| !path.starts_with(&prefix));
        self.loader_config.retain(|path, _| !path.starts_with(&prefix));
    }

    /// Where `path` leads once every symbolic link on the way is followed, if it is a file.
    pub fn resolve_file(&self, path: &str) -> Option<String> {
        let mut pending: Vec<String> =
            normalize(path).split('/').filter(|p| !p.is_empty()).map(str::to_owned).collect();
        pending.reverse();
        let mut current = String::new();
        let mut links = 0;
        while let Some(part) = pending.pop() {
            let candidate = normalize(&format!("{current}/{part}"));
            match self.nodes.get(&candidate) {
                Some(Node::Link(target)) => {
                    links += 1;
                    if links > 40 {
                        return None;
                    }
                    let target = if target.starts_with('/') {
                        target.clone()
                    } else {
                        format!("{}/{target}", if current.is_empty() { "/" } else { &current })
                    };
                    let mut parts: Vec<String> =
                        normalize(&target).split('/').filter(|p| !p.is_empty()).map(str::to_owned).collect();
                    parts.reverse();
                    // The link's target is walked again from the root, then what followed it.
                    current = String::new();
                    pending.extend(parts);
                }
                Some(Node::File) if pending.is_empty() => return Some(candidate),
                Some(Node::Directory) => current = candidate,
                // A directory a layer never listed but whose files it holds (tar files need not
                // list parents).
                None if pending.is_empty() => return None,
                None if self.has_below(&candidate) => current = candidate,
                _ => return None,
            }
        }
        None
    }

    fn has_below(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.nodes.range(prefix.clone()..).next().is_some_and(|(path, _)| path.starts_with(&prefix))
    }

    /// The directories `/etc/ld.so.conf` names (with `include`s of `ld.so.conf.d`).
    fn configured_dirs(&self) -> Vec<String> {
        let mut dirs = Vec::new();
        for text in self.loader_config.values() {
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or_default().trim();
                if line.starts_with('/') {
                    dirs.push(normalize(line));
                }
            }
        }
        dirs
    }
}

/// Debian's multiarch directory name of an OCI architecture, which glibc's loader searches.
fn multiarch(architecture: &str) -> Option<&'static str> {
    Some(match architecture {
        "amd64" => "x86_64-linux-gnu",
        "arm64" => "aarch64-linux-gnu",
        "386" => "i386-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "ppc64le" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        _ => return None,
    })
}

/// The directories searched for a needed library, in the loader's order (`$ORIGIN` is the
/// executable's directory in the image).
pub fn search_dirs(
    native: &NativeExecutable,
    origin: &str,
    ld_library_path: Option<&str>,
    base: &BaseFiles,
) -> Vec<String> {
    let mut dirs: Vec<String> = Vec::new();
    let expand = |dir: &str| normalize(&dir.replace("${ORIGIN}", origin).replace("$ORIGIN", origin));
    dirs.extend(native.run_paths.iter().map(|d| expand(d)));
    dirs.extend(ld_library_path.into_iter().flat_map(|p| p.split(':')).filter(|d| !d.is_empty()).map(normalize));
    dirs.extend(base.configured_dirs());
    if let Some(triplet) = multiarch(&native.architecture) {
        dirs.push(format!("/lib/{triplet}"));
        dirs.push(format!("/usr/lib/{triplet}"));
    }
    if native.architecture.ends_with("64") || native.architecture == "s390x" {
        dirs.extend(["/lib64".to_owned(), "/usr/lib64".to_owned()]);
    }
    dirs.extend(["/lib".to_owned(), "/usr/lib".to_owned(), "/usr/local/lib".to_owned()]);
    let mut seen = BTreeSet::new();
    dirs.retain(|dir| seen.insert(dir.clone()));
    dirs
}

/// What the base lacks of what `native` needs: its interpreter, then each needed library
/// not found in `dirs`. Each entry names it as the executable does.
pub fn missing(native: &NativeExecutable, dirs: &[String], base: &BaseFiles) -> Vec<String> {
    let mut missing = Vec::new();
    if let Some(interpreter) = &native.interpreter
        && base.resolve_file(interpreter).is_none()
    {
        missing.push(interpreter.clone());
    }
    for library in &native.needs {
        let found = if library.contains('/') {
            base.resolve_file(library).is_some()
        } else {
            dirs.iter().any(|dir| base.resolve_file(&format!("{dir}/{library}")).is_some())
        };
        if !found {
            missing.push(library.clone());
        }
    }
    missing
}

/// `LD_LIBRARY_PATH` of a base config's environment.
pub fn ld_library_path(config: &serde_json::Value) -> Option<String> {
    config
        .pointer("/config/Env")?
        .as_array()?
        .iter()
        .filter_map(serde_json::Value::as_str)
        .find_map(|entry| entry.strip_prefix("LD_LIBRARY_PATH="))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_artifact::Linkage;

    enum Entry<'a> {
        Dir(&'a str),
        File(&'a str, &'a [u8]),
        Link(&'a str, &'a str),
    }

    fn layer(entries: &[Entry<'_>]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in entries {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o755);
            match entry {
                Entry::Dir(path) => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    builder.append_data(&mut header, path, std::io::empty()).unwrap();
                }
                Entry::File(path, bytes) => {
                    header.set_size(bytes.len() as u64);
                    builder.append_data(&mut header, path, *bytes).unwrap();
                }
                Entry::Link(path, target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    builder.append_link(&mut header, path, target).unwrap();
                }
            }
        }
        builder.into_inner().unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn executable(needs: &[&str]) -> NativeExecutable {
        NativeExecutable {
            architecture: "amd64".into(),
            linkage: Linkage::Dynamic,
            interpreter: Some("/lib64/ld-linux-x86-64.so.2".into()),
            needs: needs.iter().map(|n| (*n).to_owned()).collect(),
            run_paths: vec!["$ORIGIN/lib".into()],
        }
    }

    /// A merged-/usr Debian base: /lib and /lib64 link into /usr, the loader a relative link.
    fn debian_base() -> BaseFiles {
        let mut base = BaseFiles::default();
        let lower = layer(&[
            Entry::Link("lib", "usr/lib"),
            Entry::Link("lib64", "usr/lib64"),
            Entry::Dir("usr/lib/x86_64-linux-gnu/"),
            Entry::File("usr/lib/x86_64-linux-gnu/libc.so.6", b"elf"),
            Entry::File("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", b"elf"),
            Entry::Link("usr/lib64/ld-linux-x86-64.so.2", "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
            Entry::File("usr/lib/x86_64-linux-gnu/libz.so.1.2.13", b"elf"),
            Entry::Link("usr/lib/x86_64-linux-gnu/libz.so.1", "libz.so.1.2.13"),
            Entry::File("opt/extra/libextra.so.1", b"elf"),
            Entry::File("etc/ld.so.conf.d/extra.conf", b"# extra\n/opt/extra\n"),
        ]);
        base.apply_layer(media::OCI_LAYER_GZIP, gzip(&lower).as_slice()).unwrap();
        base
    }

    #[test]
    fn libraries_are_found_through_merged_usr_links_and_loader_config() {
        let base = debian_base();
        assert_eq!(
            base.resolve_file("/lib64/ld-linux-x86-64.so.2").as_deref(),
            Some("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        );
        let native = executable(&["libz.so.1", "libextra.so.1", "libc.so.6"]);
        let dirs = search_dirs(&native, "/app", None, &base);
        assert_eq!(dirs[0], "/app/lib", "$ORIGIN is the executable's directory");
        assert!(dirs.contains(&"/opt/extra".to_owned()), "{dirs:?}");
        assert!(missing(&native, &dirs, &base).is_empty());
        let lacking = executable(&["libgreet.so.1", "libc.so.6"]);
        assert_eq!(missing(&lacking, &dirs, &base), ["libgreet.so.1"]);
    }

    #[test]
    fn whiteouts_remove_what_lower_layers_had() {
        let mut base = debian_base();
        let upper = layer(&[
            Entry::File("usr/lib/x86_64-linux-gnu/.wh.libz.so.1.2.13", b""),
            Entry::File("opt/extra/.wh..wh..opq", b""),
            Entry::File("etc/ld.so.conf.d/.wh.extra.conf", b""),
        ]);
        base.apply_layer(media::OCI_LAYER_TAR, upper.as_slice()).unwrap();
        let native = executable(&["libz.so.1", "libextra.so.1", "libc.so.6"]);
        let dirs = search_dirs(&native, "/app", Some("/opt/extra"), &base);
        // libz.so.1 is a dangling link now; /opt/extra was emptied.
        assert_eq!(missing(&native, &dirs, &base), ["libz.so.1", "libextra.so.1"]);
    }

    #[test]
    fn an_empty_base_lacks_the_interpreter_too() {
        let base = BaseFiles::default();
        let native = executable(&["libc.so.6"]);
        let dirs = search_dirs(&native, "/app", None, &base);
        assert_eq!(missing(&native, &dirs, &base), ["/lib64/ld-linux-x86-64.so.2", "libc.so.6"]);
    }

    #[test]
    fn link_loops_end() {
        let mut base = BaseFiles::default();
        let looping = layer(&[Entry::Link("a", "b"), Entry::Link("b", "a")]);
        base.apply_layer(media::OCI_LAYER_TAR, looping.as_slice()).unwrap();
        assert_eq!(base.resolve_file("/a/libc.so.6"), None);
    }
}
