//! Helpers of the `explain` scenario tests (`explain_placement.rs`, `explain_matching.rs`): a
//! [`Scenario`] is a host (a fixture root), a configuration folder and a libvirt test-driver node
//! file, on which the built binary runs `explain`; the other helpers write its domains and devices
//! and pick out of the JSON report the fields a user reads.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use fixtures::{FixtureTree, UsbDeviceBuilder};
use serde_json::{json, Value};
use tempfile::TempDir;

use super::BINARY;

/// The fields `explain --json` gives every device, as the issue lists them.
const DEVICE_FIELDS: [&str; 9] = [
    "bus",
    "device",
    "vendor-id",
    "product-id",
    "port",
    "hub",
    "matches",
    "assigned",
    "reasons",
];
/// The fields of a machine's hostdev: the issue's, and `stale`.
const HOSTDEV_FIELDS: [&str; 7] = [
    "bus",
    "device",
    "vendor-id",
    "product-id",
    "alias",
    "owned",
    "stale",
];
/// The fields of an action.
const ACTION_FIELDS: [&str; 6] = [
    "action",
    "machine",
    "bus",
    "device",
    "vendor-id",
    "product-id",
];

/// A host (a fixture root), a configuration folder and a libvirt test-driver node file.
pub struct Scenario {
    tree: FixtureTree,
    dir: TempDir,
}

impl Scenario {
    /// `config` is the main file, `domains` the `<domain>` elements of the node file.
    pub fn new(config: &str, domains: &[String]) -> Scenario {
        let scenario = Scenario {
            tree: FixtureTree::new().expect("fixture tree"),
            dir: tempfile::tempdir().expect("temp dir"),
        };
        fs::write(scenario.config(), config).expect("config written");
        let node = format!("<node>\n{}</node>\n", domains.concat());
        fs::write(scenario.node(), node).expect("node file written");
        scenario
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.yml")
    }

    fn node(&self) -> PathBuf {
        self.dir.path().join("node.xml")
    }

    /// Plugs `device` into the host.
    pub fn plug(&self, device: UsbDeviceBuilder) -> &Self {
        self.tree.add(&device.build()).expect("device written");
        self
    }

    /// Writes `machines.d/<machine>.yml`.
    pub fn machine_file(&self, machine: &str, text: &str) {
        let folder = self.dir.path().join("machines.d");
        fs::create_dir_all(&folder).expect("machines.d");
        fs::write(folder.join(format!("{machine}.yml")), text).expect("machine file written");
    }

