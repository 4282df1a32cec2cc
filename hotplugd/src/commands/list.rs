//! `list`: every USB device with its properties and tags.
//!
//! The text layout is `udevadm info --export-db`'s: one paragraph per device (`P:` devpath, `M:`
//! kernel name, `N:` device node, `E:` properties sorted by name, `TAGS`/`CURRENT_TAGS` as udev
//! prints them), headed by an `lsusb`-style line, a line with the device's class, subclass and
//! protocol and its interfaces' (`Class: device 00/00/00, interfaces 03/01/01, 03/00/00`, the
//! codes the class keys match), and for a device the host uses, a line saying how. `--json`
//! prints an array of objects.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use usb_discovery::{Discovery, SysfsDiscovery, UsbDevice};

use crate::explain::InterfaceReport;
use crate::Error;

/// One device in `list --json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct ListedDevice<'a> {
    bus: u16,
    device: u16,
    vendor_id: String,
    product_id: String,
    port: &'a str,
    devpath: &'a str,
    hub: bool,
    device_class: String,
    interfaces: Vec<InterfaceReport>,
    in_use_by_host: Vec<String>,
    properties: &'a BTreeMap<String, String>,
    tags: &'a BTreeSet<String>,
    current_tags: &'a BTreeSet<String>,
}

impl<'a> From<&'a UsbDevice> for ListedDevice<'a> {
    fn from(device: &'a UsbDevice) -> Self {
        ListedDevice {
            bus: device.bus,
            device: device.device,
            vendor_id: format!("{:04x}", device.vendor_id),
            product_id: format!("{:04x}", device.product_id),
            port: &device.kernel_name,
            devpath: &device.devpath,
            hub: device.is_hub(),
            device_class: format!("{:02x}", device.device_class),
            interfaces: device
                .interfaces
                .iter()
                .map(InterfaceReport::from)
                .collect(),
            in_use_by_host: device.host_use.iter().map(ToString::to_string).collect(),
            properties: &device.properties,
            tags: &device.tags,
            current_tags: &device.current_tags,
        }
    }
}

/// Prints every USB device under `root`.
pub fn run(root: &Path, json: bool) -> Result<ExitCode, Error> {
    let devices = SysfsDiscovery::new(root).scan()?;
    super::print(&if json {
        render_json(&devices)
    } else {
        render_text(&devices)
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The JSON array, with a final newline.
pub fn render_json(devices: &[UsbDevice]) -> String {
    let listed: Vec<ListedDevice<'_>> = devices.iter().map(ListedDevice::from).collect();
    // Serializing strings, numbers and maps of strings cannot fail.
    serde_json::to_string_pretty(&listed).unwrap_or_default() + "\n"
}

/// `Class: device ef/02/01, interfaces 0e/01/00, 0e/02/00` (`no interfaces` for a device that
/// is not configured).
fn class_line(device: &UsbDevice) -> String {
    let codes = format!(
        "{:02x}/{:02x}/{:02x}",
        device.device_class, device.device_subclass, device.device_protocol
    );
    let interfaces: Vec<String> = device.interfaces.iter().map(ToString::to_string).collect();
    if interfaces.is_empty() {
        format!("Class: device {codes}, no interfaces\n")
    } else {
        format!(
            "Class: device {codes}, interfaces {}\n",
            interfaces.join(", ")
        )
    }
}

/// The udevadm-like text.
pub fn render_text(devices: &[UsbDevice]) -> String {
    let mut text = String::new();
    for (index, device) in devices.iter().enumerate() {
        if index > 0 {
            text.push('\n');
        }
        let description = device.description();
        let hub = if device.is_hub() {
            " (hub, never attached)"
        } else {
            ""
        };
        text.push_str(&format!(
            "Bus {:03} Device {:03}: ID {:04x}:{:04x} {description}{hub}\n",
            device.bus, device.device, device.vendor_id, device.product_id
        ));
        text.push_str(&class_line(device));
        if device.is_in_use_by_host() {
            let uses: Vec<String> = device.host_use.iter().map(ToString::to_string).collect();
            text.push_str(&format!(
                "In use by the host (never attached): {}\n",
                uses.join("; ")
            ));
        }
        text.push_str(&format!(
            "P: {}\nM: {}\n",
            device.devpath, device.kernel_name
        ));
        if let Some(devname) = device.properties.get("DEVNAME") {
            text.push_str(&format!("N: {}\n", devname.trim_start_matches("/dev/")));
        }
        if !device.initialized {
            text.push_str("# not initialized by udev yet: kernel properties only\n");
        }
        for (name, value) in &device.properties {
            text.push_str(&format!("E: {name}={value}\n"));
        }
        for (name, tags) in [
            ("TAGS", &device.tags),
            ("CURRENT_TAGS", &device.current_tags),
        ] {
            if !tags.is_empty() {
                let joined: Vec<&str> = tags.iter().map(String::as_str).collect();
                text.push_str(&format!("E: {name}=:{}:\n", joined.join(":")));
            }
        }
    }
    text
}
