package dev.slipway.sample;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** Name and version of this build, as stamped in by Maven or Gradle. */
final class BuildInfo {
    static final String DEFAULT_NAME = "sample-app";
    static final String UNKNOWN = "unknown";

    final String name;
    final String version;

    private BuildInfo(String name, String version) {
        this.name = name;
        this.version = version;
    }

    static BuildInfo load() {
        String name = DEFAULT_NAME;
        String version = null;
        Properties props = new Properties();
        try (InputStream in = BuildInfo.class.getResourceAsStream("build-info.properties")) {
            if (in != null) {
                props.load(in);
                name = props.getProperty("name", DEFAULT_NAME);
                version = props.getProperty("version");
            }
        } catch (IOException ignored) {
            // fall through to the manifest
        }
        if (version == null || version.isBlank() || version.startsWith("@") || version.startsWith("${")) {
            // Not filtered (e.g. running from an IDE): try the jar manifest.
            version = BuildInfo.class.getPackage().getImplementationVersion();
        }
        if (version == null || version.isBlank()) {
            version = UNKNOWN;
        }
        return new BuildInfo(name, version);
    }
}
