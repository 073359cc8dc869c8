//! Building the image: the base resolved (manifests and configs only), the app's layers
//! and one per `--add` written, configs, manifests and index, the layout moved into place
//! when complete, and the tarball.

use std::path::PathBuf;

use slipway_artifact::{Artifact, ArtifactKind, Linkage, dist_class_path};
use slipway_contract::progress::format_bytes;
use slipway_contract::{Console, StepError, StepReport};
use slipway_registry::{ImageReference, Registry, RegistryOptions};

use crate::base::{self, Base, BaseError, BaseSource, base_java_release};
use crate::image::{Blob, PlatformImage, RunSettings, build_config, build_index, build_manifest};
use crate::layers::{LayerBlob, LayerFile, write_layer};
use crate::layout::{DockerManifest, StagedLayout, write_tarball};
use crate::native::{self, BaseFiles};
use crate::plan::{APP_DIR, Addition, DEFAULT_DYNAMIC_BASE, Plan, format_time};
use crate::report::report;

fn base_error(error: BaseError) -> StepError {
    if error.is_usage() { StepError::usage(error.to_string()) } else { StepError::failed(error.to_string()) }
}

fn io_error(what: &str) -> impl Fn(std::io::Error) -> StepError + '_ {
    move |error| StepError::failed(format!("{what}: {error}"))
}

/// Named layers, in order.
type NamedLayers = Vec<(String, Vec<LayerFile>)>;

/// What a layer holds: the same files on every platform, or a per-platform `--add`'s.
enum LayerSource {
    Files(Vec<LayerFile>),
    PerPlatform(Addition),
}

/// The image's layers on top of the base, named, in order.
type LayerSources = Vec<(String, LayerSource)>;

/// The app's layers, then one per `--add`, and the entrypoint that starts the app (`None`
/// keeps the base's).
fn image_layout(plan: &Plan) -> Result<(LayerSources, Option<Vec<String>>), StepError> {
    let (app, entrypoint) = match &plan.artifact {
        Some(artifact) => app_layout(plan, artifact)?,
        None => (Vec::new(), None),
    };
    let mut layers: LayerSources = app.into_iter().map(|(name, files)| (name, LayerSource::Files(files))).collect();
    for (number, addition) in plan.additions.iter().enumerate() {
        let name = format!("added-{}", number + 1);
        if addition.is_per_platform() {
            layers.push((name, LayerSource::PerPlatform(addition.clone())));
        } else {
            layers.push((name, LayerSource::Files(added_files(&addition.source, &addition.destination)?)));
        }
    }
    Ok((layers, entrypoint))
}

/// The files of an `--add` from `source`: the file itself, or every file under the directory,
/// each keeping its executable bit. A symbolic link to a file adds the file; links to
/// directories (which could loop) and special files are left out.
fn added_files(source: &std::path::Path, destination: &str) -> Result<Vec<LayerFile>, StepError> {
    walk_added(source, destination).map_err(io_error(&format!("cannot read {}", source.display())))
}

fn walk_added(source: &std::path::Path, destination: &str) -> std::io::Result<Vec<LayerFile>> {
    use std::os::unix::fs::PermissionsExt;
    let destination = destination.trim_start_matches('/');
    let executable = |path: &std::path::Path| -> std::io::Result<bool> {
        Ok(std::fs::metadata(path)?.permissions().mode() & 0o111 != 0)
    };
    if source.is_file() {
        return Ok(vec![LayerFile {
            path: destination.to_owned(),
            source: source.to_owned(),
            executable: executable(source)?,
        }]);
    }
    let mut files = Vec::new();
    let mut pending = vec![(source.to_owned(), destination.to_owned())];
    while let Some((directory, inside)) = pending.pop() {
        for entry in std::fs::read_dir(&directory)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let target = if inside.is_empty() { name } else { format!("{inside}/{name}") };
            if entry.file_type()?.is_dir() {
                pending.push((path, target));
            } else if path.is_file() {
                files.push(LayerFile { executable: executable(&path)?, path: target, source: path });
            }
        }
    }
    Ok(files)
}

