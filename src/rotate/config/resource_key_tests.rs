//! The resource key generators in keyrot.toml: issue 12 §1's example read as written, and each
//! mistake refused with its place and the fix.

use super::tests::{error, parse};
use super::*;
use crate::keys::alternation::Service;

const SUB: &str = "/subscriptions/5f2c7a9e-3b1d-4c8e-9f60-7a1b2c3d4e5f/resourceGroups/rg/providers";

fn with(generator: &str, resource: &str, extra: &str) -> String {
    format!(
        "[defaults]\nvault = \"myvault\"\n\n[[credential]]\nname = \"k\"\ngenerator = \"{generator}\"\nresource = \"{SUB}/{resource}\"\n{extra}"
    )
}

fn key_spec(config: &Config) -> &ResourceKeySpec {
    match &config.credentials[0].generator {
        Generator::ResourceKey(spec) => spec,
        other => panic!("not a resource key: {other:?}"),
    }
}

#[test]
fn the_issue_example_reads_as_written() {
    let config = parse(&with(
        "storage-account-key",
        "Microsoft.Storage/storageAccounts/orders",
        "value = \"connection-string\"\n",
    ))
    .unwrap();
    let spec = key_spec(&config);
    assert_eq!(spec.service, Service::Storage);
    assert_eq!(spec.value, KeyForm::ConnectionString);
    assert_eq!(
        spec.resource.to_string(),
        format!("{SUB}/Microsoft.Storage/storageAccounts/orders")
    );
    // No validity written: the secret's ValidityPeriodDays tag may decide.
    assert!(!spec.validity_configured);
    assert_eq!(
        config.credentials[0].generator.name(),
        "storage-account-key"
    );
}

#[test]
fn each_generator_takes_its_own_kind_of_resource() {
    for (generator, resource) in [
        ("service-bus-key", "Microsoft.ServiceBus/namespaces/orders-bus/authorizationRules/RootManageSharedAccessKey"),
        ("service-bus-key", "Microsoft.ServiceBus/namespaces/orders-bus/topics/t1/authorizationRules/send"),
        ("event-hubs-key", "Microsoft.EventHub/namespaces/telemetry/eventhubs/clicks/authorizationRules/listen"),
        ("cosmos-db-key", "Microsoft.DocumentDB/databaseAccounts/orders-db"),
    ] {
        let config = parse(&with(generator, resource, "value = \"key\"\nvalidity = \"60d\"\n"))
            .unwrap_or_else(|e| panic!("{generator}: {e}"));
        let spec = key_spec(&config);
        assert_eq!(spec.generator_name(), generator);
        assert!(spec.validity_configured, "{generator}");
        assert_eq!(spec.value, KeyForm::Key);
    }
    let e = error(&with(
        "service-bus-key",
        "Microsoft.Storage/storageAccounts/orders",
        "value = \"key\"\n",
    ));
    assert!(
        e.starts_with("keyrot.toml:7:12: credential \"k\": resource is a storage account orders, but generator = \"service-bus-key\" rotates the keys of a Service Bus SAS rule"),
        "{e}"
    );
    let e = error(&with(
        "event-hubs-key",
        "Microsoft.ServiceBus/namespaces/orders-bus/authorizationRules/r",
        "value = \"key\"\n",
    ));
    assert!(e.contains("an Event Hubs SAS rule"), "{e}");
}

#[test]
fn a_missing_or_malformed_setting_says_what_to_write() {
    let e = error("[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"k\"\ngenerator = \"storage-account-key\"\nvalue = \"key\"\n");
    assert!(
        e.contains("no resource: generator = \"storage-account-key\" needs resource = \"/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/{account}\""),
        "{e}"
    );
    let e = error(&with(
        "storage-account-key",
        "Microsoft.Storage/storageAccounts/orders",
        "",
    ));
    assert!(e.contains("no value: set value = \"key\""), "{e}");
    let e = error(&with(
        "storage-account-key",
        "Microsoft.Storage/storageAccounts/orders",
        "value = \"sas\"\n",
    ));
    assert!(
        e.starts_with("keyrot.toml:8:9: credential \"k\": unknown value \"sas\": use \"key\" or \"connection-string\""),
        "{e}"
    );
    let e = error(&with(
        "storage-account-key",
        "Microsoft.Storage/storageAccounts/Orders_1",
        "value = \"key\"\n",
    ));
    assert!(e.contains("storage account name"), "{e}");
}

#[test]
fn settings_of_other_generators_are_refused() {
    let e = error(&with(
        "storage-account-key",
        "Microsoft.Storage/storageAccounts/orders",
        "value = \"key\"\nlength = 40\n",
    ));
    assert!(
        e.contains("length applies only to generator = \"random\", and this credential's generator is \"storage-account-key\""),
        "{e}"
    );
    let e = error(&with(
        "storage-account-key",
        "Microsoft.Storage/storageAccounts/orders",
        "value = \"key\"\nlro_timeout = \"5m\"\n",
    ));
    assert!(
        e.contains("lro_timeout applies only to generator = \"cosmos-db-key\""),
        "{e}"
    );
    let e = error("[defaults]\nvault = \"myvault\"\n[[credential]]\nname = \"k\"\ngenerator = \"random\"\nvalue = \"key\"\n");
    assert!(
        e.contains("value applies only to a resource key generator"),
        "{e}"
    );
    let e = error(&with(
        "cosmos-db-key",
        "Microsoft.DocumentDB/databaseAccounts/orders-db",
        "value = \"key\"\nlro_timeout = \"0s\"\n",
    ));
    assert!(e.contains("lro_timeout must be longer than 0"), "{e}");
    let config = parse(&with(
        "cosmos-db-key",
        "Microsoft.DocumentDB/databaseAccounts/orders-db",
        "value = \"key\"\nlro_timeout = \"20m\"\n",
    ))
    .unwrap();
    assert_eq!(key_spec(&config).lro_timeout.as_secs(), 1200);
}
