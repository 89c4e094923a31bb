//! The parsers of untrusted files: what they read, and that junk never makes them panic.

use crate::inventory::dist::{
    HashAlgorithm, RecordRow, is_quantum, normalize_name, parse_metadata, parse_record,
};
use crate::inventory::host::{parse_cpuinfo, parse_os_release};
use crate::inventory::pci::{DeviceKind, hex_attribute, kind_of, parse_modules};
use crate::inventory::python::parse_pyvenv_cfg;

use super::fixtures::record_hash;

#[test]
fn pep_503_normalisation() {
    for (name, normalized) in [
        ("qiskit", "qiskit"),
        ("Qiskit", "qiskit"),
        ("qiskit_ibm_runtime", "qiskit-ibm-runtime"),
        ("Qiskit.IBM__Runtime", "qiskit-ibm-runtime"),
        ("amazon-braket-sdk", "amazon-braket-sdk"),
        ("cirq--core", "cirq-core"),
        ("PyTKET", "pytket"),
        ("a-_.-b", "a-b"),
        ("", ""),
    ] {
        assert_eq!(normalize_name(name), normalized, "{name}");
    }
}

#[test]
fn quantum_packages_by_name_and_family() {
    for yes in [
        "qiskit",
        "qiskit-aer",
        "qiskit-ibm-runtime",
        "qiskit-ionq",
        "cirq",
        "cirq-core",
        "pytket",
        "pytket-quantinuum",
        "amazon-braket-sdk",
        "pennylane",
        "pennylane-lightning",
        "pyquil",
        "qsharp",
    ] {
        assert!(is_quantum(yes), "{yes}");
    }
    for no in [
        "numpy",
        "qiskitx",
        "qiskit-",
        "cirque",
        "amazon-braket",
        "boto3",
        "",
    ] {
        assert!(!is_quantum(no), "{no}");
    }
}

#[test]
fn metadata_name_and_version_from_the_header_block_only() {
    let m = parse_metadata(
        b"Metadata-Version: 2.4\r\nname: Qiskit\r\nSummary: An SDK\r\n  continued: Version: 9\r\nVERSION:  2.6.2 \r\n\r\nName: body\r\n",
    );
    assert_eq!(m.name.as_deref(), Some("Qiskit"));
    assert_eq!(m.version.as_deref(), Some("2.6.2"));
    // The first of each wins; the body after the blank line is never read.
    let m = parse_metadata(b"Name: cirq\nName: other\n\nVersion: 1.0\n");
    assert_eq!(m.name.as_deref(), Some("cirq"));
    assert_eq!(m.version, None);
    assert_eq!(parse_metadata(b"").name, None);
    assert_eq!(parse_metadata(b"Name:\nVersion:   \n").name, None);
}

#[test]
fn record_rows() {
    let hash = record_hash(b"x");
    let text = format!(
        "qiskit/__init__.py,{hash},1\n\
         \"dir, with comma/\"\"q\"\".py\",{hash},\n\
         qiskit-1.0.dist-info/RECORD,,\n\
         qiskit/__pycache__/a.pyc,,\r\n\
         \n\
         bad.py,md5=abc,3\n\
         bad2.py,sha256=!!!,3\n\
         bad3.py,sha256=AAAA,3\n\
         bad4.py,sha256,3\n\
         a,b,c,d\n\
         ,{hash},1\n\
         big.py,SHA512={},\n",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE, [7u8; 64])
    );
    let rows = parse_record(text.as_bytes());
    let digest = |r: &RecordRow| match r {
        RecordRow::Hashed { digest, .. } => digest.clone(),
        _ => panic!("{r:?}"),
    };
    assert!(matches!(
        &rows[0],
        RecordRow::Hashed { path, size: Some(1), algorithm: HashAlgorithm::Sha256, .. }
            if path == "qiskit/__init__.py"
    ));
    assert_eq!(digest(&rows[0]).len(), 32);
    assert!(matches!(
        &rows[1],
        RecordRow::Hashed { path, size: None, .. } if path == "dir, with comma/\"q\".py"
    ));
    assert_eq!(
        rows[2],
        RecordRow::Unhashed {
            path: "qiskit-1.0.dist-info/RECORD".into()
        }
    );
    assert_eq!(
        rows[3],
        RecordRow::Unhashed {
            path: "qiskit/__pycache__/a.pyc".into()
        }
    );
    let malformed: Vec<(usize, &str)> = rows[4..10]
        .iter()
        .map(|r| match r {
            RecordRow::Malformed { line, reason } => (*line, reason.as_str()),
            _ => panic!("{r:?}"),
        })
        .collect();
    assert_eq!(
        malformed,
        vec![
            (6, "the hash algorithm is not sha256, sha384 or sha512"),
            (7, "the digest is not URL-safe base64"),
            (8, "the digest has the wrong length"),
            (9, "the hash is not `algorithm=digest`"),
            (10, "more than three fields"),
            (11, "the path is empty"),
        ]
    );
    // Padded base64 and an upper-case algorithm name are accepted.
    assert!(matches!(
        &rows[10],
        RecordRow::Hashed {
            algorithm: HashAlgorithm::Sha512,
            ..
        }
    ));
    assert_eq!(rows.len(), 11);
}

