//! A credential's consumers: the copies keyrot updates once a new value is committed
//! ([`copies`]: Azure DevOps variable groups, GitHub secrets) and the runs it then starts
//! ([`runs`]: YAML pipelines, classic releases, GitHub workflows).
//!
//! [`Services`] holds one client per service, built the first time a target needs it, and what
//! a run learns once (group, pipeline and definition ids, keyrot's identity on each service).
//! Nothing here journals: the protocol in [`super::run`] marks each step before and after.
//! No value ever goes into a message: errors are built from names and the services' texts.

pub mod copies;
pub mod runs;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use azure_core::credentials::TokenCredential;
use tokio::sync::OnceCell;

use super::config::DevOpsOrganization;
use crate::auth::github::GithubAuth;
use crate::auth::{AuthEnv, DevopsCredential};
use crate::devops::{DevopsClient, Organization};
use crate::github::GithubClient;
use crate::transport::KeyrotTransport;

// The variable that moves `https://dev.azure.com` (tests, the emulator).
use crate::devops::URL_ENV as DEVOPS_URL_ENV;

/// The clients of one keyrot run, built on first use.
pub struct Services {
    env: AuthEnv,
    azure: Arc<dyn TokenCredential>,
    transport: Arc<KeyrotTransport>,
    devops: Mutex<HashMap<String, DevopsClient>>,
    devops_identity: Mutex<HashMap<String, Arc<OnceCell<String>>>>,
    github: OnceCell<Result<Arc<GithubClient>, String>>,
    github_actor: OnceCell<String>,
    /// Resolved ids, keyed by what was looked up (`kind org/project/name`).
    resolved: Mutex<HashMap<String, crate::devops::Definition>>,
    /// Variable group ids the plan resolved, keyed like `resolved`: the write then reads the
    /// group by id at once.
    group_ids: Mutex<HashMap<String, u32>>,
    /// The wait between a variable group write and its re-read.
    devops_settle: Option<std::time::Duration>,
    /// Azure Resource Manager (`--arm-url`): resource keys and the consumers that cache them.
    arm: Option<crate::arm::ArmClient>,
}

impl Services {
    pub fn new(
        env: AuthEnv,
        azure: Arc<dyn TokenCredential>,
        transport: Arc<KeyrotTransport>,
    ) -> Services {
        Services {
            env,
            azure,
            transport,
            devops: Mutex::default(),
            devops_identity: Mutex::default(),
            github: OnceCell::new(),
            github_actor: OnceCell::new(),
            resolved: Mutex::default(),
            group_ids: Mutex::default(),
            devops_settle: None,
            arm: None,
        }
    }

    /// The ARM client (`--arm-url`) for resource keys and ARM-hosted copies.
    pub fn with_arm(mut self, arm: crate::arm::ArmClient) -> Services {
        self.arm = Some(arm);
        self
    }

    /// The ARM client; `Err` only where a run was built without one (a bug, said plainly).
    pub fn arm(&self) -> Result<&crate::arm::ArmClient, String> {
        self.arm
            .as_ref()
            .ok_or_else(|| "keyrot was started without an Azure Resource Manager client".into())
    }

    /// The Azure credential every Azure service here is reached with.
    pub fn azure_credential(&self) -> Arc<dyn TokenCredential> {
        self.azure.clone()
    }

    /// The shared transport (timeouts, retries, `--ca-cert`).
    pub fn transport(&self) -> &Arc<KeyrotTransport> {
        &self.transport
    }

    /// The wait between a variable group write and its re-read (the client's default else).
    pub fn with_devops_settle(mut self, settle: std::time::Duration) -> Services {
        self.devops_settle = Some(settle);
        self
    }

    /// The client for an organization, as the config names it.
    fn devops(&self, organization: &DevOpsOrganization) -> Result<DevopsClient, String> {
        let service = self.env.get(DEVOPS_URL_ENV).map(str::to_owned);
        let service_url = service
            .as_deref()
            .map(|s| {
                url::Url::parse(s.trim()).map_err(|e| format!("{DEVOPS_URL_ENV} is not a URL: {e}"))
            })
            .transpose()?;
        // Refuses an organization URL on another host than the service's.
        organization.base_url(service_url.as_ref())?;
        let key = organization.name.to_ascii_lowercase();
        let mut clients = self.devops.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let org = Organization::parse(&organization.name, service.as_deref())?;
        let azure = self.azure.clone();
        let credential = DevopsCredential::choose(&self.env, move || azure);
        let mut client = DevopsClient::new(org, credential, &self.transport);
        if let Some(settle) = self.devops_settle {
            client = client.with_settle(settle);
        }
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// Who keyrot is in an organization (asked once per run).
    async fn devops_identity(&self, client: &DevopsClient) -> Result<String, String> {
        let cell = {
            let mut cells = self
                .devops_identity
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            cells
                .entry(client.organization().name.to_ascii_lowercase())
                .or_default()
                .clone()
        };
        cell.get_or_try_init(|| async { client.identity().await.map_err(|e| e.to_string()) })
            .await
            .cloned()
    }

    /// The GitHub client (`Err`: no credential, or a malformed one, said once per run).
    pub async fn github(&self) -> Result<Arc<GithubClient>, String> {
        self.github
            .get_or_init(|| async {
                let auth = GithubAuth::from_env(&self.env)?;
                GithubClient::new(&auth, &self.transport)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .await
            .clone()
    }

    /// The login GitHub records as the actor of what keyrot starts (asked once per run).
    async fn github_actor(&self, client: &GithubClient) -> Result<String, String> {
        self.github_actor
            .get_or_try_init(|| async { client.actor_login().await.map_err(|e| e.to_string()) })
            .await
            .cloned()
    }

    fn group_key(organization: &DevOpsOrganization, project: &str, group: &str) -> String {
        format!(
            "group {}/{}/{}",
            organization.name.to_ascii_lowercase(),
            project.to_lowercase(),
            group.to_lowercase()
        )
    }

    fn remember_group(
        &self,
        organization: &DevOpsOrganization,
        project: &str,
        group: &str,
        id: u32,
    ) {
        self.group_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(Self::group_key(organization, project, group), id);
    }

    /// The group as the write names it: its id when the plan resolved it, else as written.
    fn group_for_write(
        &self,
        organization: &DevOpsOrganization,
        project: &str,
        group: &str,
    ) -> String {
        self.group_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&Self::group_key(organization, project, group))
            .map_or_else(|| group.to_owned(), u32::to_string)
    }

    /// A pipeline or release definition id, looked up once per run.
    async fn definition<F, Fut>(
        &self,
        key: String,
        look_up: F,
    ) -> Result<crate::devops::Definition, String>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<
            Output = Result<crate::devops::Definition, crate::devops::DevopsError>,
        >,
    {
        if let Some(found) = self
            .resolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(found.clone());
        }
        let found = look_up().await.map_err(|e| e.to_string())?;
        self.resolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, found.clone());
        Ok(found)
    }
}
