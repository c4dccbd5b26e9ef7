//! Service discovery, as Microsoft's clients do it before any call: `OPTIONS {org}/_apis`
//! lists each resource's location id, route template and versions, and
//! `GET {org}/_apis/ResourceAreas` says which host serves each area (Release Management is on
//! `vsrm.`). Only the resources this emulator serves are listed.

use serde_json::{json, Value};

use crate::http::Resp;

/// (location id, area, resource, route template, resource version, released version)
type Location = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    u32,
    &'static str,
);

const MAIN: &[Location] = &[
    (
        "e81700f7-3be2-46de-8624-2eb35882fcaa",
        "Location",
        "ResourceAreas",
        "_apis/{resource}/{areaId}",
        1,
        "0.0",
    ),
    (
        "f5b09dd5-9d54-45a1-8b5a-1c8287d634cc",
        "distributedtask",
        "variablegroups",
        "{project}/_apis/{area}/{resource}/{groupId}",
        2,
        "7.1",
    ),
    (
        "ef5b7057-ffc3-4c77-bbad-c10b4a4abcc7",
        "distributedtask",
        "variablegroups",
        "_apis/{area}/{resource}/{groupId}",
        2,
        "7.1",
    ),
    (
        "28e1305e-2afe-47bf-abaf-cbb0e6a91988",
        "pipelines",
        "pipelines",
        "{project}/_apis/{resource}/{pipelineId}",
        1,
        "7.1",
    ),
    (
        "7859261e-d2e9-4a68-b820-a5d84cc5bb3d",
        "pipelines",
        "runs",
        "{project}/_apis/pipelines/{pipelineId}/{resource}/{runId}",
        1,
        "7.1",
    ),
];

const RELEASE: &[Location] = &[
    (
        "d8f96f24-8ea7-4cb6-baab-2df8fc515665",
        "Release",
        "definitions",
        "{project}/_apis/{area}/{resource}/{definitionId}",
        4,
        "7.1",
    ),
    (
        "a166fde7-27ad-408e-ba75-703c2cc9d500",
        "Release",
        "releases",
        "{project}/_apis/{area}/{resource}/{releaseId}",
        8,
        "7.1",
    ),
];

/// The answer to `OPTIONS {org}/_apis` on the main (`vsrm` = false) or Release host.
pub fn options(vsrm: bool) -> Resp {
    let value: Vec<Value> = (if vsrm { RELEASE } else { MAIN })
        .iter()
        .map(|(id, area, resource, template, version, released)| {
            json!({
                "id": id, "area": area, "resourceName": resource, "routeTemplate": template,
                "resourceVersion": version, "minVersion": 1.0, "maxVersion": 7.1,
                "releasedVersion": released,
            })
        })
        .collect();
    Resp::json(200, &json!({"count": value.len(), "value": value}))
}

/// `GET {org}/_apis/ResourceAreas`: `web` and `vsrm` are the organization's two roots.
pub fn resource_areas(web: &str, vsrm: &str) -> Resp {
    let value = json!([
        {"id": "a85b8835-c1a1-4aac-ae97-1c3d0ba72dbd", "name": "distributedtask", "locationUrl": format!("{web}/")},
        {"id": "2e0bf237-8973-4ec9-a581-9c3d679d1776", "name": "pipelines", "locationUrl": format!("{web}/")},
        {"id": "5d6898bb-45ec-463f-95f9-54d49c71752e", "name": "build", "locationUrl": format!("{web}/")},
        {"id": "efc2f575-36ef-48e9-b672-0c6fb4a48ac5", "name": "Release", "locationUrl": format!("{vsrm}/")},
    ]);
    Resp::json(200, &json!({"count": 4, "value": value}))
}
