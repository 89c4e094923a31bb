//! Builders of fake environments and a fake system root.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// Writes `bytes` to `path`, making its parents.
pub fn write(path: &Path, bytes: impl AsRef<[u8]>) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

/// The `RECORD` hash field of `bytes`.
pub fn record_hash(bytes: &[u8]) -> String {
    format!(
        "sha256={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
    )
}

/// A `RECORD` line for `path` holding `bytes`.
pub fn record_line(path: &str, bytes: &[u8]) -> String {
    format!("{path},{},{}\n", record_hash(bytes), bytes.len())
}

/// Installs a distribution into `site`: its files, a `METADATA`, and a `RECORD` listing the
/// files with their hashes, the `METADATA` with its hash and itself without one. Returns the
/// `.dist-info` directory.
pub fn install(site: &Path, name: &str, version: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let escaped = name.replace('-', "_");
    let dist_info = site.join(format!("{escaped}-{version}.dist-info"));
    let metadata = format!(
        "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nA long description.\nName: not-this\n"
    );
    write(&dist_info.join("METADATA"), &metadata);
    let mut record = String::new();
    for (path, bytes) in files {
        write(&site.join(path), bytes);
        record.push_str(&record_line(path, bytes));
    }
    let rel = format!("{escaped}-{version}.dist-info");
    record.push_str(&record_line(
        &format!("{rel}/METADATA"),
        metadata.as_bytes(),
    ));
    record.push_str(&format!("{rel}/RECORD,,\n"));
    write(&dist_info.join("RECORD"), record);
    dist_info
}

/// A venv at `dir` with Python `version`, returning its site-packages.
pub fn venv(dir: &Path, version: &str) -> PathBuf {
    write(
        &dir.join("pyvenv.cfg"),
        format!("home = /usr/bin\ninclude-system-site-packages = false\nversion = {version}\n"),
    );
    let (major_minor, _) = version.rsplit_once('.').unwrap();
    let site = dir.join(format!("lib/python{major_minor}/site-packages"));
    std::fs::create_dir_all(&site).unwrap();
    site
}

/// A venv at `dir` with qiskit 1.2.0 installed (two modules and a console script).
pub fn qiskit_venv(dir: &Path) -> PathBuf {
    let site = venv(dir, "3.11.7");
    install(
        &site,
        "qiskit",
        "1.2.0",
        &[
            (
                "qiskit/__init__.py",
                b"from qiskit.circuit import QuantumCircuit\n",
            ),
            ("qiskit/circuit.py", b"class QuantumCircuit: ...\n"),
            ("../../../bin/qiskit-tool", b"#!/usr/bin/env python\n"),
        ],
    );
    install(
        &site,
        "numpy",
        "2.0.0",
        &[("numpy/__init__.py", b"# numpy\n")],
    );
    site
}

/// A fake `/`: kernel, host, CPU, modules, os-release and two PCI devices.
pub fn system_root(root: &Path) {
    write(&root.join("proc/sys/kernel/osrelease"), "6.1.0-test\n");
    write(
        &root.join("proc/sys/kernel/version"),
        "#1 SMP PREEMPT_DYNAMIC Debian 6.1.0\n",
    );
    write(&root.join("proc/sys/kernel/hostname"), "qpu-ws-1\n");
    write(
        &root.join("proc/cpuinfo"),
        "processor\t: 0\nmodel name\t: Test CPU @ 3GHz\n\nprocessor\t: 1\nmodel name\t: Test CPU @ 3GHz\n",
    );
    write(
        &root.join("proc/modules"),
        "nvidia_uvm 1433600 0 - Live 0x0\nnvidia 56807424 1 nvidia_uvm, Live 0x0\next4 1 0 - Live 0x0\nxocl 1 0 - Live 0x0\n",
    );
    write(
        &root.join("usr/lib/os-release"),
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
    );
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::os::unix::fs::symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
    let pci = root.join("sys/bus/pci/devices");
    device(
        root,
        &pci.join("0000:01:00.0"),
        "0x10de",
        "0x2330",
        "0x030200",
        Some("nvidia"),
    );
    device(
        root,
        &pci.join("0000:02:00.0"),
        "0x10ee",
        "0x5000",
        "0x120000",
        None,
    );
}

/// A PCI device directory, with a `driver` link when bound.
pub fn device(
    root: &Path,
    dir: &Path,
    vendor: &str,
    device: &str,
    class: &str,
    driver: Option<&str>,
) {
    write(&dir.join("vendor"), format!("{vendor}\n"));
    write(&dir.join("device"), format!("{device}\n"));
    write(&dir.join("class"), format!("{class}\n"));
    if let Some(d) = driver {
        let target = root.join("sys/bus/pci/drivers").join(d);
        std::fs::create_dir_all(&target).unwrap();
        std::os::unix::fs::symlink(&target, dir.join("driver")).unwrap();
    }
}

/// Canonical `path`.
pub fn canon(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap()
}
