//! `list`: every USB device with its properties and tags.
//!
//! The text layout is `udevadm info --export-db`'s: one paragraph per device (`P:` devpath, `M:`
//! kernel name, `N:` device node, `E:` properties sorted by name, `TAGS`/`CURRENT_TAGS` as udev
//! prints them), headed by an `lsusb`-style line. `--json` prints an array of objects.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use usb_discovery::{Discovery, SysfsDiscovery, UsbDevice};

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
            properties: &device.properties,
            tags: &device.tags,
            current_tags: &device.current_tags,
        }
    }
}

/// Prints every USB device under `root`.
pub fn run(root: &Path, json: bool) -> Result<ExitCode, Error> {
    let devices = SysfsDiscovery::new(root).scan()?;
    let mut out = std::io::stdout().lock();
    let text = if json {
        render_json(&devices)
    } else {
        render_text(&devices)
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Output)?;
    Ok(ExitCode::SUCCESS)
}

/// The JSON array, with a final newline.
pub fn render_json(devices: &[UsbDevice]) -> String {
    let listed: Vec<ListedDevice<'_>> = devices.iter().map(ListedDevice::from).collect();
    // Serializing strings, numbers and maps of strings cannot fail.
    serde_json::to_string_pretty(&listed).unwrap_or_default() + "\n"
}

/// The device's manufacturer and product strings, trimmed, as `lsusb` shows them.
pub fn description(device: &UsbDevice) -> String {
    [device.manufacturer.as_deref(), device.product.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The udevadm-like text.
pub fn render_text(devices: &[UsbDevice]) -> String {
    let mut text = String::new();
    for (index, device) in devices.iter().enumerate() {
        if index > 0 {
            text.push('\n');
        }
        let description = description(device);
        let hub = if device.is_hub() {
            " (hub, never attached)"
        } else {
            ""
        };
        text.push_str(&format!(
            "Bus {:03} Device {:03}: ID {:04x}:{:04x} {description}{hub}\n",
            device.bus, device.device, device.vendor_id, device.product_id
        ));
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
