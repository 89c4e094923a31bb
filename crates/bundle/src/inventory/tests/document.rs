//! The document: its shape, canonical form, digest, atomic write and strict read; and that a
//! provider configuration file's content never reaches it.

use sha2::{Digest as _, Sha256};

use crate::inventory::{
    DeviceKind, EnvKind, FORMAT, Inventory, InventoryError, Options, collect, parse, read,
};

use super::fixtures::{canon, qiskit_venv, system_root, write};

fn setup() -> (tempfile::TempDir, Options) {
    let tmp = tempfile::tempdir().unwrap();
    system_root(&tmp.path().join("sys"));
    qiskit_venv(&tmp.path().join("home/proj/.venv"));
    let opts = Options {
        tier: "prod".into(),
        home: tmp.path().join("home"),
        roots: vec![tmp.path().join("home")],
        max_depth: 4,
        system_root: tmp.path().join("sys"),
        path_var: None,
    };
    (tmp, opts)
}

#[test]
fn what_a_fake_system_gives() {
    let (tmp, opts) = setup();
    let inv = collect(&opts);
    assert_eq!(inv.format, FORMAT);
    assert_eq!(inv.tier, "prod");
    assert_eq!(inv.hostname.as_deref(), Some("qpu-ws-1"));
    assert_eq!(inv.os.id.as_deref(), Some("debian"));
    assert_eq!(inv.kernel.release.as_deref(), Some("6.1.0-test"));
    assert_eq!(
        inv.kernel.version.as_deref(),
        Some("#1 SMP PREEMPT_DYNAMIC Debian 6.1.0")
    );
    assert_eq!(
        (inv.cpu.model.as_deref(), inv.cpu.count),
        (Some("Test CPU @ 3GHz"), 2)
    );
    let devices: Vec<_> = inv
        .pci_devices
        .iter()
        .map(|d| {
            (
                d.address.as_str(),
                d.vendor.as_deref(),
                d.driver.as_deref(),
                d.kind,
            )
        })
        .collect();
    assert_eq!(
        devices,
        vec![
            (
                "0000:01:00.0",
                Some("0x10de"),
                Some("nvidia"),
                Some(DeviceKind::Gpu)
            ),
            ("0000:02:00.0", Some("0x10ee"), None, Some(DeviceKind::Fpga)),
        ]
    );
    assert_eq!(inv.kernel_modules, vec!["nvidia", "nvidia_uvm", "xocl"]);
    assert_eq!(inv.python_environments.len(), 1);
    let env = &inv.python_environments[0];
    assert_eq!(env.kind, EnvKind::Venv);
    assert_eq!(
        env.path,
        canon(&tmp.path().join("home/proj/.venv")).to_string_lossy()
    );
    assert_eq!(
        inv.search.roots,
        vec![canon(&tmp.path().join("home")).to_string_lossy()]
    );
    assert!(!inv.search.truncated);
}

#[test]
fn canonical_json_and_digest_are_stable() {
    let (tmp, opts) = setup();
    let (a, b) = (collect(&opts), collect(&opts));
    let bytes = a.canonical_json().unwrap();
    assert_eq!(bytes, b.canonical_json().unwrap());
    assert_eq!(a.digest().unwrap(), hex::encode(Sha256::digest(&bytes)));
    // RFC 8785: sorted keys, no whitespace.
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.starts_with("{\"cpu\":{\"count\":2,\"model\":\"Test CPU @ 3GHz\"},\"format\":"),
        "{text}"
    );
    assert!(!text.contains('\n'));
    // Written atomically, read back the same; the file is exactly the canonical bytes.
    let out = tmp.path().join("out/inv.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let digest = a.write(&out).unwrap();
    assert_eq!(digest, a.digest().unwrap());
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    assert_eq!(read(&out).unwrap(), a);
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    // Pretty-printed JSON (`--json`) reads back to the same inventory and digest.
    let pretty = serde_json::to_vec_pretty(&a).unwrap();
    let again = parse(&pretty, &out).unwrap();
    assert_eq!(again.digest().unwrap(), digest);
    // A change anywhere changes the digest.
    let mut c = a.clone();
    c.python_environments[0].quantum_packages[0].version = "1.2.1".into();
    assert_ne!(c.digest().unwrap(), digest);
}