    /// Runs `explain` (with `--json` when `json`), which must succeed.
    fn explain(&self, json: bool) -> Output {
        let mut command = Command::new(BINARY);
        command
            .env_remove("WHAWTY_LIBVIRT_USB_HOTPLUGD_DEBUG")
            .env_remove("JOURNAL_STREAM")
            .arg("--root")
            .arg(self.tree.root())
            .arg("--libvirt-uri")
            .arg(format!("test://{}", self.node().display()))
            .arg("explain")
            .arg(self.config());
        if json {
            command.arg("--json");
        }
        let output = command.output().expect("the binary runs");
        assert_eq!(
            output.status.code(),
            Some(0),
            "stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// The report of `explain --json`.
    pub fn explain_json(&self) -> Value {
        serde_json::from_slice(&self.explain(true).stdout).expect("explain --json prints JSON")
    }

    /// The report of `explain`, as text.
    pub fn explain_text(&self) -> String {
        String::from_utf8(self.explain(false).stdout).expect("utf-8 output")
    }
}

/// The report of `explain --json` on a host with `devices` plugged, `config` as the main file,
/// and `domains` in the node file.
pub fn explain_json<const N: usize>(
    config: &str,
    domains: &[String],
    devices: [UsbDeviceBuilder; N],
) -> Value {
    let scenario = Scenario::new(config, domains);
    for device in devices {
        scenario.plug(device);
    }
    scenario.explain_json()
}

/// A running domain with the given hostdevs.
pub fn running(name: &str, hostdevs: &[String]) -> String {
    format!(
        "<domain type='test'><name>{name}</name><memory unit='MiB'>64</memory>\
         <os><type>hvm</type></os><devices>{}</devices></domain>\n",
        hostdevs.concat()
    )
}

/// A shut-off domain (test driver run state 5) with the given hostdevs in its definition.
pub fn shut_off(name: &str, hostdevs: &[String]) -> String {
    format!(
        "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>\
         <name>{name}</name><memory unit='MiB'>64</memory><os><type>hvm</type></os>\
         <devices>{}</devices><test:runstate>5</test:runstate></domain>\n",
        hostdevs.concat()
    )
}

/// A USB hostdev whose source names `ids` (vendor, product) and `address` (bus, device) when
/// given, with `alias` when given.
pub fn hostdev(
    ids: Option<(u16, u16)>,
    address: Option<(u16, u16)>,
    alias: Option<&str>,
) -> String {
    let mut source = String::new();
    if let Some((vendor, product)) = ids {
        source += &format!("<vendor id='{vendor:#06x}'/><product id='{product:#06x}'/>");
    }
    if let Some((bus, device)) = address {
        source += &format!("<address bus='{bus}' device='{device}'/>");
    }
    let alias = alias.map_or(String::new(), |name| format!("<alias name='{name}'/>"));
    format!("<hostdev mode='subsystem' type='usb' managed='yes'><source>{source}</source>{alias}</hostdev>")
}

/// The hostdev the daemon attaches for the device `ids` (vendor, product) at `address` (bus,
/// device): both in its source, and its alias `ua-hotplugd-BUS-DEVICE-VENDOR-PRODUCT`.
pub fn owned_hostdev(ids: (u16, u16), address: (u16, u16)) -> String {
    let ((vendor, product), (bus, device)) = (ids, address);
    let alias = format!("ua-hotplugd-{bus}-{device}-{vendor:04x}-{product:04x}");
    hostdev(Some(ids), Some(address), Some(&alias))
}

/// A YubiKey (1050:0407).
pub fn yubikey(port: &str, device: u16) -> UsbDeviceBuilder {
    UsbDeviceBuilder::new(port, device)
        .ids(0x1050, 0x0407)
        .manufacturer("Yubico")
        .product("YubiKey OTP+FIDO+CCID")
}

/// `keys` of `object`, each of which must be there (a missing field is not a null one).
fn pick(object: &Value, keys: &[&str]) -> Value {
    let map = object
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {object}"));
    let picked = keys.iter().map(|&key| {
        let value = map
            .get(key)
            .unwrap_or_else(|| panic!("no {key:?} in {object}"));
        (key.to_owned(), value.clone())
    });
    Value::Object(picked.collect())
}

/// The device at `port`.
pub fn device<'a>(report: &'a Value, port: &str) -> &'a Value {
    report["devices"]
        .as_array()
        .expect("devices is an array")
        .iter()
        .find(|device| device["port"] == port)
        .unwrap_or_else(|| panic!("no device at port {port} in {report:#}"))
}

/// The fields of the device at `port`.
pub fn device_fields(report: &Value, port: &str) -> Value {
    pick(device(report, port), &DEVICE_FIELDS)
}

/// Every machine with its name, state and hostdevs, in report order.
pub fn machines(report: &Value) -> Value {
    let machines = report["machines"].as_array().expect("machines is an array");
    Value::Array(
        machines
            .iter()
            .map(|machine| {
                let hostdevs = machine["hostdevs"]
                    .as_array()
                    .expect("hostdevs is an array");
                json!({
                    "name": machine["name"],
                    "running": machine["running"],
                    "hostdevs": hostdevs
                        .iter()
                        .map(|hostdev| pick(hostdev, &HOSTDEV_FIELDS))
                        .collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// Every action with the fields, in report order.
pub fn actions(report: &Value) -> Value {
    let actions = report["actions"].as_array().expect("actions is an array");
    Value::Array(
        actions
            .iter()
            .map(|action| pick(action, &ACTION_FIELDS))
            .collect(),
    )
}

/// Asserts that the report's actions, with the fields, are `expected`, in order.
#[track_caller]
pub fn assert_actions(report: &Value, expected: &[Value]) {
    assert_eq!(actions(report), Value::Array(expected.to_vec()));
}

/// An action as `explain --json` lists it: `verb` (`attach`, `detach`) the device `ids` (vendor,
/// product, in hex as the report writes them) at `address` (bus, device) to or from `machine`.
pub fn action(verb: &str, machine: &str, address: (u16, u16), ids: (&str, &str)) -> Value {
    json!({"action": verb, "machine": machine, "bus": address.0, "device": address.1,
           "vendor-id": ids.0, "product-id": ids.1})
}
