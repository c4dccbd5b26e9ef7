//! ARM resource ids of the resources whose keys keyrot rotates, or whose consumers it refreshes:
//!
//! - `…/providers/Microsoft.Storage/storageAccounts/{account}`
//! - `…/providers/Microsoft.ServiceBus/namespaces/{ns}[/queues/{q}|/topics/{t}]/authorizationRules/{rule}`
//! - `…/providers/Microsoft.EventHub/namespaces/{ns}[/eventhubs/{eh}]/authorizationRules/{rule}`
//! - `…/providers/Microsoft.DocumentDB/databaseAccounts/{account}`
//! - `…/providers/Microsoft.Web/sites/{site}`
//! - `…/providers/Microsoft.Logic/workflows/{workflow}`
//!
//! where `…` is `/subscriptions/{subscription GUID}/resourceGroups/{group}`. As in ARM, the
//! fixed segments (`subscriptions`, `resourceGroups`, `providers`, the provider namespace and
//! the resource types) match in any case; [`ResourceId`]'s `Display` writes them in their
//! canonical spelling, names as given.
//!
//! Names are checked against the services' naming rules where keyrot builds host names or URLs
//! from them (all of them: nothing unchecked reaches a URL). Errors ([`ResourceIdError`]) say
//! which part is wrong and what was expected, for keyrot.toml diagnostics.

use std::fmt;

use crate::keys::alternation::Service;

/// A parsed resource id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceId {
    /// The subscription GUID, lower-cased.
    pub subscription: String,
    pub resource_group: String,
    pub resource: Resource,
}

/// The resource an id names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resource {
    StorageAccount {
        account: String,
    },
    /// A Service Bus SAS rule: the namespace's, or a queue's or topic's.
    ServiceBusRule {
        namespace: String,
        entity: Option<ServiceBusEntity>,
        rule: String,
    },
    /// An Event Hubs SAS rule: the namespace's, or an event hub's.
    EventHubRule {
        namespace: String,
        event_hub: Option<String>,
        rule: String,
    },
    CosmosAccount {
        account: String,
    },
    WebSite {
        site: String,
    },
    LogicWorkflow {
        workflow: String,
    },
}

/// A Service Bus entity that can own SAS rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServiceBusEntity {
    Queue(String),
    Topic(String),
}

/// What is wrong with a resource id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceIdError(String);

impl fmt::Display for ResourceIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ResourceIdError {}

const PREFIX_SHAPE: &str =
    "/subscriptions/{subscription id}/resourceGroups/{resource group}/providers/{provider}/{type}/{name}";

/// (provider as ARM spells it, the shapes keyrot accepts under it)
const PROVIDERS: [(&str, &str); 6] = [
    ("Microsoft.Storage", "storageAccounts/{account}"),
    (
        "Microsoft.ServiceBus",
        "namespaces/{namespace}[/queues/{queue} or /topics/{topic}]/authorizationRules/{rule}",
    ),
    (
        "Microsoft.EventHub",
        "namespaces/{namespace}[/eventhubs/{event hub}]/authorizationRules/{rule}",
    ),
    ("Microsoft.DocumentDB", "databaseAccounts/{account}"),
    ("Microsoft.Web", "sites/{site}"),
    ("Microsoft.Logic", "workflows/{workflow}"),
];