#[test]
fn record_quotes_that_do_not_close_are_malformed() {
    let rows = parse_record(b"\"open,sha256=x,1\nnext,,\n");
    assert!(matches!(
        &rows[0],
        RecordRow::Malformed { line: 1, reason } if reason == "a quote is not closed"
    ));
    assert_eq!(rows.len(), 1);
    let rows = parse_record(b"\"a\"b,,\nok,,\n");
    assert!(matches!(
        &rows[0],
        RecordRow::Malformed { reason, .. } if reason == "text after a closing quote"
    ));
    assert_eq!(rows[1], RecordRow::Unhashed { path: "ok".into() });
}

#[test]
fn pyvenv_cfg_versions() {
    assert_eq!(
        parse_pyvenv_cfg(b"home = /usr/bin\nversion = 3.11.7\n").as_deref(),
        Some("3.11.7")
    );
    assert_eq!(
        parse_pyvenv_cfg(b"version_info = 3.12.1.final.0\nvirtualenv = 20.0\n").as_deref(),
        Some("3.12.1")
    );
    // uv writes both; `version` wins wherever it is.
    assert_eq!(
        parse_pyvenv_cfg(b"version_info = 3.10.2\nVersion=3.13.0rc1\n").as_deref(),
        Some("3.13.0rc1")
    );
    assert_eq!(parse_pyvenv_cfg(b"version = banana\n"), None);
    assert_eq!(parse_pyvenv_cfg(b"version = 3.11\x1b[31m\n"), None);
    assert_eq!(parse_pyvenv_cfg(b"version = \n"), None);
    assert_eq!(parse_pyvenv_cfg(b"\xff\xfe=\x00"), None);
}

#[test]
fn os_release_and_proc_files() {
    let os = parse_os_release(
        "NAME=x\nPRETTY_NAME=\"Ubuntu \\\"Noble\\\" 24.04\"\nID=ubuntu\nVERSION_ID='24.04'\n# comment\n",
    );
    assert_eq!(os.pretty_name.as_deref(), Some("Ubuntu \"Noble\" 24.04"));
    assert_eq!(os.id.as_deref(), Some("ubuntu"));
    assert_eq!(os.version_id.as_deref(), Some("24.04"));
    let cpu = parse_cpuinfo("processor : 0\nmodel name : A\nprocessor : 1\nmodel name : B\n");
    assert_eq!((cpu.model.as_deref(), cpu.count), (Some("A"), 2));
    let arm =
        parse_cpuinfo("processor : 0\nBogoMIPS : 50\nprocessor : 1\nModel : Raspberry Pi 5\n");
    assert_eq!(
        (arm.model.as_deref(), arm.count),
        (Some("Raspberry Pi 5"), 2)
    );
    assert_eq!(
        parse_modules(
            "xe 1 0 - Live 0x0\nnvidia_drm 2 0 - Live 0x0\next4 3 0 - Live\nvfio_pci 1 0\nnvidia_drm 2\n\n  \n"
        ),
        vec!["nvidia_drm", "vfio_pci", "xe"]
    );
}

#[test]
fn pci_attributes_and_kinds() {
    assert_eq!(hex_attribute("0x10DE\n").as_deref(), Some("0x10de"));
    for junk in ["", "0x", "10de", "0xzz", "0x123456789", "\u{0}"] {
        assert_eq!(hex_attribute(junk), None, "{junk:?}");
    }
    assert_eq!(
        kind_of(Some("0x10de"), Some("0x030000")),
        Some(DeviceKind::Gpu)
    );
    assert_eq!(
        kind_of(Some("0x1002"), Some("0x038000")),
        Some(DeviceKind::Gpu)
    );
    assert_eq!(
        kind_of(Some("0x8086"), Some("0x120000")),
        Some(DeviceKind::Accelerator)
    );
    // An FPGA vendor wins over the class it reports.
    assert_eq!(
        kind_of(Some("0x10ee"), Some("0x120000")),
        Some(DeviceKind::Fpga)
    );
    assert_eq!(kind_of(Some("0x1172"), None), Some(DeviceKind::Fpga));
    assert_eq!(kind_of(Some("0x8086"), Some("0x020000")), None);
    assert_eq!(kind_of(None, Some("junk")), None);
}

/// A small deterministic generator, so the junk is the same on every run.
fn junk(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly the bytes these formats care about.
            const ALPHABET: &[u8] = b",\"=\n\r:. -_/\\'abcAZ09\xff\xc3\x00";
            if x.is_multiple_of(4) {
                (x >> 8) as u8
            } else {
                ALPHABET[(x >> 16) as usize % ALPHABET.len()]
            }
        })
        .collect()
}

#[test]
fn junk_never_panics_the_parsers() {
    for seed in 0..2000u64 {
        let bytes = junk(seed, (seed % 300) as usize);
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_metadata(&bytes);
        for row in parse_record(&bytes) {
            if let RecordRow::Hashed {
                path,
                digest,
                algorithm,
                ..
            } = row
            {
                assert!(!path.is_empty());
                assert_eq!(digest.len(), algorithm.digest_len());
            }
        }
        let _ = parse_pyvenv_cfg(&bytes);
        let _ = parse_os_release(&text);
        let _ = parse_cpuinfo(&text);
        let _ = parse_modules(&text);
        let _ = hex_attribute(&text);
    }
}
