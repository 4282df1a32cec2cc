//! Hostdev XML for libvirt, and the USB hostdevs of a domain's XML, both with quick-xml.

use std::borrow::Cow;

use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, Writer};

use crate::{Error, HostdevSpec, ObservedHostdev};

/// The `startupPolicy` of a USB hostdev's source: what libvirt does when the device is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StartupPolicy {
    /// Attach anyway, marked `missing='yes'` (what the daemon uses: a device may vanish at any time).
    #[default]
    Optional,
    /// Fail the attach (and the start of the domain).
    Mandatory,
    /// Fail the start of the domain, drop it on restore or migration.
    Requisite,
}

impl StartupPolicy {
    /// The attribute value: `optional`, `mandatory` or `requisite`.
    pub fn as_str(self) -> &'static str {
        match self {
            StartupPolicy::Optional => "optional",
            StartupPolicy::Mandatory => "mandatory",
            StartupPolicy::Requisite => "requisite",
        }
    }
}

/// The `<hostdev>` element the daemon attaches for `spec`: vendor, product and host address in the
/// source, `managed='yes'`, `startupPolicy='optional'` and the owned alias.
///
/// The same XML detaches it: libvirt finds the hostdev to detach by its source (by bus and device
/// when both are given) and ignores the alias.
///
/// ```
/// use libvirt_sync::{hostdev_xml, HostdevSpec};
///
/// let xml = hostdev_xml(&HostdevSpec { bus: 3, device: 5, vendor_id: 0x046d, product_id: 0x0825 });
/// assert!(xml.contains(r#"<address bus="3" device="5"/>"#));
/// assert!(xml.contains(r#"<alias name="ua-hotplugd-3-5-046d-0825"/>"#));
/// ```
pub fn hostdev_xml(spec: &HostdevSpec) -> String {
    hostdev_xml_with_policy(spec, StartupPolicy::Optional)
}

/// As [`hostdev_xml`], with another startup policy.
pub fn hostdev_xml_with_policy(spec: &HostdevSpec, policy: StartupPolicy) -> String {
    let vendor = format!("0x{:04x}", spec.vendor_id);
    let product = format!("0x{:04x}", spec.product_id);
    let bus = spec.bus.to_string();
    let device = spec.device.to_string();
    let alias = spec.alias();
    let mut writer = Writer::new(Vec::new());
    let written = writer
        .create_element("hostdev")
        .with_attributes([("mode", "subsystem"), ("type", "usb"), ("managed", "yes")])
        .write_inner_content(|writer| {
            writer
                .create_element("source")
                .with_attribute(("startupPolicy", policy.as_str()))
                .write_inner_content(|writer| {
                    writer
                        .create_element("vendor")
                        .with_attribute(("id", vendor.as_str()))
                        .write_empty()?;
                    writer
                        .create_element("product")
                        .with_attribute(("id", product.as_str()))
                        .write_empty()?;
                    writer
                        .create_element("address")
                        .with_attributes([("bus", bus.as_str()), ("device", device.as_str())])
                        .write_empty()?;
                    Ok(())
                })?;
            writer
                .create_element("alias")
                .with_attribute(("name", alias.as_str()))
                .write_empty()?;
            Ok(())
        });
    // Writing to a Vec cannot fail, and every value written is ASCII.
    written.expect("writing XML to a Vec<u8> cannot fail");
    String::from_utf8_lossy(&writer.into_inner()).into_owned()
}

