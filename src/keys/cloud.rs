//! Which cloud the ARM URL (`--arm-url`) belongs to, and the host names of its services.
//!
//! | ARM host | storage suffix | Service Bus / Event Hubs | Cosmos DB |
//! |---|---|---|---|
//! | `management.azure.com` | `core.windows.net` | `servicebus.windows.net` | `documents.azure.com` |
//! | `management.chinacloudapi.cn` | `core.chinacloudapi.cn` | `servicebus.chinacloudapi.cn` | `documents.azure.cn` |
//! | `management.usgovcloudapi.net` | `core.usgovcloudapi.net` | `servicebus.usgovcloudapi.net` | `documents.azure.us` |
//! | `management.localhost:{port}` (the emulator) | `localhost:{port}` | `servicebus.localhost:{port}` | `documents.localhost:{port}` |
//!
//! So the emulator's hosts are `{account}.blob.localhost:{port}`,
//! `{namespace}.servicebus.localhost:{port}` and `{account}.documents.localhost:{port}`
//! (`*.localhost` resolves to loopback inside keyrot's transport).

use url::Url;

/// A cloud keyrot knows the service hosts of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    Public,
    China,
    UsGovernment,
    /// keyrot's emulator, whose ARM is `https://management.localhost:{port}`.
    Emulator {
        port: u16,
    },
}

impl Cloud {
    /// The cloud of an ARM URL (`https://management.azure.com`, …). Unknown hosts are refused
    /// with the list of known ones: keyrot will not guess where keys may be sent.
    pub fn from_arm_url(arm_url: &str) -> Result<Cloud, String> {
        let url =
            Url::parse(arm_url.trim()).map_err(|e| format!("invalid ARM URL {arm_url:?}: {e}"))?;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = url.port_or_known_default().unwrap_or(443);
        match host.as_str() {
            "management.azure.com" => Ok(Cloud::Public),
            "management.chinacloudapi.cn" => Ok(Cloud::China),
            "management.usgovcloudapi.net" => Ok(Cloud::UsGovernment),
            "management.localhost" => Ok(Cloud::Emulator { port }),
            _ => Err(format!(
                "unknown cloud for ARM URL {arm_url:?}: keyrot knows https://management.azure.com, https://management.chinacloudapi.cn, https://management.usgovcloudapi.net and the emulator's https://management.localhost:PORT"
            )),
        }
    }

    fn port_suffix(self) -> String {
        match self {
            Cloud::Emulator { port } if port != 443 => format!(":{port}"),
            _ => String::new(),
        }
    }

    /// A storage connection string's `EndpointSuffix` (`core.windows.net`; the emulator's is
    /// `localhost:{port}`, so `{account}.blob.{suffix}` is its blob host).
    pub fn storage_suffix(self) -> String {
        match self {
            Cloud::Public => "core.windows.net".to_owned(),
            Cloud::China => "core.chinacloudapi.cn".to_owned(),
            Cloud::UsGovernment => "core.usgovcloudapi.net".to_owned(),
            Cloud::Emulator { .. } => format!("localhost{}", self.port_suffix()),
        }
    }

    /// `{account}.blob.core.windows.net` (with `:{port}` for the emulator).
    pub fn blob_host(self, account: &str) -> String {
        format!("{account}.blob.{}", self.storage_suffix())
    }

    /// A Service Bus or Event Hubs namespace's host: `{namespace}.servicebus.windows.net`.
    pub fn service_bus_host(self, namespace: &str) -> String {
        let domain = match self {
            Cloud::Public => "servicebus.windows.net",
            Cloud::China => "servicebus.chinacloudapi.cn",
            Cloud::UsGovernment => "servicebus.usgovcloudapi.net",
            Cloud::Emulator { .. } => "servicebus.localhost",
        };
        format!("{namespace}.{domain}{}", self.port_suffix())
    }

    /// A Cosmos DB account's endpoint as the portal writes it in connection strings:
    /// `https://{account}.documents.azure.com:443/`.
    pub fn cosmos_endpoint(self, account: &str) -> String {
        match self {
            Cloud::Public => format!("https://{account}.documents.azure.com:443/"),
            Cloud::China => format!("https://{account}.documents.azure.cn:443/"),
            Cloud::UsGovernment => format!("https://{account}.documents.azure.us:443/"),
            Cloud::Emulator { .. } => {
                format!(
                    "https://{account}.documents.localhost{}/",
                    self.port_suffix()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_come_from_the_arm_host() {
        assert_eq!(
            Cloud::from_arm_url("https://management.azure.com"),
            Ok(Cloud::Public)
        );
        assert_eq!(
            Cloud::from_arm_url("https://MANAGEMENT.chinacloudapi.cn/"),
            Ok(Cloud::China)
        );
        assert_eq!(
            Cloud::from_arm_url("https://management.usgovcloudapi.net:443"),
            Ok(Cloud::UsGovernment)
        );
        assert_eq!(
            Cloud::from_arm_url("https://management.localhost:8443"),
            Ok(Cloud::Emulator { port: 8443 })
        );
        let error = Cloud::from_arm_url("https://management.example.com").unwrap_err();
        assert!(error.contains("unknown cloud"), "{error}");
        assert!(Cloud::from_arm_url("not a url").is_err());
    }

    #[test]
    fn service_hosts_per_cloud() {
        let emulator = Cloud::Emulator { port: 8443 };
        assert_eq!(
            Cloud::Public.blob_host("sto1"),
            "sto1.blob.core.windows.net"
        );
        assert_eq!(
            Cloud::China.blob_host("sto1"),
            "sto1.blob.core.chinacloudapi.cn"
        );
        assert_eq!(
            Cloud::UsGovernment.blob_host("sto1"),
            "sto1.blob.core.usgovcloudapi.net"
        );
        assert_eq!(emulator.blob_host("sto1"), "sto1.blob.localhost:8443");
        assert_eq!(
            Cloud::Public.service_bus_host("ns1"),
            "ns1.servicebus.windows.net"
        );
        assert_eq!(
            Cloud::China.service_bus_host("ns1"),
            "ns1.servicebus.chinacloudapi.cn"
        );
        assert_eq!(
            Cloud::UsGovernment.service_bus_host("ns1"),
            "ns1.servicebus.usgovcloudapi.net"
        );
        assert_eq!(
            emulator.service_bus_host("ns1"),
            "ns1.servicebus.localhost:8443"
        );
        assert_eq!(
            Cloud::Public.cosmos_endpoint("db1"),
            "https://db1.documents.azure.com:443/"
        );
        assert_eq!(
            Cloud::China.cosmos_endpoint("db1"),
            "https://db1.documents.azure.cn:443/"
        );
        assert_eq!(
            Cloud::UsGovernment.cosmos_endpoint("db1"),
            "https://db1.documents.azure.us:443/"
        );
        assert_eq!(
            emulator.cosmos_endpoint("db1"),
            "https://db1.documents.localhost:8443/"
        );
        // The emulator on 443 needs no port.
        assert_eq!(
            Cloud::Emulator { port: 443 }.blob_host("s"),
            "s.blob.localhost"
        );
    }
}