/// The app's layers and the entrypoint that starts it.
fn app_layout(plan: &Plan, artifact: &Artifact) -> Result<(NamedLayers, Option<Vec<String>>), StepError> {
    let file_name =
        |path: &std::path::Path| path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let java = |mut tail: Vec<String>| {
        let mut command = vec!["java".to_owned()];
        command.extend(plan.jvm_flags.iter().cloned());
        command.append(&mut tail);
        command
    };
    match artifact.kind {
        ArtifactKind::FatJar => {
            let jar = file_name(&artifact.path);
            let layer = LayerFile { path: format!("app/{jar}"), source: artifact.path.clone(), executable: false };
            Ok((vec![("app".to_owned(), vec![layer])], Some(java(vec!["-jar".to_owned(), format!("{APP_DIR}/{jar}")]))))
        }
        ArtifactKind::Dist => {
            // Third-party jars change rarely, the app's own jar on every commit: separate
            // layers, so a code change rebuilds and pushes a small layer only.
            let main_jar = artifact.main_jar.as_deref().map(file_name).unwrap_or_default();
            let class_path = dist_class_path(&artifact.path, artifact.main_jar.as_deref())
                .map_err(|error| StepError::failed(error.to_string()))?;
            let lib_file = |name: &String| LayerFile {
                path: format!("app/lib/{name}"),
                source: artifact.path.join("lib").join(name),
                executable: false,
            };
            let dependencies: Vec<LayerFile> =
                class_path.iter().filter(|name| **name != main_jar).map(lib_file).collect();
            let mut app: Vec<LayerFile> = class_path.iter().filter(|name| **name == main_jar).map(lib_file).collect();
            let bin = artifact.path.join("bin");
            let mut scripts: Vec<PathBuf> = std::fs::read_dir(&bin)
                .map_err(io_error("cannot read the dist's bin/"))?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.is_file())
                .collect();
            scripts.sort();
            app.extend(scripts.iter().map(|script| LayerFile {
                path: format!("app/bin/{}", file_name(script)),
                source: script.clone(),
                executable: true,
            }));
            let class_path: Vec<String> = class_path.iter().map(|jar| format!("{APP_DIR}/lib/{jar}")).collect();
            let entrypoint = java(vec!["-cp".to_owned(), class_path.join(":"), artifact.main_class.clone()]);
            let mut layers = Vec::new();
            if !dependencies.is_empty() {
                layers.push(("dependencies".to_owned(), dependencies));
            }
            layers.push(("app".to_owned(), app));
            Ok((layers, Some(entrypoint)))
        }
        ArtifactKind::War => {
            let path = format!("{}/ROOT.war", plan.webapps_dir.trim_start_matches('/'));
            let layer = LayerFile { path, source: artifact.path.clone(), executable: false };
            Ok((vec![("app".to_owned(), vec![layer])], None))
        }
        // The executable alone in one layer (mode 0755), started directly: no shell, no JVM.
        ArtifactKind::Native => {
            let name = file_name(&artifact.path);
            let layer = LayerFile { path: format!("app/{name}"), source: artifact.path.clone(), executable: true };
            Ok((vec![("app".to_owned(), vec![layer])], Some(vec![format!("{APP_DIR}/{name}")])))
        }
    }
}