/// The USB hostdevs (`<hostdev mode='subsystem' type='usb'>` under `<domain><devices>`) of the XML
/// of `domain`, in document order.
///
/// Each hostdev is returned with whatever could be read of it: a missing or unreadable `<vendor>`,
/// `<product>`, `<address>` or `<alias>` leaves that field `None`. Numbers are read as libvirt reads
/// them (C `strtoul` with base 0: `0x2a` hex, `052` octal, `42` decimal); one that does not fit in
/// 16 bits counts as unreadable. Other hostdevs (PCI, SCSI, …) are ignored. Only XML that is not
/// well-formed (as far as quick-xml checks: tags, nesting, and the attributes of the elements read
/// here), or whose root is not `<domain>`, is an error ([`Error::DomainXml`]).
///
/// ```
/// use libvirt_sync::parse_usb_hostdevs;
///
/// let xml = "<domain><devices><hostdev mode='subsystem' type='usb'><source>\
///            <vendor id='0x046d'/></source></hostdev></devices></domain>";
/// let hostdevs = parse_usb_hostdevs("webcam-test", xml).unwrap();
/// assert_eq!(hostdevs[0].vendor_id, Some(0x046d));
/// assert_eq!(hostdevs[0].product_id, None);
/// ```
pub fn parse_usb_hostdevs(domain: &str, xml: &str) -> Result<Vec<ObservedHostdev>, Error> {
    let malformed = |position: u64, message: String| Error::DomainXml {
        domain: domain.to_string(),
        position,
        message,
    };
    let mut reader = Reader::from_str(xml);
    let mut open: Vec<Node> = Vec::new();
    let mut seen_root = false;
    let mut hostdevs = Vec::new();
    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|error| malformed(reader.error_position(), error.to_string()))?;
        match event {
            Event::Start(element) | Event::Empty(element) if open.is_empty() && seen_root => {
                return Err(malformed(
                    position,
                    format!("a second root element <{}>", element_name(&element)),
                ));
            }
            Event::Start(element) => {
                seen_root = true;
                let node = open_element(&element, open.last().copied(), &mut hostdevs)
                    .map_err(|message| malformed(position, message))?;
                open.push(node);
            }
            Event::Empty(element) => {
                seen_root = true;
                open_element(&element, open.last().copied(), &mut hostdevs)
                    .map_err(|message| malformed(position, message))?;
            }
            Event::End(_) => {
                open.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(malformed(0, "no root element".to_string()));
    }
    if !open.is_empty() {
        let position = reader.buffer_position();
        return Err(malformed(
            position,
            "unexpected end of the document".to_string(),
        ));
    }
    Ok(hostdevs)
}

/// Where an open element sits, as far as hostdevs are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    /// `<domain>`, the root.
    Domain,
    /// `<domain><devices>`.
    Devices,
    /// A USB hostdev; its data goes into the last element of the hostdev list.
    UsbHostdev,
    /// The `<source>` of a USB hostdev.
    UsbSource,
    /// Anything else (including other kinds of hostdevs).
    Other,
}

/// Reads the element just opened under `parent` (`None` for the root) into the last hostdev
/// where it belongs, and says what it is. Fails on malformed attributes or a root other than
/// `<domain>`.
fn open_element(
    element: &BytesStart<'_>,
    parent: Option<Node>,
    hostdevs: &mut Vec<ObservedHostdev>,
) -> Result<Node, String> {
    let name = element.name();
    let name = name.as_ref();
    let node = match (parent, name) {
        (None, b"domain") => Node::Domain,
        (None, _) => {
            return Err(format!(
                "the root element is <{}>, not <domain>",
                element_name(element)
            ));
        }
        (Some(Node::Domain), b"devices") => Node::Devices,
        (Some(Node::Devices), b"hostdev") => {
            let mode = attribute(element, b"mode")?;
            let kind = attribute(element, b"type")?;
            // libvirt defaults the mode to "subsystem".
            let subsystem = mode.as_deref().is_none_or(|mode| mode == "subsystem");
            if subsystem && kind.as_deref() == Some("usb") {
                hostdevs.push(ObservedHostdev::default());
                Node::UsbHostdev
            } else {
                Node::Other
            }
        }
        (Some(Node::UsbHostdev), b"source") => Node::UsbSource,
        (Some(Node::UsbHostdev), b"alias") => {
            let alias = attribute(element, b"name")?;
            if let Some(hostdev) = hostdevs.last_mut() {
                hostdev.alias = alias.map(Cow::into_owned);
            }
            Node::Other
        }
        (Some(Node::UsbSource), b"vendor" | b"product" | b"address") => {
            if let Some(hostdev) = hostdevs.last_mut() {
                read_source_child(element, name, hostdev)?;
            }
            Node::Other
        }
        _ => Node::Other,
    };
    Ok(node)
}

