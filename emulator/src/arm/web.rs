//! `Microsoft.Web/sites` Key Vault references: `GET …/config/configreferences/appsettings`
//! (the list, `{"value": [ApiKVReference…], "nextLink": null}`), `GET …/appsettings/{name}` (one)
//! and `POST …/config/configreferences/appsettings/refresh` (re-resolve every reference now;
//! 200 with an empty body).
//!
//! An app setting is a reference when its value is `@Microsoft.KeyVault(SecretUri=https://
//! {vault}.vault.…/secrets/{name}[/{version}])` or `@Microsoft.KeyVault(VaultName=…;SecretName=
//! …[;SecretVersion=…])`. The emulated app resolves references against the emulator's own Key
//! Vault when it starts and on each refresh, and holds that version in between, like App
//! Service's cache (24 hours on the service; here until the next refresh). `status` is
//! `Resolved`, `VaultNotFound`, `SecretNotFound`, `SecretVersionNotFound` or `InvalidSyntax`;
//! `secretVersion` and `activeVersion` both show the version the app holds (the service may
//! leave `secretVersion` null for a reference without a version). The app's identity is taken
//! to be a system-assigned one with access to every vault (the emulator does not model the
//! vault's access policy for App Service).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{arm_time, now_ms, resource_not_found, Ctx};
use crate::http::Resp;
use crate::state::State;

pub const API_VERSIONS: &[&str] = &[
    "2025-05-01",
    "2024-11-01",
    "2024-04-01",
    "2023-12-01",
    "2023-01-01",
    "2022-09-01",
    "2022-03-01",
    "2021-03-01",
    "2021-02-01",
    "2020-12-01",
];

const TYPE: &str = "Microsoft.Web/sites";

pub struct Reference {
    pub raw: String,
    pub vault: Option<String>,
    pub secret: Option<String>,
    /// The version the reference pins, if any.
    pub pinned: Option<String>,
    /// The version the app holds now.
    pub held_version: Option<String>,
    pub status: &'static str,
}

pub struct Site {
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub app_settings: BTreeMap<String, String>,
    /// By setting name.
    pub references: BTreeMap<String, Reference>,
    /// When each refresh happened (Unix milliseconds).
    pub refreshes: Vec<i128>,
}

impl Site {
    pub fn from_seed(s: &super::SiteSeed) -> Site {
        let references = s
            .app_settings
            .iter()
            .filter_map(|(k, v)| parse_reference(v).map(|r| (k.clone(), r)))
            .collect();
        Site {
            resource_group: s.resource_group.clone(),
            name: s.name.clone(),
            location: s.location.clone(),
            app_settings: s.app_settings.clone(),
            references,
            refreshes: Vec::new(),
        }
    }

    pub fn admin(&self) -> Value {
        json!({
            "resource_group": self.resource_group,
            "name": self.name,
            "refreshes": self.refreshes.iter().map(|t| arm_time(*t)).collect::<Vec<_>>(),
            "references": self.references.iter().map(|(k, r)| (k.clone(), json!({
                "reference": r.raw, "status": r.status, "vaultName": r.vault,
                "secretName": r.secret, "secretVersion": r.held_version,
            }))).collect::<serde_json::Map<_, _>>(),
        })
    }
}

fn parse_reference(value: &str) -> Option<Reference> {
    let inner = value
        .trim()
        .strip_prefix("@Microsoft.KeyVault(")?
        .strip_suffix(')');
    let mut r = Reference {
        raw: value.to_owned(),
        vault: None,
        secret: None,
        pinned: None,
        held_version: None,
        status: "InvalidSyntax",
    };
    let Some(inner) = inner else { return Some(r) };
    for part in inner.split(';') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "secreturi" => {
                let rest = v.split_once("://").map_or(v, |(_, r)| r);
                let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
                r.vault = host.split('.').next().map(str::to_owned);
                let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
                if let ["secrets", name, tail @ ..] = segs.as_slice() {
                    r.secret = Some((*name).to_owned());
                    r.pinned = tail.first().map(|v| (*v).to_owned());
                }
            }
            "vaultname" => r.vault = Some(v.to_owned()),
            "secretname" => r.secret = Some(v.to_owned()),
            "secretversion" => r.pinned = Some(v.to_owned()).filter(|v| !v.is_empty()),
            _ => {}
        }
    }
    Some(r)
}

