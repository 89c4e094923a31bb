//! Device requests (`gpu`, `gpu:N`, `pci:VVVV:DDDD`) as the device nodes the sandbox binds.
//!
//! A GPU is its vendor's nodes: NVIDIA's `/dev/nvidiaN` plus the shared control and UVM nodes,
//! and the DRM render node that AMD and Intel use (`gpu:N` takes `/dev/dri/renderD(128+N)`, the
//! kernel's numbering in probe order; never the primary `card` nodes, which allow mode setting). A PCI device is
//! reached through VFIO: the `/dev/vfio/<group>` of its IOMMU group plus `/dev/vfio/vfio`. Nodes
//! that do not exist on this machine are left out, so a grant never creates access by itself.

use std::path::{Path, PathBuf};

use qwarden_policy::manifest::DeviceRequest;

/// The existing device nodes for `request`.
pub fn nodes(request: &DeviceRequest) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    match request {
        DeviceRequest::AnyGpu => {
            out.extend(matching("/dev", |n| n.starts_with("nvidia")));
            out.extend(matching("/dev/dri", |n| {
                n.starts_with("renderD") || n.starts_with("card")
            }));
        }
        DeviceRequest::Gpu(n) => {
            out.push(format!("/dev/nvidia{n}").into());
            out.extend(
                ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"].map(PathBuf::from),
            );
            out.push(format!("/dev/dri/renderD{}", 128 + n).into());
        }
        DeviceRequest::Pci { vendor, device } => {
            for dev in matching("/sys/bus/pci/devices", |_| true) {
                let id = |f: &str| {
                    std::fs::read_to_string(dev.join(f)).ok().and_then(|s| {
                        u16::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok()
                    })
                };
                if id("vendor") == Some(*vendor)
                    && id("device") == Some(*device)
                    && let Ok(group) = std::fs::read_link(dev.join("iommu_group"))
                    && let Some(g) = group.file_name()
                {
                    out.push(Path::new("/dev/vfio").join(g));
                    out.push("/dev/vfio/vfio".into());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out.retain(|p| p.exists());
    out
}

fn matching(dir: &str, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_str().is_some_and(&keep))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}