/// Reads `<vendor id>`, `<product id>` or `<address bus device>` of a USB source.
fn read_source_child(
    element: &BytesStart<'_>,
    name: &[u8],
    hostdev: &mut ObservedHostdev,
) -> Result<(), String> {
    let number = |key: &[u8]| -> Result<Option<u16>, String> {
        Ok(attribute(element, key)?
            .as_deref()
            .and_then(parse_libvirt_number))
    };
    match name {
        b"vendor" => hostdev.vendor_id = number(b"id")?,
        b"product" => hostdev.product_id = number(b"id")?,
        _ => {
            hostdev.bus = number(b"bus")?;
            hostdev.device = number(b"device")?;
        }
    }
    Ok(())
}

/// The unescaped value of attribute `key` of `element`, if present; fails on malformed
/// attributes (duplicates, missing quotes, unknown entities).
fn attribute<'a>(element: &'a BytesStart<'a>, key: &[u8]) -> Result<Option<Cow<'a, str>>, String> {
    for attribute in element.attributes() {
        let attribute: Attribute<'a> = attribute
            .map_err(|error| format!("bad attribute in <{}>: {error}", element_name(element)))?;
        if attribute.key.as_ref() == key {
            let value = attribute.unescape_value().map_err(|error| {
                format!(
                    "bad attribute value in <{}>: {error}",
                    element_name(element)
                )
            })?;
            return Ok(Some(value));
        }
    }
    Ok(None)
}

fn element_name(element: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(element.name().as_ref()).into_owned()
}