impl ResourceId {
    /// Parses and validates `input` (surrounding whitespace and one trailing `/` tolerated).
    pub fn parse(input: &str) -> Result<ResourceId, ResourceIdError> {
        let text = input.trim();
        let fail = |what: String| ResourceIdError(format!("resource id {text:?}: {what}"));
        let body = text
            .strip_prefix('/')
            .ok_or_else(|| fail(format!("must start with `/`, like {PREFIX_SHAPE}")))?;
        let body = body.strip_suffix('/').unwrap_or(body);
        let segments: Vec<&str> = body.split('/').collect();
        if let Some(i) = segments.iter().position(|s| s.is_empty()) {
            return Err(fail(format!("segment {} is empty (`//`)", i + 1)));
        }
        if segments.len() < 7 {
            return Err(fail(format!(
                "too short: expected {PREFIX_SHAPE} (with the resource's type and name)"
            )));
        }
        for (i, expected) in [
            (0, "subscriptions"),
            (2, "resourceGroups"),
            (4, "providers"),
        ] {
            if !segments[i].eq_ignore_ascii_case(expected) {
                return Err(fail(format!(
                    "segment {} is {:?} where `{expected}` belongs (expected {PREFIX_SHAPE})",
                    i + 1,
                    segments[i]
                )));
            }
        }
        let subscription = crate::graph::parse_guid(segments[1], "subscription id")
            .map_err(|_| fail(format!("the subscription {:?} is not a GUID", segments[1])))?;
        let resource_group = segments[3];
        check_resource_group(resource_group).map_err(&fail)?;
        let namespace = segments[5];
        let Some((provider, shape)) = PROVIDERS
            .iter()
            .find(|(p, _)| p.eq_ignore_ascii_case(namespace))
        else {
            let known: Vec<&str> = PROVIDERS.iter().map(|(p, _)| *p).collect();
            return Err(fail(format!(
                "keyrot does not handle resources of provider {namespace:?}; it knows {}",
                known.join(", ")
            )));
        };
        let rest = &segments[6..];
        if rest.len() % 2 == 1 {
            return Err(fail(format!(
                "the type {:?} has no name after it (expected {provider}/{shape})",
                rest[rest.len() - 1]
            )));
        }
        let pairs: Vec<(String, &str)> = rest
            .chunks(2)
            .map(|c| (c[0].to_ascii_lowercase(), c[1]))
            .collect();
        let types: Vec<&str> = pairs.iter().map(|(t, _)| t.as_str()).collect();
        let wrong_shape = || {
            let found: Vec<&str> = rest.iter().step_by(2).copied().collect();
            fail(format!(
                "under {provider} keyrot expects {shape}, found the types {}",
                found.join("/")
            ))
        };
        let name = |i: usize| pairs[i].1;
        let resource = match (provider.to_ascii_lowercase().as_str(), types.as_slice()) {
            ("microsoft.storage", ["storageaccounts"]) => Resource::StorageAccount {
                account: check_storage_account(name(0)).map_err(&fail)?,
            },
            ("microsoft.servicebus", ["namespaces", "authorizationrules"]) => {
                Resource::ServiceBusRule {
                    namespace: check_namespace(name(0)).map_err(&fail)?,
                    entity: None,
                    rule: check_entity("SAS rule", name(1), 256).map_err(&fail)?,
                }
            }
            (
                "microsoft.servicebus",
                ["namespaces", kind @ ("queues" | "topics"), "authorizationrules"],
            ) => {
                let entity = check_entity(&kind[..kind.len() - 1], name(1), 260).map_err(&fail)?;
                Resource::ServiceBusRule {
                    namespace: check_namespace(name(0)).map_err(&fail)?,
                    entity: Some(if *kind == "queues" {
                        ServiceBusEntity::Queue(entity)
                    } else {
                        ServiceBusEntity::Topic(entity)
                    }),
                    rule: check_entity("SAS rule", name(2), 256).map_err(&fail)?,
                }
            }
            ("microsoft.eventhub", ["namespaces", "authorizationrules"]) => {
                Resource::EventHubRule {
                    namespace: check_namespace(name(0)).map_err(&fail)?,
                    event_hub: None,
                    rule: check_entity("SAS rule", name(1), 256).map_err(&fail)?,
                }
            }
            ("microsoft.eventhub", ["namespaces", "eventhubs", "authorizationrules"]) => {
                Resource::EventHubRule {
                    namespace: check_namespace(name(0)).map_err(&fail)?,
                    event_hub: Some(check_entity("event hub", name(1), 256).map_err(&fail)?),
                    rule: check_entity("SAS rule", name(2), 256).map_err(&fail)?,
                }
            }
            ("microsoft.documentdb", ["databaseaccounts"]) => Resource::CosmosAccount {
                account: check_cosmos_account(name(0)).map_err(&fail)?,
            },
            ("microsoft.web", ["sites"]) => Resource::WebSite {
                site: check_site(name(0)).map_err(&fail)?,
            },
            ("microsoft.logic", ["workflows"]) => Resource::LogicWorkflow {
                workflow: check_workflow(name(0)).map_err(&fail)?,
            },
            _ => return Err(wrong_shape()),
        };
        Ok(ResourceId {
            subscription,
            resource_group: resource_group.to_owned(),
            resource,
        })
    }