pub(crate) async fn execute(plan: &Plan, console: &Console) -> Result<StepReport, StepError> {
    let base_reference = match &plan.base {
        BaseSource::Registry(reference) => Some(reference.clone()),
        _ => None,
    };
    let references: Vec<&ImageReference> = base_reference.iter().collect();
    let options =
        RegistryOptions { insecure_registries: plan.insecure_registries.clone(), login: None, provided: None };
    let registry = Registry::new(options, &references, console);

    let base = base::resolve(&plan.base, &plan.platforms, &registry).await.map_err(base_error)?;
    for (platform, artifact) in base.platforms.iter().flat_map(|p| plan.artifact.as_ref().map(|a| (p, a))) {
        if let Some(release) = base_java_release(&platform.config)
            && release < artifact.java_release
        {
            return Err(StepError::usage(format!(
                "{} needs Java {} but the base {} ({}) has Java {release}; pick a newer base",
                artifact.path.display(),
                artifact.java_release,
                base.name,
                platform.platform
            )));
        }
    }
    if matches!(plan.base, BaseSource::Scratch)
        && plan.artifact.as_ref().is_some_and(|a| !matches!(a.kind, ArtifactKind::War | ArtifactKind::Native))
    {
        console.warning("the base is scratch: the image has no java, so it cannot start the app as is");
    }
    let platforms: Vec<String> = base.platforms.iter().map(|p| p.platform.to_string()).collect();
    console.info(&format!(
        "base {} {} for {}",
        if base.name.is_empty() { "scratch" } else { &base.name },
        base.digest,
        platforms.join(", ")
    ));

    let (layer_sources, entrypoint) = image_layout(plan)?;
    // A per-platform --add must have its files for every platform, checked before anything is written.
    for (_, source) in &layer_sources {
        if let LayerSource::PerPlatform(addition) = source {
            for platform in &base.platforms {
                addition.check_source(Some(&platform.platform))?;
            }
        }
    }

    let staged = StagedLayout::create(&plan.output).map_err(io_error("cannot create the output layout"))?;
    let dynamic = check_native_base(plan, &base, &staged, &registry, console).await?;
    let settings = RunSettings {
        entrypoint,
        env: plan.env.clone(),
        labels: plan.labels.clone(),
        exposed_port: plan.port,
        user: plan.user.clone(),
        workdir: plan.workdir.clone(),
        created: format_time(plan.creation_time),
    };
    // Layers every platform shares are written once; a per-platform --add once per platform.
    let mut shared: Vec<Option<LayerBlob>> = vec![None; layer_sources.len()];
    let mut images = Vec::new();
    for platform in &base.platforms {
        let mut app_layers: Vec<LayerBlob> = Vec::new();
        for (index, (name, source)) in layer_sources.iter().enumerate() {
            let layer = match (source, &shared[index]) {
                (LayerSource::Files(_), Some(written)) => written.clone(),
                (LayerSource::Files(files), None) => {
                    let layer = write_app_layer(name, files.clone(), plan, &staged, console).await?;
                    shared[index] = Some(layer.clone());
                    layer
                }
                (LayerSource::PerPlatform(addition), _) => {
                    let files = added_files(&addition.source_for(&platform.platform), &addition.destination)?;
                    let name = format!("{name}-{}", platform.platform.architecture);
                    write_app_layer(&name, files, plan, &staged, console).await?
                }
            };
            app_layers.push(layer);
        }
        let config =
            Blob::json(slipway_registry::media::OCI_CONFIG, &build_config(&platform.config, &settings, &app_layers));
        let manifest = build_manifest(&base, platform, &config, &app_layers);
        staged.write_blob(&config).map_err(io_error("cannot write a config"))?;
        staged.write_blob(&manifest).map_err(io_error("cannot write a manifest"))?;
        images.push(PlatformImage { base: platform.clone(), config, manifest, app_layers });
    }
    let top = if base.is_index {
        let index = build_index(&base, &images);
        staged.write_blob(&index).map_err(io_error("cannot write the index"))?;
        index
    } else {
        images[0].manifest.clone()
    };
    let ref_name = plan.image.as_ref().and_then(|i| i.tag().map(str::to_owned)).unwrap_or_else(|| "latest".to_owned());
    staged.write_index(&top, &ref_name).map_err(io_error("cannot write index.json"))?;

    // Base layers: linked from a local layout; downloaded only when the tarball needs them.
    let needs_base_layers = plan.tarball.is_some() || matches!(plan.base, BaseSource::Layout { .. }) || dynamic;
    if needs_base_layers {
        fetch_base_layers(&base, &staged, &registry, console).await?;
    }
    let tarball_image =
        images.iter().find(|image| image.base.platform.selected_by(&base::Platform::host())).unwrap_or(&images[0]);
    if let Some(tarball) = &plan.tarball {
        let docker = DockerManifest {
            config_digest: tarball_image.config.digest.clone(),
            layer_digests: tarball_image
                .base
                .layers
                .iter()
                .map(|layer| layer.digest.clone())
                .chain(tarball_image.app_layers.iter().map(|layer| layer.digest.clone()))
                .collect(),
            repo_tag: plan
                .image
                .as_ref()
                .map(|image| format!("{}:{}", image.name().trim_start_matches("docker.io/library/"), ref_name)),
        };
        write_tarball(staged.path(), &docker, plan.creation_time, tarball)
            .map_err(io_error("cannot write the tarball"))?;
    }
    // The SBOM of the app's packages and the base, beside the image in the layout.
    let sbom = match &plan.artifact {
        Some(artifact) => {
            let inventory =
                slipway_artifact::inventory(artifact).map_err(|error| StepError::failed(error.to_string()))?;
            let bytes = crate::sbom::sbom(plan, artifact, &inventory, &base);
            std::fs::write(staged.path().join(crate::sbom::SBOM_FILE), bytes)
                .map_err(io_error("cannot write the SBOM"))?;
            console.info(&format!(
                "sbom: CycloneDX 1.6, {} packages besides the app and the base",
                inventory.packages.len()
            ));
            true
        }
        None => false,
    };
    let layout = staged.commit().map_err(io_error("cannot move the layout into place"))?;
    let sbom = sbom.then(|| layout.join(crate::sbom::SBOM_FILE));
    Ok(report(plan, &base, &images, &top, &layout, sbom.as_deref()))
}

