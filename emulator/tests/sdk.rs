//! Microsoft's Rust SDK (azure_identity + azure_security_keyvault_secrets), unmodified, against
//! the emulator: challenge handling, token acquisition, set/get and paging.

mod common;

use std::sync::Arc;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use azure_security_keyvault_secrets::models::SetSecretParameters;
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use common::*;
use futures::TryStreamExt as _;

#[tokio::test]
async fn rust_sdk_set_get_and_list() {
    let env = start().await;
    let transport = Transport::new(Arc::new(env.http.clone()));
    let mut custom = CustomConfiguration::default();
    custom.authority_host = env.emu.authority_host();
    let cloud = Arc::new(CloudConfiguration::from(custom));
    let client_options = ClientOptions {
        transport: Some(transport),
        cloud: Some(cloud),
        ..Default::default()
    };
    let credential = ClientSecretCredential::new(
        env.emu.tenant_id(),
        APP.to_owned(),
        APP_SECRET.to_owned().into(),
        Some(ClientSecretCredentialOptions {
            client_options: client_options.clone(),
        }),
    )
    .unwrap();
    let client = SecretClient::new(
        &env.vault("kv1"),
        credential,
        Some(SecretClientOptions {
            client_options,
            ..Default::default()
        }),
    )
    .unwrap();

    let params = SetSecretParameters {
        value: Some("from-the-sdk".into()),
        ..Default::default()
    };
    let set = client
        .set_secret("sdk-secret", params.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(set.value.as_deref(), Some("from-the-sdk"));

    let got = client
        .get_secret("sdk-secret", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(got.value.as_deref(), Some("from-the-sdk"));

    let mut pager = client.list_secret_properties(None).unwrap();
    let mut n = 0;
    while let Some(item) = pager.try_next().await.unwrap() {
        assert!(item.id.is_some());
        n += 1;
    }
    assert!(n >= 4, "{n}");
    // The first PUT went out without a body and was challenged.
    let routes: Vec<String> = env.emu.requests().iter().map(|r| r.route.clone()).collect();
    assert_eq!(routes[0], "challenge", "{routes:?}");
    assert!(routes.contains(&"token".to_owned()));
}
