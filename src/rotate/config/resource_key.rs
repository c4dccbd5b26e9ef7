//! `generator = "storage-account-key"`, `"service-bus-key"`, `"event-hubs-key"` and
//! `"cosmos-db-key"`: a resource's two keys, rotated by alternation (`resource`, `value`,
//! `lro_timeout`).

use time::Duration;

use super::credential::{read_duration, Key, RawCredential};
use super::source::{Place, Source, Subject};
use crate::arm::resource_id::{Resource, ResourceId};
use crate::keys::alternation::Service;

/// How long a Cosmos DB key regeneration may run, counted per run, by default: the service
/// documents minutes, not seconds.
pub const DEFAULT_LRO_TIMEOUT: Duration = Duration::minutes(15);

/// The generator names, with the service each rotates.
pub(super) const GENERATORS: [(&str, Service); 4] = [
    ("storage-account-key", Service::Storage),
    ("service-bus-key", Service::ServiceBus),
    ("event-hubs-key", Service::EventHubs),
    ("cosmos-db-key", Service::Cosmos),
];

/// A resource key credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceKeySpec {
    pub service: Service,
    /// The storage account, SAS rule or Cosmos DB account.
    pub resource: ResourceId,
    /// What the Key Vault secret holds.
    pub value: KeyForm,
    /// Cosmos DB: how long one run waits for a regeneration to finish.
    pub lro_timeout: std::time::Duration,
    /// `validity` was written in keyrot.toml (the credential or `[defaults]`): it wins over
    /// the secret's `ValidityPeriodDays` tag.
    pub validity_configured: bool,
}

/// `value = "key"` or `"connection-string"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyForm {
    Key,
    ConnectionString,
}

impl ResourceKeySpec {
    /// The generator's name in keyrot.toml.
    pub fn generator_name(&self) -> &'static str {
        generator_name(self.service)
    }
}

pub(super) fn generator_name(service: Service) -> &'static str {
    GENERATORS
        .iter()
        .find(|(_, s)| *s == service)
        .map(|(name, _)| *name)
        .expect("every service has a generator")
}

/// What `resource` must be for each generator.
fn expected_shape(service: Service) -> &'static str {
    match service {
        Service::Storage => {
            "/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/{account}"
        }
        Service::ServiceBus => {
            "/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.ServiceBus/namespaces/{namespace}[/queues/{queue} or /topics/{topic}]/authorizationRules/{rule}"
        }
        Service::EventHubs => {
            "/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.EventHub/namespaces/{namespace}[/eventhubs/{event hub}]/authorizationRules/{rule}"
        }
        Service::Cosmos => {
            "/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.DocumentDB/databaseAccounts/{account}"
        }
    }
}

fn fits(service: Service, resource: &Resource) -> bool {
    matches!(
        (service, resource),
        (Service::Storage, Resource::StorageAccount { .. })
            | (Service::ServiceBus, Resource::ServiceBusRule { .. })
            | (Service::EventHubs, Resource::EventHubRule { .. })
            | (Service::Cosmos, Resource::CosmosAccount { .. })
    )
}

/// Reads the resource key settings of a credential whose generator is `name` (one of
/// [`GENERATORS`]).
pub(super) fn read_resource_key(
    src: &Source<'_>,
    subject: &Subject,
    at: usize,
    service: Service,
    raw: &RawCredential,
    validity_from: Place,
) -> Result<ResourceKeySpec, String> {
    let generator = generator_name(service);
    let Some(resource) = &raw.resource else {
        return Err(src.error_at(
            at,
            format_args!(
                "{subject}: no resource: generator = \"{generator}\" needs resource = \"{}\"",
                expected_shape(service)
            ),
        ));
    };
    let id = ResourceId::parse(resource.get_ref())
        .map_err(|e| src.error_at(resource.span().start, format_args!("{subject}: {e}")))?;
    if !fits(service, &id.resource) {
        return Err(src.error_at(
            resource.span().start,
            format_args!(
                "{subject}: resource is a {}, but generator = \"{generator}\" rotates the keys \
                 of {}: give its id, {}",
                id.describe(),
                match service {
                    Service::Storage => "a storage account",
                    Service::ServiceBus => "a Service Bus SAS rule",
                    Service::EventHubs => "an Event Hubs SAS rule",
                    Service::Cosmos => "a Cosmos DB account",
                },
                expected_shape(service)
            ),
        ));
    }
    let value = match &raw.value {
        None => {
            return Err(src.error_at(
                at,
                format_args!(
                    "{subject}: no value: set value = \"key\" (the secret holds the key itself) \
                     or \"connection-string\" (the connection string built from it)"
                ),
            ))
        }
        Some(value) => match value.get_ref().trim() {
            "key" => KeyForm::Key,
            "connection-string" => KeyForm::ConnectionString,
            other => {
                return Err(src.error_at(
                    value.span().start,
                    format_args!(
                        "{subject}: unknown value {other:?}: use \"key\" or \"connection-string\""
                    ),
                ))
            }
        },
    };
    let lro_timeout = match (&raw.lro_timeout, service) {
        (Some(timeout), Service::Storage | Service::ServiceBus | Service::EventHubs) => {
            return Err(src.error_at(
                timeout.span().start,
                format_args!(
                    "{subject}: lro_timeout applies only to generator = \"cosmos-db-key\" \
                     (the other services regenerate a key at once)"
                ),
            ))
        }
        (timeout, _) => read_duration(
            src,
            subject,
            Key::LroTimeout,
            timeout.as_ref(),
            Place::Credential,
        )?
        .map_or(DEFAULT_LRO_TIMEOUT, |s| s.value),
    };
    Ok(ResourceKeySpec {
        service,
        resource: id,
        value,
        lro_timeout: std::time::Duration::try_from(lro_timeout)
            .expect("read_duration refuses negative durations"),
        validity_configured: !matches!(validity_from, Place::BuiltIn),
    })
}
