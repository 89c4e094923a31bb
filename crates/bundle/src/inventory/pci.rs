//! PCI devices (`/sys/bus/pci/devices/*`) and the vendor kernel modules loaded
//! (`/proc/modules`).
//!
//! A device's `kind` flags what matters for quantum work: `fpga` for the FPGA vendors in
//! [`FPGA_VENDORS`] (Xilinx/AMD `0x10ee`, Altera/Intel `0x1172`, Lattice `0x1204`), whatever
//! class they report; `gpu` for display controllers (class `0x03xxxx`); `accelerator` for
//! processing accelerators (class `0x12xxxx`: NPUs, Gaudi, QPU control cards).
//!
//! The vendor modules are those of GPU, FPGA, accelerator and device pass-through drivers, by
//! exact name ([`VENDOR_MODULES`]) or prefix ([`VENDOR_MODULE_PREFIXES`]): NVIDIA (`nvidia*`,
//! `nouveau`, `gdrdrv`), AMD (`amdgpu`, `radeon`, `amdxdna`), Intel (`i915`, `xe`, `ivpu`,
//! `intel_fpga*`), Xilinx/AMD FPGA cards (`xocl`, `xclmgmt`, `xdma`, `qdma*`), Intel FPGA cards
//! (`dfl*`, `fpga_*`), Habana (`habanalabs`), and what user-space drivers of control electronics
//! use: `vfio*` and `uio*`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Follow, read_limited};

/// PCI vendor ids of FPGA makers.
pub const FPGA_VENDORS: &[&str] = &["0x10ee", "0x1172", "0x1204"];

/// Vendor kernel modules, by exact name.
pub const VENDOR_MODULES: &[&str] = &[
    "nouveau",
    "gdrdrv",
    "amdgpu",
    "radeon",
    "amdxdna",
    "i915",
    "xe",
    "ivpu",
    "xocl",
    "xclmgmt",
    "xdma",
    "habanalabs",
];

/// Vendor kernel modules, by prefix.
pub const VENDOR_MODULE_PREFIXES: &[&str] = &[
    "nvidia",
    "intel_fpga",
    "qdma",
    "dfl",
    "fpga_",
    "vfio",
    "uio",
];

/// What a device is, where it matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// A display controller (class `0x03xxxx`).
    Gpu,
    /// A card from an FPGA vendor.
    Fpga,
    /// A processing accelerator (class `0x12xxxx`).
    Accelerator,
}

impl DeviceKind {
    /// `gpu`, `fpga` or `accelerator`, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Gpu => "gpu",
            DeviceKind::Fpga => "fpga",
            DeviceKind::Accelerator => "accelerator",
        }
    }
}

/// A PCI device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PciDevice {
    /// Its address (`0000:01:00.0`).
    pub address: String,
    /// The vendor id (`0x10de`).
    pub vendor: Option<String>,
    /// The device id (`0x2330`).
    pub device: Option<String>,
    /// The class code (`0x030200`).
    pub class: Option<String>,
    /// The driver bound to it (the `driver` link's name), if any.
    pub driver: Option<String>,
    /// What it is, where it matters.
    pub kind: Option<DeviceKind>,
}

/// A sysfs hex attribute (`0x10DE\n`) as lower-case `0x…`, if it is one.
pub fn hex_attribute(text: &str) -> Option<String> {
    let t = text.trim().to_ascii_lowercase();
    let digits = t.strip_prefix("0x")?;
    (!digits.is_empty() && digits.len() <= 8 && digits.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(t)
}

/// The kind of a device with this vendor id and class code.
pub fn kind_of(vendor: Option<&str>, class: Option<&str>) -> Option<DeviceKind> {
    if vendor.is_some_and(|v| FPGA_VENDORS.contains(&v)) {
        return Some(DeviceKind::Fpga);
    }
    let class = u32::from_str_radix(class?.strip_prefix("0x")?, 16).ok()?;
    match class >> 16 {
        0x03 => Some(DeviceKind::Gpu),
        0x12 => Some(DeviceKind::Accelerator),
        _ => None,
    }
}

/// The devices under `devices_dir` (`/sys/bus/pci/devices`), by address.
pub fn devices(devices_dir: &Path) -> Vec<PciDevice> {
    let Ok(entries) = std::fs::read_dir(devices_dir) else {
        return Vec::new();
    };
    let mut devices: Vec<PciDevice> = entries
        .flatten()
        .filter_map(|entry| {
            let address = entry.file_name().into_string().ok()?;
            let dir = entry.path();
            let attribute = |name: &str| {
                read_limited(&dir.join(name), 64, Follow::Yes)
                    .and_then(|b| hex_attribute(&String::from_utf8_lossy(&b)))
            };
            let vendor = attribute("vendor");
            let class = attribute("class");
            let driver = std::fs::read_link(dir.join("driver"))
                .ok()
                .and_then(|l| Some(l.file_name()?.to_string_lossy().into_owned()));
            Some(PciDevice {
                address,
                kind: kind_of(vendor.as_deref(), class.as_deref()),
                device: attribute("device"),
                vendor,
                class,
                driver,
            })
        })
        .collect();
    devices.sort_by(|a, b| a.address.cmp(&b.address));
    devices
}

/// Whether a module is one of the vendor modules.
pub fn is_vendor_module(name: &str) -> bool {
    VENDOR_MODULES.contains(&name) || VENDOR_MODULE_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The vendor modules in `/proc/modules` text (the first field of each line), sorted, once each.
pub fn parse_modules(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| is_vendor_module(n))
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}
