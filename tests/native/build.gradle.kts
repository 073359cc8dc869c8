// The Ktor guide's GraalVM setup (ktor.io/docs/graalvm.html): the Ktor plugin and GraalVM's
// Native Build Tools, whose nativeCompile writes build/native/nativeCompile/<imageName>.
plugins {
    kotlin("jvm") version "2.1.10"
    id("io.ktor.plugin") version "3.1.1"
    id("org.graalvm.buildtools.native") version "0.10.6"
}

group = "dev.slipway"
version = "1.0.0"

application {
    mainClass.set("dev.slipway.sample.ApplicationKt")
}

repositories {
    mavenCentral()
}

dependencies {
    implementation("io.ktor:ktor-server-core-jvm")
    implementation("io.ktor:ktor-server-cio-jvm")
}

graalvmNative {
    binaries {
        named("main") {
            imageName.set("sample-native")
            mainClass.set("dev.slipway.sample.ApplicationKt")
            buildArgs.add("--initialize-at-build-time=io.ktor,kotlin")
        }
    }
}
