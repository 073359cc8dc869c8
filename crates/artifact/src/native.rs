//! Proves a native executable (GraalVM's `native-image` output) runnable without running
//! it: an ELF executable (not a shared library or object file) for a Linux architecture,
//! statically linked or, when dynamic, naming its program interpreter and the libraries it
//! needs (`DT_NEEDED`). Parsed with the `object` crate (gimli-rs's, the parser behind
//! Rust's own backtraces and linkers), never by hand.

use std::path::Path;

use object::elf;
use object::read::elf::{Dyn as _, FileHeader, ProgramHeader as _};
use object::{Endianness, FileKind};

use crate::InspectError;

/// ELF's magic number: what makes a file a native executable candidate.
pub const ELF_MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];

/// How a native executable is linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    /// No program interpreter and no needed library (`-static`, static-pie, or GraalVM's
    /// `--static --libc=musl`): runs on `scratch`.
    Static,
    /// Loaded by its program interpreter with the libraries it names: needs a base that
    /// has them (a glibc base such as distroless for GraalVM's default or mostly-static).
    Dynamic,
}

impl Linkage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Dynamic => "dynamic",
        }
    }
}

/// What the ELF headers say about a native executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeExecutable {
    /// The OCI architecture it runs on (`amd64`, `arm64`, ...).
    pub architecture: String,
    pub linkage: Linkage,
    /// `PT_INTERP`: the dynamic loader's absolute path (`/lib64/ld-linux-x86-64.so.2`).
    pub interpreter: Option<String>,
    /// `DT_NEEDED`, in the order the executable names them (`libz.so.1`, `libc.so.6`).
    pub needs: Vec<String>,
    /// `DT_RUNPATH` (else `DT_RPATH`) directories, where the loader looks first.
    pub run_paths: Vec<String>,
}

/// Whether the file starts with ELF's magic number.
pub fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut file| std::io::Read::read_exact(&mut file, &mut magic)).is_ok()
        && magic == ELF_MAGIC
}

fn not_executable(path: &Path, reason: impl Into<String>) -> InspectError {
    InspectError::NotNativeExecutable { path: path.to_owned(), reason: reason.into() }
}

/// Reads the ELF headers of `bytes` (the file at `path`).
pub fn parse_native(path: &Path, bytes: &[u8]) -> Result<NativeExecutable, InspectError> {
    match FileKind::parse(bytes) {
        Ok(FileKind::Elf64) => parse_elf::<elf::FileHeader64<Endianness>>(path, bytes),
        Ok(FileKind::Elf32) => parse_elf::<elf::FileHeader32<Endianness>>(path, bytes),
        Ok(other) => Err(not_executable(path, format!("it is a {other:?} file, not ELF"))),
        Err(_) => Err(not_executable(path, "it is not an ELF file")),
    }
}