    /// The id's path segments in canonical spelling, without the leading `/`.
    pub fn segments(&self) -> Vec<&str> {
        let mut out = vec![
            "subscriptions",
            self.subscription.as_str(),
            "resourceGroups",
            self.resource_group.as_str(),
            "providers",
        ];
        match &self.resource {
            Resource::StorageAccount { account } => {
                out.extend(["Microsoft.Storage", "storageAccounts", account])
            }
            Resource::ServiceBusRule {
                namespace,
                entity,
                rule,
            } => {
                out.extend(["Microsoft.ServiceBus", "namespaces", namespace]);
                match entity {
                    Some(ServiceBusEntity::Queue(q)) => out.extend(["queues", q.as_str()]),
                    Some(ServiceBusEntity::Topic(t)) => out.extend(["topics", t.as_str()]),
                    None => {}
                }
                out.extend(["authorizationRules", rule]);
            }
            Resource::EventHubRule {
                namespace,
                event_hub,
                rule,
            } => {
                out.extend(["Microsoft.EventHub", "namespaces", namespace]);
                if let Some(eh) = event_hub {
                    out.extend(["eventhubs", eh.as_str()]);
                }
                out.extend(["authorizationRules", rule]);
            }
            Resource::CosmosAccount { account } => {
                out.extend(["Microsoft.DocumentDB", "databaseAccounts", account])
            }
            Resource::WebSite { site } => out.extend(["Microsoft.Web", "sites", site]),
            Resource::LogicWorkflow { workflow } => {
                out.extend(["Microsoft.Logic", "workflows", workflow])
            }
        }
        out
    }

    /// The service whose keys alternate, for the resources that have keys.
    pub fn service(&self) -> Option<Service> {
        match self.resource {
            Resource::StorageAccount { .. } => Some(Service::Storage),
            Resource::ServiceBusRule { .. } => Some(Service::ServiceBus),
            Resource::EventHubRule { .. } => Some(Service::EventHubs),
            Resource::CosmosAccount { .. } => Some(Service::Cosmos),
            Resource::WebSite { .. } | Resource::LogicWorkflow { .. } => None,
        }
    }

    /// How messages name the resource: `storage account sto1`, `Service Bus rule send of queue
    /// orders in namespace ns1`.
    pub fn describe(&self) -> String {
        match &self.resource {
            Resource::StorageAccount { account } => format!("storage account {account}"),
            Resource::ServiceBusRule {
                namespace,
                entity,
                rule,
            } => match entity {
                Some(ServiceBusEntity::Queue(q)) => {
                    format!("Service Bus rule {rule} of queue {q} in namespace {namespace}")
                }
                Some(ServiceBusEntity::Topic(t)) => {
                    format!("Service Bus rule {rule} of topic {t} in namespace {namespace}")
                }
                None => format!("Service Bus rule {rule} of namespace {namespace}"),
            },
            Resource::EventHubRule {
                namespace,
                event_hub,
                rule,
            } => match event_hub {
                Some(eh) => {
                    format!("Event Hubs rule {rule} of event hub {eh} in namespace {namespace}")
                }
                None => format!("Event Hubs rule {rule} of namespace {namespace}"),
            },
            Resource::CosmosAccount { account } => format!("Cosmos DB account {account}"),
            Resource::WebSite { site } => format!("App Service site {site}"),
            Resource::LogicWorkflow { workflow } => format!("Logic App workflow {workflow}"),
        }
    }