/// A number as libvirt reads it from domain XML (`strtoul` with base 0, surrounding whitespace and
/// a leading `+` allowed), if it fits in 16 bits.
fn parse_libvirt_number(text: &str) -> Option<u16> {
    let text = text.trim();
    let text = text.strip_prefix('+').unwrap_or(text);
    let (digits, radix) =
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            (hex, 16)
        } else if text.len() > 1 && text.starts_with('0') {
            (&text[1..], 8)
        } else {
            (text, 10)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u16::from_str_radix(digits, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const WEBCAM: HostdevSpec = HostdevSpec {
        bus: 3,
        device: 5,
        vendor_id: 0x046d,
        product_id: 0x0825,
    };

    fn in_domain(devices: &str) -> String {
        format!("<domain type='kvm'><name>vm</name><devices>{devices}</devices></domain>")
    }

    fn parse(devices: &str) -> Vec<ObservedHostdev> {
        parse_usb_hostdevs("vm", &in_domain(devices)).unwrap()
    }

    fn usb(source: &str, alias: Option<&str>) -> String {
        let alias = alias
            .map(|name| format!("<alias name='{name}'/>"))
            .unwrap_or_default();
        format!("<hostdev mode='subsystem' type='usb' managed='yes'><source>{source}</source>{alias}</hostdev>")
    }

    #[test]
    fn hostdev_xml_is_the_documented_element() {
        assert_eq!(
            hostdev_xml(&WEBCAM),
            r#"<hostdev mode="subsystem" type="usb" managed="yes"><source startupPolicy="optional"><vendor id="0x046d"/><product id="0x0825"/><address bus="3" device="5"/></source><alias name="ua-hotplugd-3-5-046d-0825"/></hostdev>"#
        );
        let mandatory = hostdev_xml_with_policy(&WEBCAM, StartupPolicy::Mandatory);
        assert!(
            mandatory.contains(r#"<source startupPolicy="mandatory">"#),
            "{mandatory}"
        );
    }

    proptest! {
        // Invariant: what the daemon attaches reads back as the same device, owned, with exactly
        // the spec's fields, for every bus, device, vendor and product.
        #[test]
        fn generated_hostdev_reads_back_as_owned_spec(bus: u16, device: u16, vendor_id: u16, product_id: u16) {
            let spec = HostdevSpec { bus, device, vendor_id, product_id };
            let hostdevs = parse(&hostdev_xml(&spec));
            prop_assert_eq!(hostdevs.len(), 1);
            prop_assert_eq!(hostdevs[0].owned_spec(), Some(spec));
            prop_assert_eq!(&hostdevs[0], &ObservedHostdev::from(spec));
        }

        // Invariant: no input makes the parser panic; it returns hostdevs or an error naming the
        // domain.
        #[test]
        fn arbitrary_input_never_panics(xml in ".{0,200}") {
            if let Err(error) = parse_usb_hostdevs("odd-vm", &xml) {
                prop_assert!(error.to_string().contains("odd-vm"), "{}", error);
            }
        }

        // Invariant: every truncation of a real live XML is either read or rejected, never a panic,
        // and a rejected one names the domain.
        #[test]
        fn truncated_live_xml_never_panics(cut in 0usize..LIVE_XML.len()) {
            if let Some(xml) = LIVE_XML.get(..cut) {
                if let Err(error) = parse_usb_hostdevs("cut-vm", xml) {
                    prop_assert!(error.to_string().contains("cut-vm"), "{}", error);
                }
            }
        }
    }

    /// The devices of `virsh dumpxml hotplugd-test` after an owned attach of an absent device and
    /// a static one, from libvirt 9.0 (the guest's `<address type='usb'>` must not be read as the
    /// source address).
    const LIVE_XML: &str = r#"<domain type='kvm' id='1'>
  <name>hotplugd-test</name>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' index='0' model='qemu-xhci'>
      <alias name='usb'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </controller>
    <hostdev mode='subsystem' type='usb' managed='yes'>
      <source startupPolicy='optional' missing='yes'>
        <vendor id='0x046d'/>
        <product id='0x0825'/>
        <address bus='3' device='5'/>
      </source>
      <alias name='ua-hotplugd-3-5-046d-0825'/>
      <address type='usb' bus='0' port='1'/>
    </hostdev>
    <hostdev mode='subsystem' type='usb' managed='no'>
      <source startupPolicy='optional' missing='yes'>
        <vendor id='0x1050'/>
        <product id='0x0407'/>
        <address bus='1' device='7'/>
      </source>
      <alias name='hostdev0'/>
      <address type='usb' bus='0' port='2'/>
    </hostdev>
    <memballoon model='none'/>
  </devices>
</domain>
"#;

    #[test]
    fn live_xml_gives_owned_and_static_hostdevs_with_source_addresses() {
        let hostdevs = parse_usb_hostdevs("hotplugd-test", LIVE_XML).unwrap();
        assert_eq!(
            hostdevs,
            vec![
                ObservedHostdev::from(WEBCAM),
                ObservedHostdev {
                    bus: Some(1),
                    device: Some(7),
                    vendor_id: Some(0x1050),
                    product_id: Some(0x0407),
                    alias: Some("hostdev0".into()),
                },
            ]
        );
        assert!(hostdevs[0].is_owned());
        assert!(!hostdevs[1].is_owned());
    }

    #[test]
    fn hand_written_hostdevs_give_what_they_have() {
        let hostdevs = parse(
            &[
                usb("<vendor id='0x046d'/><product id='0x0825'/>", None),
                usb("<address bus='2' device='9'/>", Some("ua-static")),
                usb("<vendor id='0x1050'/>", None),
                usb("", None),
                "<hostdev mode='subsystem' type='usb'/>".to_string(),
            ]
            .concat(),
        );
        assert_eq!(
            hostdevs,
            vec![
                ObservedHostdev {
                    vendor_id: Some(0x046d),
                    product_id: Some(0x0825),
                    ..Default::default()
                },
                ObservedHostdev {
                    bus: Some(2),
                    device: Some(9),
                    alias: Some("ua-static".into()),
                    ..Default::default()
                },
                ObservedHostdev {
                    vendor_id: Some(0x1050),
                    ..Default::default()
                },
                ObservedHostdev::default(),
                ObservedHostdev::default(),
            ]
        );
    }

    #[test]
    fn numbers_are_read_as_libvirt_reads_them() {
        // As `virsh define` on libvirt 9.0 normalizes them: 1133 = 0x046d, 010 = 8, 0X825 = 0x0825.
        let hostdevs = parse(&usb(
            "<vendor id='1133'/><product id='0X825'/><address bus='010' device=' 0x1f '/>",
            None,
        ));
        assert_eq!(
            hostdevs,
            vec![ObservedHostdev {
                bus: Some(8),
                device: Some(31),
                vendor_id: Some(0x046d),
                product_id: Some(0x0825),
                alias: None,
            }]
        );
        assert_eq!(parse_libvirt_number("+12"), Some(12));
        // One sign only: what follows must be digits (Rust's own parser would take a second `+`).
        assert_eq!(parse_libvirt_number("++12"), None);
        assert_eq!(parse_libvirt_number("0x+5"), None);
        assert_eq!(parse_libvirt_number("0"), Some(0));
        assert_eq!(parse_libvirt_number("0xffff"), Some(0xffff));
    }

    #[test]
    fn an_unreadable_number_leaves_only_that_field_out() {
        for bad in [
            "", "0x", "12abc", "-1", "70000", "0x10000", "08", "1 2", "１２",
        ] {
            let hostdevs = parse(&usb(
                &format!("<vendor id='{bad}'/><product id='0x0825'/><address bus='3' device='5'/>"),
                Some("ua-hotplugd-3-5-046d-0825"),
            ));
            assert_eq!(
                hostdevs,
                vec![ObservedHostdev {
                    vendor_id: None,
                    ..ObservedHostdev::from(WEBCAM)
                }],
                "vendor id {bad:?}"
            );
            // The alias still says which device the daemon attached.
            assert_eq!(hostdevs[0].owned_spec(), Some(WEBCAM));
        }
    }

    #[test]
    fn non_usb_hostdevs_and_hostdevs_elsewhere_are_ignored() {
        let devices = [
            "<hostdev mode='subsystem' type='pci' managed='yes'><source>\
             <address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/></source>\
             <alias name='ua-hotplugd-3-5-046d-0825'/></hostdev>",
            "<hostdev mode='capabilities' type='usb'><source><vendor id='0x1'/></source></hostdev>",
            "<hostdev mode='capabilities' type='storage'><source><block>/dev/sdf1</block></source></hostdev>",
            "<interface type='hostdev'><source><address type='usb' bus='3' device='5'/></source></interface>",
            // No mode: libvirt's default is "subsystem".
            "<hostdev type='usb'><source><vendor id='0x2'/></source></hostdev>",
        ]
        .concat();
        let xml = format!(
            "<domain><metadata><hostdev mode='subsystem' type='usb'><source><vendor id='0x3'/></source></hostdev></metadata>\
             <devices>{devices}</devices></domain>"
        );
        assert_eq!(
            parse_usb_hostdevs("vm", &xml).unwrap(),
            vec![ObservedHostdev {
                vendor_id: Some(2),
                ..Default::default()
            }]
        );
    }

    #[test]
    fn aliases_are_unescaped() {
        let hostdevs = parse(&usb("", Some("ua-a&amp;b&#x41;")));
        assert_eq!(hostdevs[0].alias.as_deref(), Some("ua-a&bA"));
    }

    #[test]
    fn a_domain_without_hostdevs_or_devices_has_none() {
        assert_eq!(parse(""), vec![]);
        assert_eq!(
            parse_usb_hostdevs("vm", "<?xml version='1.0'?><!-- x --><domain/>").unwrap(),
            vec![]
        );
    }

    #[test]
    fn malformed_xml_is_an_error_naming_the_domain() {
        let cases = [
            ("", "no root element"),
            ("   ", "no root element"),
            ("not xml at all", "no root element"),
            ("<domain><devices>", "unexpected end"),
            ("<domain><devices></domain>", ""),
            ("<domain></domain></devices>", ""),
            ("<domain><devices><hostdev type='usb' type='usb'/></devices></domain>", "bad attribute"),
            ("<domain><devices><hostdev type=usb/></devices></domain>", "bad attribute"),
            ("<domain><devices><hostdev type='usb'><alias name='&bogus;'/></hostdev></devices></domain>", "bad attribute value"),
            ("<network><name>default</name></network>", "root element is <network>"),
            ("<domain/><domain/>", "second root element"),
            ("<domain><devices", ""),
        ];
        for (xml, expected) in cases {
            let error = parse_usb_hostdevs("broken-vm", xml).expect_err(xml);
            assert!(
                matches!(error, Error::DomainXml { ref domain, .. } if domain == "broken-vm"),
                "{xml}: {error:?}"
            );
            let message = error.to_string();
            assert!(
                message.starts_with("malformed XML of domain broken-vm at byte "),
                "{xml}: {message}"
            );
            assert!(message.contains(expected), "{xml}: {message}");
            assert!(!error.is_transient());
        }
    }
}
