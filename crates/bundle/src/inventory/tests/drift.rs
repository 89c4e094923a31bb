//! Drift between two inventories taken of the same fake system.

use std::path::Path;

use crate::inventory::{Change, ConfigFile, Options, collect, diff};

use super::fixtures::{canon, device, install, qiskit_venv, system_root, write};

fn options(tmp: &Path) -> Options {
    Options {
        tier: "staging".into(),
        home: tmp.join("home"),
        roots: vec![tmp.join("home")],
        max_depth: 4,
        system_root: tmp.join("sys"),
        path_var: None,
    }
}

fn setup() -> (tempfile::TempDir, Options) {
    let tmp = tempfile::tempdir().unwrap();
    system_root(&tmp.path().join("sys"));
    qiskit_venv(&tmp.path().join("home/proj/.venv"));
    let opts = options(tmp.path());
    (tmp, opts)
}

#[test]
fn no_change_no_drift() {
    let (_tmp, opts) = setup();
    let (a, b) = (collect(&opts), collect(&opts));
    assert_eq!(diff(&a, &b), vec![]);
}

#[test]
fn an_sdk_upgraded_in_place() {
    let (tmp, opts) = setup();
    let before = collect(&opts);
    let venv = canon(&tmp.path().join("home/proj/.venv"));
    let site = venv.join("lib/python3.11/site-packages");
    std::fs::remove_dir_all(site.join("qiskit-1.2.0.dist-info")).unwrap();
    install(
        &site,
        "qiskit",
        "2.0.0",
        &[("qiskit/__init__.py", b"# 2.0\n")],
    );
    install(
        &site,
        "qiskit-aer",
        "0.15.0",
        &[("qiskit_aer/__init__.py", b"# aer\n")],
    );
    let after = collect(&opts);
    let env = venv.to_string_lossy().into_owned();
    assert_eq!(
        diff(&before, &after),
        vec![
            Change::SdkVersionChanged {
                env: env.clone(),
                name: "qiskit".into(),
                old: "1.2.0".into(),
                new: "2.0.0".into()
            },
            Change::SdkAdded {
                env: env.clone(),
                name: "qiskit-aer".into(),
                version: "0.15.0".into()
            },
        ]
    );
    // And back: the reverse drift.
    let back = diff(&after, &before);
    assert!(back.contains(&Change::SdkRemoved {
        env,
        name: "qiskit-aer".into(),
        version: "0.15.0".into()
    }));
}

#[test]
fn an_installed_file_modified_then_restored() {
    let (tmp, opts) = setup();
    let before = collect(&opts);
    let file = canon(
        &tmp.path()
            .join("home/proj/.venv/lib/python3.11/site-packages/qiskit/circuit.py"),
    );
    let original = std::fs::read(&file).unwrap();
    std::fs::write(&file, b"import os; os.system('curl evil')\n").unwrap();
    let after = collect(&opts);
    let changes = diff(&before, &after);
    let env = canon(&tmp.path().join("home/proj/.venv"))
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        changes,
        vec![Change::FileModified {
            env: env.clone(),
            package: "qiskit".into(),
            path: "qiskit/circuit.py".into()
        }]
    );
    assert_eq!(
        changes[0].to_string(),
        format!("installed file modified: qiskit/circuit.py (qiskit in {env})")
    );
    std::fs::write(&file, original).unwrap();
    let restored = collect(&opts);
    assert_eq!(
        diff(&after, &restored),
        vec![Change::FileRestored {
            env,
            package: "qiskit".into(),
            path: "qiskit/circuit.py".into()
        }]
    );
    assert_eq!(diff(&before, &restored), vec![]);
}

#[test]
fn kernel_devices_modules_and_config_files() {
    let (tmp, opts) = setup();
    let before = collect(&opts);
    let sys = tmp.path().join("sys");
    write(&sys.join("proc/sys/kernel/osrelease"), "6.2.0-test\n");
    write(
        &sys.join("proc/modules"),
        "nvidia 1 0 - Live 0x0\nvfio_pci 1 0 - Live 0x0\n",
    );
    let gpu = sys.join("sys/bus/pci/devices/0000:01:00.0");
    std::fs::remove_file(gpu.join("driver")).unwrap();
    device(&sys, &gpu, "0x10de", "0x2330", "0x030200", Some("vfio-pci"));
    device(
        &sys,
        &sys.join("sys/bus/pci/devices/0000:03:00.0"),
        "0x1172",
        "0x0001",
        "0x120000",
        None,
    );
    std::fs::remove_dir_all(sys.join("sys/bus/pci/devices/0000:02:00.0")).unwrap();
    write(&tmp.path().join("home/.qiskit/qiskit-ibm.json"), "{}");
    let after = collect(&opts);
    let changes: Vec<String> = diff(&before, &after)
        .iter()
        .map(ToString::to_string)
        .collect();
    let ibm = canon(&tmp.path().join("home")).join(".qiskit/qiskit-ibm.json");
    assert_eq!(
        changes,
        vec![
            "kernel.release: 6.1.0-test -> 6.2.0-test".to_owned(),
            "PCI device 0000:01:00.0: driver nvidia -> vfio-pci".to_owned(),
            "PCI device added: 0000:03:00.0 0x1172:0x0001 (fpga)".to_owned(),
            "PCI device removed: 0000:02:00.0 0x10ee:0x5000 (fpga)".to_owned(),
            "kernel module loaded: vfio_pci".to_owned(),
            "kernel module unloaded: nvidia_uvm".to_owned(),
            "kernel module unloaded: xocl".to_owned(),
            format!("provider configuration file added: {} (ibm)", ibm.display()),
        ]
    );
    let added = ConfigFile {
        provider: "ibm".into(),
        path: ibm.to_string_lossy().into_owned(),
    };
    assert!(diff(&after, &before).contains(&Change::ConfigRemoved { file: added }));
}

#[test]
fn environments_added_and_removed_carry_their_packages() {
    let (tmp, opts) = setup();
    let before = collect(&opts);
    let venv = canon(&tmp.path().join("home/proj/.venv"));
    std::fs::remove_dir_all(&venv).unwrap();
    let after = collect(&opts);
    let env = venv.to_string_lossy().into_owned();
    assert_eq!(
        diff(&before, &after),
        vec![
            Change::EnvRemoved {
                kind: crate::inventory::EnvKind::Venv,
                path: env.clone()
            },
            Change::SdkRemoved {
                env,
                name: "qiskit".into(),
                version: "1.2.0".into()
            },
        ]
    );
}

#[test]
fn control_characters_are_escaped_for_people() {
    let change = Change::FileModified {
        env: "/v".into(),
        package: "qiskit".into(),
        path: "evil\u{1b}[2J.py".into(),
    };
    assert_eq!(
        change.to_string(),
        "installed file modified: evil\\u{1b}[2J.py (qiskit in /v)"
    );
}
