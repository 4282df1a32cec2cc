//! Properties of configuration parsing on generated input.

use std::path::Path;

use hotplugd::config::{parse_machine_file, parse_main_file, ConfigError};
use proptest::prelude::*;
use serde_yaml::Value;

/// YAML values built from the configuration's own vocabulary (and some noise), so that many reach
/// deep into validation.
fn config_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        6 => prop::sample::select(vec![
            "interval", "libvirt-uri", "machines", "vm", "", "devices", "bus", "device",
            "vendor-id", "product-id", "port", "udev", "env", "tags", "current-tags", "name",
            "equals", "pattern",
        ])
        .prop_map(str::to_owned),
        1 => "(?s).{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_map(|n| Value::Number(n.into())),
        "(?s).{0,8}".prop_map(Value::String),
        prop::sample::select(vec![
            "5s", "0s", "-1h", "1.5", "300ms", "(", "3-6.*", "0x046d", "046d", "99999", "",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(6, 64, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
            prop::collection::vec((key.clone(), inner), 0..5).prop_map(|entries| {
                Value::Mapping(
                    entries
                        .into_iter()
                        .map(|(k, v)| (Value::String(k), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// Every error names the file it is about; an error with a position points into the text.
fn check_error(error: &ConfigError, file: &Path, text: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(error.file(), file);
    let message = error.to_string();
    prop_assert!(
        message.starts_with(&file.display().to_string()),
        "{}",
        message
    );
    prop_assert!(!message.contains('\n'), "one line: {}", message);
    if let Some(position) = error.position() {
        prop_assert!(position.line >= 1 && position.column >= 1);
        // YAML breaks lines at `\n`, `\r\n` and a lone `\r`.
        let lines = text
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .lines()
            .count();
        prop_assert!(position.line <= lines.max(1) + 1, "{}", message);
    }
    Ok(())
}

proptest! {
    // Loading never panics on any YAML document, as a main file or as a machines.d file: it gives a
    // configuration or a one-line error that names the file and a position inside the text.
    #[test]
    fn parsing_never_panics_on_any_yaml(value in config_value()) {
        let text = serde_yaml::to_string(&value).expect("a value serializes");
        let main = Path::new("config.yml");
        if let Err(error) = parse_main_file(&text, main) {
            check_error(&error, main, &text)?;
        }
        let snippet = Path::new("machines.d/vm.yml");
        if let Err(error) = parse_machine_file(&text, snippet, "vm") {
            check_error(&error, snippet, &text)?;
        }
    }

    // The same for any text at all, YAML or not.
    #[test]
    fn parsing_never_panics_on_any_text(text in "(?s).{0,300}") {
        let main = Path::new("config.yml");
        if let Err(error) = parse_main_file(&text, main) {
            check_error(&error, main, &text)?;
        }
    }

    // A machine wrapped in `machines.NAME` of the main file and the same machine as a machines.d
    // file are accepted or refused alike, and a refusal names the same path below the machine.
    #[test]
    fn a_machine_means_the_same_in_both_kinds_of_file(value in config_value()) {
        let machine = serde_yaml::to_string(&value).expect("serializes");
        let mut wrapped = serde_yaml::Mapping::new();
        let mut machines = serde_yaml::Mapping::new();
        machines.insert(Value::String("vm".into()), value);
        wrapped.insert(Value::String("machines".into()), Value::Mapping(machines));
        let main_text = serde_yaml::to_string(&Value::Mapping(wrapped)).expect("serializes");
        let in_main = parse_main_file(&main_text, Path::new("c.yml"));
        let alone = parse_machine_file(&machine, Path::new("vm.yml"), "vm");
        match (in_main, alone) {
            (Ok(main), Ok(alone)) => {
                prop_assert_eq!(main.machines.len(), 1);
                prop_assert_eq!(main.machines[0].rules.matchers().len(), alone.rules.matchers().len());
            }
            (Err(ConfigError::Invalid { path: main_path, reason: main_reason, .. }),
             Err(ConfigError::Invalid { path, reason, .. })) => {
                prop_assert_eq!(main_path, format!("machines.vm.{path}"));
                prop_assert_eq!(main_reason, reason);
            }
            (Err(ConfigError::Parse { .. }), Err(ConfigError::Parse { .. })) => {}
            (main, alone) => prop_assert!(false, "differ: {:?} / {:?}", main.err(), alone.err()),
        }
    }
}