    /// For an entity's SAS rule, the entity's name (a connection string's `EntityPath`).
    pub fn entity_path(&self) -> Option<&str> {
        match &self.resource {
            Resource::ServiceBusRule {
                entity: Some(ServiceBusEntity::Queue(e) | ServiceBusEntity::Topic(e)),
                ..
            } => Some(e),
            Resource::EventHubRule {
                event_hub: Some(e), ..
            } => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in self.segments() {
            write!(f, "/{segment}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for ResourceId {
    type Err = ResourceIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResourceId::parse(s)
    }
}

fn length_ok(name: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&name.chars().count())
}

/// 1–90 letters (any script), digits, `-`, `_`, `.`, `(`, `)`; not ending with `.`.
fn check_resource_group(name: &str) -> Result<(), String> {
    let chars_ok = name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
    if length_ok(name, 1, 90) && chars_ok && !name.ends_with('.') {
        Ok(())
    } else {
        Err(format!(
            "the resource group {name:?} is not a valid name (1 to 90 letters, digits, `-`, `_`, `.`, `(` or `)`, not ending with `.`)"
        ))
    }
}

/// 3–24 lower-case letters and digits.
fn check_storage_account(name: &str) -> Result<String, String> {
    if length_ok(name, 3, 24)
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "the storage account name {name:?} is not valid (3 to 24 lower-case letters and digits)"
        ))
    }
}

/// Service Bus / Event Hubs namespace: 6–50 letters, digits and hyphens, starting with a
/// letter and ending with a letter or digit.
fn check_namespace(name: &str) -> Result<String, String> {
    let ok = length_ok(name, 6, 50)
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "the namespace name {name:?} is not valid (6 to 50 letters, digits and hyphens, starting with a letter and ending with a letter or digit)"
        ))
    }
}

/// Queue, topic, event hub and SAS rule names: letters, digits, `.`, `-`, `_`.
fn check_entity(what: &str, name: &str, max: usize) -> Result<String, String> {
    let ok = length_ok(name, 1, max)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && name != "."
        && name != "..";
    if ok {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "the {what} name {name:?} is not valid (1 to {max} letters, digits, `.`, `-` or `_`)"
        ))
    }
}

/// 3–44 lower-case letters, digits and hyphens, not starting or ending with a hyphen.
fn check_cosmos_account(name: &str) -> Result<String, String> {
    let ok = length_ok(name, 3, 44)
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "the Cosmos DB account name {name:?} is not valid (3 to 44 lower-case letters, digits and hyphens, not starting or ending with a hyphen)"
        ))
    }
}

/// 2–60 letters, digits and hyphens, not starting or ending with a hyphen.
fn check_site(name: &str) -> Result<String, String> {
    let ok = length_ok(name, 2, 60)
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "the site name {name:?} is not valid (2 to 60 letters, digits and hyphens, not starting or ending with a hyphen)"
        ))
    }
}

