#!/bin/sh
# Stands in for the project's gradlew or mvnw with GraalVM's native-image, which cannot be
# installed on these machines: it records the arguments build-jar gave it (build-args.txt),
# refuses a task or goal other than the native plugins' ones as the real tools would, and
# builds with gcc the executable that nativeCompile / `-Pnative package` would, where they
# write it. SAMPLE_NATIVE_LINKAGE=static links it statically (GraalVM --static).
set -eu
printf '%s\n' "$@" >build-args.txt
case "$(basename "$0")" in
  gradlew)
    case " $* " in *" nativeCompile "*) ;; *) echo "* What went wrong:" >&2; echo "Task not found (the stand-in runs nativeCompile only)" >&2; exit 1 ;; esac
    out=build/native/nativeCompile ;;
  mvnw)
    for wanted in -Pnative package; do
      case " $* " in *" $wanted "*) ;; *) echo "[ERROR] the stand-in runs -Pnative package only" >&2; exit 1 ;; esac
    done
    out=target
    mkdir -p target/classes
    # native-maven-plugin runs after the jar plugin: the jar lies beside the executable.
    printf 'PK\005\006%018d' 0 >target/sample-native-1.0.0.jar ;;
  *) echo "run me as gradlew or mvnw" >&2; exit 2 ;;
esac
mkdir -p "$out"
linkage=${SAMPLE_NATIVE_LINKAGE:-dynamic}
flags=
if [ "$linkage" = static ]; then flags=-static; fi
# shellcheck disable=SC2086 # flags is one word or none
gcc -O2 $flags -DAPP_VERSION='"1.0.0"' -DAPP_LINKAGE="\"$linkage\"" -o "$out/sample-native" src/main/c/server.c
echo "BUILD SUCCESSFUL (stand-in: gcc $flags, $linkage)"