/// The OCI architecture of an ELF machine (and class and byte order), if Linux images have it.
fn oci_architecture(machine: u16, is_64: bool, little_endian: bool) -> Option<&'static str> {
    Some(match (machine, is_64, little_endian) {
        (elf::EM_X86_64, true, true) => "amd64",
        (elf::EM_AARCH64, true, true) => "arm64",
        (elf::EM_386, false, true) => "386",
        (elf::EM_ARM, false, true) => "arm",
        (elf::EM_PPC64, true, true) => "ppc64le",
        (elf::EM_S390, true, false) => "s390x",
        (elf::EM_RISCV, true, true) => "riscv64",
        (elf::EM_MIPS, true, true) => "mips64le",
        (elf::EM_LOONGARCH, true, true) => "loong64",
        _ => return None,
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn parse_elf<Elf: FileHeader<Endian = Endianness>>(path: &Path, data: &[u8]) -> Result<NativeExecutable, InspectError> {
    let invalid = |error: object::read::Error| not_executable(path, format!("its ELF headers are invalid ({error})"));
    let header = Elf::parse(data).map_err(invalid)?;
    let endian = header.endian().map_err(invalid)?;
    let os_abi = header.e_ident().os_abi;
    if !matches!(os_abi, elf::ELFOSABI_SYSV | elf::ELFOSABI_GNU) {
        return Err(not_executable(path, format!("it is built for another OS (ELF OS/ABI {os_abi}), not Linux")));
    }
    let machine = header.e_machine(endian);
    let architecture = oci_architecture(machine, header.is_type_64(), header.is_little_endian()).ok_or_else(|| {
        not_executable(path, format!("its machine (ELF e_machine {machine}) is no Linux image platform"))
    })?;

    let segments = header.program_headers(endian, data).map_err(invalid)?;
    let mut interpreter = None;
    let mut dynamic_segment = false;
    for segment in segments {
        if let Some(bytes) = segment.interpreter(endian, data).map_err(invalid)? {
            interpreter = Some(text(bytes));
        }
        dynamic_segment |= segment.p_type(endian) == elf::PT_DYNAMIC;
    }

    let mut needs = Vec::new();
    let mut run_paths = Vec::new();
    let mut rpaths = Vec::new();
    let mut pie = false;
    if dynamic_segment {
        // The dynamic section and the string table it links: present in every executable a
        // linker writes (a stripped one keeps them; only section headers removed by hand lose them).
        let sections = header.sections(endian, data).map_err(invalid)?;
        let table = sections.dynamic_table(endian, data).map_err(invalid)?;
        if table.is_empty() && interpreter.is_some() {
            return Err(not_executable(path, "it has a program interpreter but no dynamic section to read"));
        }
        for entry in table.dynamics() {
            let tag = entry.tag(endian);
            if tag == elf::DT_NULL {
                break;
            }
            let string = || entry.string(endian, *table.strings()).map(text).map_err(invalid);
            match tag {
                elf::DT_NEEDED => needs.push(string()?),
                elf::DT_RUNPATH => run_paths.extend(string()?.split(':').map(str::to_owned)),
                elf::DT_RPATH => rpaths.extend(string()?.split(':').map(str::to_owned)),
                elf::DT_FLAGS_1 => pie |= entry.val(endian) & u64::from(elf::DF_1_PIE) != 0,
                _ => {}
            }
        }
    }
    if run_paths.is_empty() {
        run_paths = rpaths;
    }
    run_paths.retain(|p| !p.is_empty());

    match header.e_type(endian) {
        elf::ET_EXEC => {}
        // Position-independent executables are ET_DYN too; a shared library has no interpreter
        // (or, like libc.so.6, one but no PIE flag).
        elf::ET_DYN if pie || (interpreter.is_some() && !is_library_name(path)) => {}
        elf::ET_DYN => return Err(not_executable(path, "it is a shared library, not an executable")),
        elf::ET_REL => return Err(not_executable(path, "it is an object file (.o), not a linked executable")),
        elf::ET_CORE => return Err(not_executable(path, "it is a core dump")),
        other => return Err(not_executable(path, format!("its ELF type {other} is not an executable"))),
    }
    if header.e_entry(endian).into() == 0 {
        return Err(not_executable(path, "it has no entry point"));
    }
    let linkage = if interpreter.is_none() && needs.is_empty() { Linkage::Static } else { Linkage::Dynamic };
    if linkage == Linkage::Dynamic && interpreter.is_none() {
        return Err(not_executable(path, "it needs shared libraries but names no program interpreter (PT_INTERP)"));
    }
    Ok(NativeExecutable { architecture: architecture.to_owned(), linkage, interpreter, needs, run_paths })
}

/// `libfoo.so`, `libfoo.so.1.2`: a shared library's file name.
pub fn is_library_name(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.ends_with(".so") || name.contains(".so.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_map_to_oci_architectures() {
        assert_eq!(oci_architecture(elf::EM_X86_64, true, true), Some("amd64"));
        assert_eq!(oci_architecture(elf::EM_AARCH64, true, true), Some("arm64"));
        assert_eq!(oci_architecture(elf::EM_S390, true, false), Some("s390x"));
        assert_eq!(oci_architecture(elf::EM_X86_64, false, true), None, "x32 is no image platform");
        assert_eq!(oci_architecture(elf::EM_SPARCV9, true, false), None);
    }

    #[test]
    fn non_elf_files_are_refused_with_a_reason() {
        let path = Path::new("app");
        let error = parse_native(path, b"#!/bin/sh\necho hi\n").unwrap_err();
        assert!(error.to_string().contains("not an ELF file"), "{error}");
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(&ELF_MAGIC);
        header[4] = 2; // ELFCLASS64
        header[5] = 1; // little endian
        header[6] = 1; // EV_CURRENT
        header[16] = 1; // ET_REL
        header[18] = 62; // EM_X86_64
        let error = parse_native(path, &header).unwrap_err().to_string();
        assert!(error.contains("object file"), "{error}");
        header[7] = 9; // ELFOSABI_FREEBSD
        let error = parse_native(path, &header).unwrap_err().to_string();
        assert!(error.contains("another OS"), "{error}");
        assert!(is_library_name(Path::new("libawt.so")) && is_library_name(Path::new("libz.so.1.2.13")));
        assert!(!is_library_name(Path::new("sample-native")));
    }
}
