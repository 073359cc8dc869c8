//! containerize's flags.

use std::path::PathBuf;

use slipway_artifact::ArtifactKind;

use crate::layers::Compression;

/// containerize's own flags (the contract's output flags are added by the binary).
#[derive(Debug, Clone, clap::Args)]
pub struct ContainerizeArgs {
    /// The artifact build-jar made: a fat JAR, a dist directory (bin/ and lib/), a WAR or a
    /// native executable (an ELF file, GraalVM's native-image).
    /// Optional only with --add: an image of the base plus the added files (tools, not an app).
    #[arg(long, env = "SLIPWAY_ARTIFACT", value_name = "PATH")]
    pub artifact: Option<PathBuf>,

    /// A file or directory to add to the image, SRC:DEST with DEST absolute (a directory's
    /// contents go under DEST); repeatable. Each is a layer of its own after the app's: a Java
    /// agent, configuration files, tools. Executable files stay executable. {os}, {arch} and
    /// {variant} in SRC give each platform its own files (bin/{arch}:/usr/local/bin).
    #[arg(long, env = "SLIPWAY_ADD", value_name = "SRC:DEST", value_delimiter = '\n')]
    pub add: Vec<String>,

    /// The artifact's kind (fat-jar, dist, war, native), when its detection should be checked
    /// (detected from the file otherwise).
    #[arg(long, env = "SLIPWAY_KIND", value_enum)]
    pub kind: Option<ArtifactKind>,

    /// The base image: a registry reference (eclipse-temurin:21-jre), oci:DIR[:TAG] for a
    /// local OCI layout, or scratch. Default: eclipse-temurin:<the artifact's java-release>-jre;
    /// for a native executable scratch when static, gcr.io/distroless/base-debian12 when
    /// dynamic (a base lacking a library it needs is refused). Required without --artifact.
    #[arg(long, env = "SLIPWAY_BASE", value_name = "IMAGE")]
    pub base: Option<String>,

    /// Where to write the OCI image layout (replaced when it exists).
    #[arg(long, env = "SLIPWAY_OUTPUT", value_name = "DIR", default_value = "target/slipway-image")]
    pub output: PathBuf,

    /// Also write a tarball that `docker load` accepts, holding every layer (base layers
    /// are downloaded for it).
    #[arg(long, env = "SLIPWAY_TARBALL", value_name = "FILE")]
    pub tarball: Option<PathBuf>,

    /// A platform to build (os/arch[/variant]); repeatable or comma-separated. Default:
    /// every linux platform of a multi-platform base, or the base's one platform; a native
    /// executable's own architecture.
    #[arg(long, env = "SLIPWAY_PLATFORM", value_name = "PLATFORM", value_delimiter = '\n')]
    pub platform: Vec<String>,

    /// The port the app listens on, exposed by the image (0: none).
    #[arg(long, env = "SLIPWAY_PORT", default_value_t = 8080)]
    pub port: u16,

    /// An environment variable for the container, KEY=VALUE; repeatable.
    #[arg(long, env = "SLIPWAY_ENV", value_name = "KEY=VALUE", value_delimiter = '\n')]
    pub env: Vec<String>,

    /// An image label, KEY=VALUE; repeatable. OCI labels (source, revision, version,
    /// title) are filled from the CI environment; a label given here wins.
    #[arg(long, env = "SLIPWAY_LABEL", value_name = "KEY=VALUE", value_delimiter = '\n')]
    pub label: Vec<String>,

    /// The user the container runs as, UID[:GID] or NAME[:GROUP]. Default: 65532:65532
    /// (non-root) for a JAR, dist or native executable; the base's own user for a WAR.
    #[arg(long, env = "SLIPWAY_USER", value_name = "USER")]
    pub user: Option<String>,

    /// The container's working directory. Default: /app (the base's for a WAR).
    #[arg(long, env = "SLIPWAY_WORKDIR", value_name = "DIR")]
    pub workdir: Option<String>,

    /// A JVM flag in the entrypoint; repeatable, and replaces the default -XX:MaxRAMPercentage=75
    /// (refused for a native executable).
    #[arg(
        long = "jvm-flag",
        env = "SLIPWAY_JVM_FLAG",
        value_name = "FLAG",
        allow_hyphen_values = true,
        value_delimiter = '\n'
    )]
    pub jvm_flag: Vec<String>,

    /// Where a WAR goes, as ROOT.war: the base servlet container's webapps directory.
    #[arg(long, env = "SLIPWAY_WEBAPPS_DIR", value_name = "DIR", default_value = "/usr/local/tomcat/webapps")]
    pub webapps_dir: String,

    /// The image's name (registry/repository:tag): its tag names the image in the layout
    /// (org.opencontainers.image.ref.name) and the tarball.
    #[arg(long, env = "SLIPWAY_IMAGE", value_name = "REFERENCE")]
    pub image: Option<String>,

    /// The time stamped on every file and on the image: seconds since the epoch or RFC 3339.
    /// Default: SOURCE_DATE_EPOCH, else the epoch, so builds are reproducible.
    #[arg(long, env = "SLIPWAY_CREATION_TIME", value_name = "TIME")]
    pub creation_time: Option<String>,

    /// How the image's own layers are stored: gzip, which every runtime pulls; none, the tar
    /// itself (a JAR is deflated already: a few percent more bytes, no compression pass, and
    /// the layer's digest is its diff_id); or zstd, smaller than gzip and quicker to unpack,
    /// which Docker Engine 23+, containerd 1.5+ and Podman pull. Base layers are kept as they are.
    #[arg(long, env = "SLIPWAY_COMPRESSION", value_enum, default_value_t = Compression::Gzip)]
    pub compression: Compression,

    /// A registry (host[:port]) reached over plain HTTP; loopback registries always are.
    #[arg(long, env = "SLIPWAY_INSECURE_REGISTRY", value_name = "HOST", value_delimiter = '\n')]
    pub insecure_registry: Vec<String>,
}

impl ContainerizeArgs {
    /// The flags as a command line gives them, each default from its definition above, for
    /// callers that run containerize in process (tests of later steps). Like the binary, it
    /// reads the flags' `SLIPWAY_*` environment twins for flags not given.
    pub fn from_flags<I, T>(flags: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            args: ContainerizeArgs,
        }
        let command_line =
            std::iter::once(std::ffi::OsString::from("containerize")).chain(flags.into_iter().map(Into::into));
        <Flags as clap::Parser>::try_parse_from(command_line).map(|flags| flags.args)
    }

    /// `--artifact ARTIFACT --base BASE --output OUTPUT`, every other flag at its default.
    pub fn for_artifact(artifact: &std::path::Path, base: &str, output: &std::path::Path) -> Result<Self, clap::Error> {
        use std::ffi::OsStr;
        Self::from_flags([
            OsStr::new("--artifact"),
            artifact.as_os_str(),
            OsStr::new("--base"),
            OsStr::new(base),
            OsStr::new("--output"),
            output.as_os_str(),
        ])
    }
}