/// (Re-)resolves the references of every site (`refresh` = false) at start.
pub fn resolve_all(st: &mut State, _refresh: bool) {
    let State { arm, vaults, .. } = st;
    for site in &mut arm.sites {
        for r in site.references.values_mut() {
            resolve(r, vaults);
        }
    }
}

fn resolve(r: &mut Reference, vaults: &std::collections::HashMap<String, crate::state::Vault>) {
    let (Some(vault), Some(secret)) = (&r.vault, &r.secret) else {
        r.status = "InvalidSyntax";
        r.held_version = None;
        return;
    };
    let Some(v) = vaults.get(&vault.to_ascii_lowercase()) else {
        r.status = "VaultNotFound";
        r.held_version = None;
        return;
    };
    let Some(item) = v.secrets.get(&secret.to_ascii_uppercase()) else {
        r.status = "SecretNotFound";
        r.held_version = None;
        return;
    };
    let version = match &r.pinned {
        Some(p) => item.version(p).map(|x| x.id.clone()),
        None => item.latest().map(|x| x.id.clone()),
    };
    match version {
        Some(id) => {
            r.status = "Resolved";
            r.held_version = Some(id);
        }
        None => {
            r.status = if r.pinned.is_some() {
                "SecretVersionNotFound"
            } else {
                "SecretNotFound"
            };
            r.held_version = None;
        }
    }
}

fn details(r: &Reference) -> String {
    let vault = r.vault.as_deref().unwrap_or("");
    let secret = r.secret.as_deref().unwrap_or("");
    match r.status {
        "Resolved" => "Reference has been successfully resolved.".into(),
        "VaultNotFound" => format!("Key Vault reference was not able to be resolved because vault '{vault}' could not be found."),
        "SecretNotFound" => format!("Key Vault reference was not able to be resolved because secret '{secret}' could not be found in vault '{vault}'."),
        "SecretVersionNotFound" => format!("Key Vault reference was not able to be resolved because secret '{secret}' with version '{}' could not be found in vault '{vault}'.", r.pinned.as_deref().unwrap_or("")),
        _ => "Key Vault reference syntax is invalid.".into(),
    }
}

fn site_index(ctx: &Ctx<'_>, rg: &str, site: &str) -> Option<usize> {
    ctx.st.arm.sites.iter().position(|s| {
        s.resource_group.eq_ignore_ascii_case(rg) && s.name.eq_ignore_ascii_case(site)
    })
}

pub(crate) fn references(ctx: &mut Ctx<'_>, rg: &str, site: &str, setting: Option<String>) -> Resp {
    let Some(i) = site_index(ctx, rg, site) else {
        return resource_not_found(TYPE, site, rg);
    };
    let s = &ctx.st.arm.sites[i];
    let site_id = ctx.resource_id(&s.resource_group, TYPE, &s.name);
    let item = |k: &str, r: &Reference| {
        json!({
            "id": format!("{site_id}/config/configreferences/appsettings/{k}"),
            "name": k,
            "type": "Microsoft.Web/sites/config/configreferences",
            "location": s.location,
            "properties": {
                "reference": r.raw,
                "status": r.status,
                "vaultName": r.vault,
                "secretName": r.secret,
                "secretVersion": r.held_version,
                "identityType": {"type": "SystemAssigned"},
                "details": details(r),
                "source": "KeyVault",
                "activeVersion": r.held_version,
                "location": "ApplicationSetting",
            }
        })
    };
    match setting {
        None => {
            let value: Vec<Value> = s.references.iter().map(|(k, r)| item(k, r)).collect();
            Resp::json(200, &json!({"value": value, "nextLink": null, "id": null}))
        }
        Some(name) => match s
            .references
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&name))
        {
            Some((k, r)) => Resp::json(200, &item(k, r)),
            None => super::rp_error(
                404,
                "NotFound",
                &format!("Cannot find a Key Vault reference for the app setting '{name}'."),
            ),
        },
    }
}

pub(crate) fn refresh(ctx: &mut Ctx<'_>, rg: &str, site: &str) -> Resp {
    let Some(i) = site_index(ctx, rg, site) else {
        return resource_not_found(TYPE, site, rg);
    };
    let State { arm, vaults, .. } = &mut *ctx.st;
    let s = &mut arm.sites[i];
    for r in s.references.values_mut() {
        resolve(r, vaults);
    }
    s.refreshes.push(now_ms());
    Resp::empty(200)
}