#[test]
fn provider_config_files_are_listed_by_path_only() {
    let (tmp, opts) = setup();
    let key = "QWARDENFAKEKEY0123456789abcdefQWARDENFAKEKEY";
    let home = tmp.path().join("home");
    write(
        &home.join(".qiskit/qiskit-ibm.json"),
        format!("{{\"default\":{{\"token\":\"{key}\"}}}}"),
    );
    write(
        &home.join(".aws/credentials"),
        format!("[default]\naws_secret_access_key = {key}\n"),
    );
    write(&home.join(".qnx/auth/tokens.json"), key);
    write(&home.join(".qnx/auth/notes.txt"), key);
    write(&home.join(".ionq_api_key"), key);
    write(&home.join(".env"), format!("IONQ_API_KEY={key}\n"));
    let inv = collect(&opts);
    let home = canon(&home);
    let files: Vec<(String, String)> = inv
        .provider_config_files
        .iter()
        .map(|f| (f.provider.clone(), f.path.clone()))
        .collect();
    let at = |p: &str| home.join(p).to_string_lossy().into_owned();
    assert_eq!(
        files,
        vec![
            ("any".into(), at(".env")),
            ("aws".into(), at(".aws/credentials")),
            ("ibm".into(), at(".qiskit/qiskit-ibm.json")),
            ("ionq".into(), at(".ionq_api_key")),
            ("quantinuum".into(), at(".qnx/auth/tokens.json")),
        ]
    );
    let text = String::from_utf8(inv.canonical_json().unwrap()).unwrap();
    assert!(!text.contains(key));
    assert!(!text.contains("QWARDENFAKEKEY"));
}

#[test]
fn reading_refuses_what_is_not_an_inventory() {
    let (tmp, opts) = setup();
    let inv = collect(&opts);
    let path = tmp.path().join("x.json");
    let reason = |bytes: &[u8]| match parse(bytes, &path) {
        Err(InventoryError::Invalid { reason, .. }) => reason,
        other => panic!("{other:?}"),
    };
    assert!(reason(b"{\"format\": ").starts_with("line 1, column 11: "));
    assert_eq!(reason(b"[]"), "it has no `format` field");
    assert_eq!(
        reason(b"{\"format\":\"qwarden-inventory/v9\"}"),
        "its format is `qwarden-inventory/v9`, and this version reads `qwarden-inventory/v1`"
    );
    let mut value = serde_json::to_value(&inv).unwrap();
    value["surprise"] = serde_json::json!(1);
    assert!(reason(&serde_json::to_vec(&value).unwrap()).contains("unknown field `surprise`"));
    let mut value = serde_json::to_value(&inv).unwrap();
    value["cpu"]["count"] = serde_json::json!("two");
    assert!(reason(&serde_json::to_vec(&value).unwrap()).contains("invalid type"));
    assert!(matches!(
        read(&tmp.path().join("absent.json")),
        Err(InventoryError::Io { .. })
    ));
    let message = parse(b"[]", &path).unwrap_err().to_string();
    assert!(
        message.contains("hint: make one with `qwarden inventory --write FILE`"),
        "{message}"
    );
}

#[test]
fn a_missing_system_gives_nulls_not_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let inv: Inventory = collect(&Options {
        tier: "sandbox".into(),
        home: tmp.path().join("no-home"),
        roots: vec![tmp.path().join("no-root")],
        max_depth: 4,
        system_root: tmp.path().join("no-sys"),
        path_var: None,
    });
    assert_eq!(inv.hostname, None);
    assert_eq!(inv.cpu.count, 0);
    assert!(inv.pci_devices.is_empty() && inv.python_environments.is_empty());
    assert!(inv.digest().is_ok());
}