/// A dynamic native executable needs its program interpreter and libraries in the base:
/// the base's layers are downloaded into the layout and read, for every platform, and a base
/// that lacks any is refused (exit 2) before the image is written. Returns whether it checked.
async fn check_native_base(
    plan: &Plan,
    base: &Base,
    staged: &StagedLayout,
    registry: &Registry,
    console: &Console,
) -> Result<bool, StepError> {
    let Some((artifact, native)) = plan
        .artifact
        .as_ref()
        .and_then(|a| a.native.as_ref().map(|n| (a, n)))
        .filter(|(_, n)| n.linkage == Linkage::Dynamic)
    else {
        return Ok(false);
    };
    fetch_base_layers(base, staged, registry, console).await?;
    let name = if base.name.is_empty() { "scratch" } else { &base.name };
    for platform in &base.platforms {
        let mut files = BaseFiles::default();
        for layer in &platform.layers {
            let path = staged.blob_path(&layer.digest);
            std::fs::File::open(&path)
                .and_then(|file| files.apply_layer(&layer.media_type, std::io::BufReader::new(file)))
                .map_err(|error| StepError::failed(format!("cannot read the base layer {}: {error}", layer.digest)))?;
        }
        let dirs = native::search_dirs(native, APP_DIR, native::ld_library_path(&platform.config).as_deref(), &files);
        let missing = native::missing(native, &dirs, &files);
        if !missing.is_empty() {
            return Err(StepError::usage(format!(
                "{} is dynamically linked, but the base {name} ({}) lacks {}, which it needs; pick a base that has {} (the default for a dynamic executable is {DEFAULT_DYNAMIC_BASE}), or link it statically (GraalVM --static --libc=musl) for scratch",
                artifact.path.display(),
                platform.platform,
                missing.join(", "),
                if missing.len() == 1 { "it" } else { "them" },
            ))
            .with_detail(vec![format!("searched: {}", dirs.join(":"))]));
        }
        let mut needed: Vec<&str> = native.interpreter.iter().map(String::as_str).collect();
        needed.extend(native.needs.iter().map(String::as_str));
        console.info(&format!(
            "the base {name} ({}) has what the executable needs: {}",
            platform.platform,
            needed.join(", ")
        ));
    }
    Ok(true)
}

/// Writes one layer into the staged layout, off the async runtime's thread.
async fn write_app_layer(
    name: &str,
    files: Vec<LayerFile>,
    plan: &Plan,
    staged: &StagedLayout,
    console: &Console,
) -> Result<LayerBlob, StepError> {
    let blobs = staged.blobs_dir();
    let mtime = plan.creation_time;
    let compression = plan.compression;
    let name = name.to_owned();
    let layer = tokio::task::spawn_blocking(move || write_layer(&name, &files, mtime, compression, &blobs))
        .await
        .map_err(|error| StepError::failed(format!("the layer writer stopped: {error}")))?
        .map_err(io_error("cannot write a layer"))?;
    console.info(&format!(
        "layer {}: {} {} {}",
        layer.name,
        format_bytes(layer.size),
        compression.as_str(),
        layer.digest
    ));
    Ok(layer)
}

async fn fetch_base_layers(
    base: &Base,
    staged: &StagedLayout,
    registry: &Registry,
    console: &Console,
) -> Result<(), StepError> {
    for platform in &base.platforms {
        for layer in &platform.layers {
            if staged.has_blob(&layer.digest) {
                continue;
            }
            match &base.source {
                BaseSource::Layout { dir, .. } => {
                    let source = dir.join("blobs").join(layer.digest.replace(':', "/"));
                    staged.link_blob(&source, &layer.digest).map_err(|error| {
                        StepError::usage(format!("the base layout lacks layer {}: {error}", layer.digest))
                    })?;
                }
                BaseSource::Registry(reference) => {
                    console.info(&format!(
                        "downloading base layer {} ({})",
                        layer.digest,
                        format_bytes(layer.size.try_into().unwrap_or(0))
                    ));
                    registry
                        .pull_blob_to_file(reference, layer, &staged.blob_path(&layer.digest))
                        .await
                        .map_err(|error| StepError::failed(error.to_string()))?;
                }
                BaseSource::Scratch => {}
            }
        }
    }
    Ok(())
}