/// 1–80 letters, digits, `-`, `_`, `.`, `(`, `)`.
fn check_workflow(name: &str) -> Result<String, String> {
    let ok = length_ok(name, 1, 80)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
        && name != "."
        && name != "..";
    if ok {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "the workflow name {name:?} is not valid (1 to 80 letters, digits, `-`, `_`, `.`, `(` or `)`)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "34adfa4f-cedf-4dc0-ba29-b6d1a69ab345";

    fn id(rest: &str) -> String {
        format!("/subscriptions/{SUB}/resourceGroups/test-resource-group/providers/{rest}")
    }

    fn ok(rest: &str) -> ResourceId {
        ResourceId::parse(&id(rest)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(input: &str) -> String {
        ResourceId::parse(input).unwrap_err().to_string()
    }

    #[test]
    fn each_kind_parses_and_prints_canonically() {
        for (input, resource, canonical) in [
            (
                "Microsoft.Storage/storageAccounts/sto2220",
                Resource::StorageAccount { account: "sto2220".into() },
                "Microsoft.Storage/storageAccounts/sto2220",
            ),
            (
                "microsoft.servicebus/NAMESPACES/sdk-namespace-6914/authorizationrules/sdk-AuthRules-1788",
                Resource::ServiceBusRule {
                    namespace: "sdk-namespace-6914".into(),
                    entity: None,
                    rule: "sdk-AuthRules-1788".into(),
                },
                "Microsoft.ServiceBus/namespaces/sdk-namespace-6914/authorizationRules/sdk-AuthRules-1788",
            ),
            (
                "Microsoft.ServiceBus/namespaces/ns-orders/queues/orders.v1/authorizationRules/send",
                Resource::ServiceBusRule {
                    namespace: "ns-orders".into(),
                    entity: Some(ServiceBusEntity::Queue("orders.v1".into())),
                    rule: "send".into(),
                },
                "Microsoft.ServiceBus/namespaces/ns-orders/queues/orders.v1/authorizationRules/send",
            ),
            (
                "Microsoft.ServiceBus/namespaces/ns-orders/Topics/events/authorizationRules/listen",
                Resource::ServiceBusRule {
                    namespace: "ns-orders".into(),
                    entity: Some(ServiceBusEntity::Topic("events".into())),
                    rule: "listen".into(),
                },
                "Microsoft.ServiceBus/namespaces/ns-orders/topics/events/authorizationRules/listen",
            ),
            (
                "Microsoft.EventHub/namespaces/ns-telemetry/authorizationRules/RootManageSharedAccessKey",
                Resource::EventHubRule {
                    namespace: "ns-telemetry".into(),
                    event_hub: None,
                    rule: "RootManageSharedAccessKey".into(),
                },
                "Microsoft.EventHub/namespaces/ns-telemetry/authorizationRules/RootManageSharedAccessKey",
            ),
            (
                "Microsoft.EventHub/namespaces/ns-telemetry/EventHubs/clicks/authorizationRules/send",
                Resource::EventHubRule {
                    namespace: "ns-telemetry".into(),
                    event_hub: Some("clicks".into()),
                    rule: "send".into(),
                },
                "Microsoft.EventHub/namespaces/ns-telemetry/eventhubs/clicks/authorizationRules/send",
            ),
            (
                "Microsoft.DocumentDb/databaseAccounts/ddb1",
                Resource::CosmosAccount { account: "ddb1".into() },
                "Microsoft.DocumentDB/databaseAccounts/ddb1",
            ),
            (
                "Microsoft.Web/sites/billing-api",
                Resource::WebSite { site: "billing-api".into() },
                "Microsoft.Web/sites/billing-api",
            ),
            (
                "Microsoft.Logic/workflows/test-workflow",
                Resource::LogicWorkflow { workflow: "test-workflow".into() },
                "Microsoft.Logic/workflows/test-workflow",
            ),
        ] {
            let parsed = ok(input);
            assert_eq!(parsed.resource, resource, "{input}");
            assert_eq!(parsed.subscription, SUB);
            assert_eq!(parsed.resource_group, "test-resource-group");
            assert_eq!(parsed.to_string(), id(canonical));
            // Canonical output parses to the same id.
            assert_eq!(ResourceId::parse(&parsed.to_string()).unwrap(), parsed);
        }
    }

    #[test]
    fn fixed_segments_match_in_any_case_and_the_subscription_is_normalised() {
        let parsed = ResourceId::parse(
            " /SUBSCRIPTIONS/34ADFA4F-CEDF-4DC0-BA29-B6D1A69AB345/resourcegroups/RG/PROVIDERS/Microsoft.Storage/storageaccounts/sto1/ ",
        )
        .unwrap();
        assert_eq!(parsed.subscription, SUB);
        assert_eq!(parsed.resource_group, "RG");
        assert_eq!(
            parsed.to_string(),
            format!("/subscriptions/{SUB}/resourceGroups/RG/providers/Microsoft.Storage/storageAccounts/sto1")
        );
        assert_eq!(parsed.service(), Some(Service::Storage));
        assert_eq!(parsed.describe(), "storage account sto1");
        assert_eq!(parsed.entity_path(), None);
    }

    #[test]
    fn services_descriptions_and_entity_paths() {
        let q =
            ok("Microsoft.ServiceBus/namespaces/ns-orders/queues/orders/authorizationRules/send");
        assert_eq!(q.service(), Some(Service::ServiceBus));
        assert_eq!(q.entity_path(), Some("orders"));
        assert_eq!(
            q.describe(),
            "Service Bus rule send of queue orders in namespace ns-orders"
        );
        let eh = ok(
            "Microsoft.EventHub/namespaces/ns-telemetry/eventhubs/clicks/authorizationRules/send",
        );
        assert_eq!(eh.service(), Some(Service::EventHubs));
        assert_eq!(eh.entity_path(), Some("clicks"));
        assert_eq!(
            ok("Microsoft.DocumentDB/databaseAccounts/ddb1").service(),
            Some(Service::Cosmos)
        );
        assert_eq!(ok("Microsoft.Web/sites/app1").service(), None);
        assert_eq!(
            ok("Microsoft.Logic/workflows/wf").describe(),
            "Logic App workflow wf"
        );
    }

    #[test]
    fn errors_name_what_is_wrong() {
        for (input, expected) in [
            ("subscriptions/x".to_owned(), "must start with `/`".to_owned()),
            (format!("/subscriptions/{SUB}/resourceGroups/rg"), "too short".to_owned()),
            (
                format!("/subscription/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s1"),
                "segment 1 is \"subscription\" where `subscriptions` belongs".to_owned(),
            ),
            (
                format!("/subscriptions/{SUB}/groups/rg/providers/Microsoft.Storage/storageAccounts/s1"),
                "segment 3 is \"groups\" where `resourceGroups` belongs".to_owned(),
            ),
            (
                "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sto1".to_owned(),
                "the subscription \"not-a-guid\" is not a GUID".to_owned(),
            ),
            (
                format!("/subscriptions/{SUB}/resourceGroups/rg./providers/Microsoft.Storage/storageAccounts/sto1"),
                "the resource group \"rg.\" is not a valid name".to_owned(),
            ),
            (id("Microsoft.KeyVault/vaults/v1"), "does not handle resources of provider \"Microsoft.KeyVault\"".to_owned()),
            (id("Microsoft.Storage/storageAccounts/Sto1"), "storage account name \"Sto1\" is not valid".to_owned()),
            (id("Microsoft.Storage/storageAccounts/st"), "storage account name \"st\"".to_owned()),
            (id("Microsoft.Storage/storageAccounts/sto1/blobServices/default"), "under Microsoft.Storage keyrot expects storageAccounts/{account}, found the types storageAccounts/blobServices".to_owned()),
            (id("Microsoft.Storage/storageAccounts"), "the type \"storageAccounts\" has no name".to_owned()),
            (id("Microsoft.ServiceBus/namespaces/ns-orders"), "under Microsoft.ServiceBus keyrot expects namespaces/{namespace}[/queues/{queue} or /topics/{topic}]/authorizationRules/{rule}".to_owned()),
            (id("Microsoft.ServiceBus/namespaces/ns-orders/subscriptions/s/authorizationRules/r"), "found the types namespaces/subscriptions/authorizationRules".to_owned()),
            (id("Microsoft.ServiceBus/namespaces/1abcdef/authorizationRules/r"), "the namespace name \"1abcdef\" is not valid".to_owned()),
            (id("Microsoft.ServiceBus/namespaces/short/authorizationRules/r"), "the namespace name \"short\"".to_owned()),
            (id("Microsoft.ServiceBus/namespaces/ns-orders/queues/q%2F/authorizationRules/r"), "the queue name \"q%2F\" is not valid".to_owned()),
            (id("Microsoft.EventHub/namespaces/ns-orders/eventhubs/e/authorizationRules/r?x"), "the SAS rule name \"r?x\" is not valid".to_owned()),
            (id("Microsoft.EventHub/namespaces/ns-orders/eventhubs/../authorizationRules/r"), "the event hub name \"..\"".to_owned()),
            (id("Microsoft.DocumentDB/databaseAccounts/-db"), "Cosmos DB account name \"-db\"".to_owned()),
            (id("Microsoft.Web/sites/a"), "site name \"a\"".to_owned()),
            (id("Microsoft.Logic/workflows/w#1"), "workflow name \"w#1\"".to_owned()),
            (format!("/subscriptions/{SUB}//resourceGroups/rg"), "segment 3 is empty".to_owned()),
        ] {
            let error = err(&input);
            assert!(error.contains(&expected), "{input}\n  got: {error}\n  expected: {expected}");
            assert!(error.starts_with("resource id \""), "{error}");
        }
    }

    #[test]
    fn unicode_resource_groups_are_accepted() {
        let parsed = ResourceId::parse(&format!(
            "/subscriptions/{SUB}/resourceGroups/grupo-ñ(1)/providers/Microsoft.Web/sites/app1"
        ))
        .unwrap();
        assert_eq!(parsed.resource_group, "grupo-ñ(1)");
    }
}
