//! `Microsoft.EventHub/namespaces` authorization rules at namespace and event hub level:
//! `listKeys` and `regenerateKeys`, with the same bodies, connection strings and data-plane
//! SAS checks as Service Bus (see [`super::servicebus`], which carries both). An Event Hubs
//! namespace's endpoint is `{namespace}.servicebus.localhost` too, as the service's is
//! `{namespace}.servicebus.windows.net`; `POST /{eventhub}/messages` sends an event.

pub const API_VERSIONS: &[&str] = &[
    "2026-01-01",
    "2025-05-01-preview",
    "2024-05-01-preview",
    "2024-01-01",
    "2023-01-01-preview",
    "2022-10-01-preview",
    "2022-01-01-preview",
    "2021-11-01",
    "2021-06-01-preview",
    "2021-01-01-preview",
    "2017-04-01",
];
