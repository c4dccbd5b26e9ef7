//! `login.localhost`: the Entra ID token endpoint and discovery documents, plus the token
//! sources a pipeline talks to before Entra: GitHub Actions' and Azure Pipelines' OIDC
//! endpoints and App Service's managed identity endpoint.

use serde_json::json;

use crate::http::{Req, Resp};
use crate::jwt;
use crate::state::{new_uuid, now, OidcInfo, Shared, TokenInfo};

/// The audience Entra requires of a federated client assertion.
pub const EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";
/// Lifetime of issued access tokens, as Entra reports it for app-only tokens.
pub const TOKEN_LIFETIME: i64 = 3599;
/// The audience the emulator's vaults accept.
pub const VAULT_AUDIENCE: &str = "https://vault.localhost";

const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Resources Entra knows in this emulated cloud; any other scope gets AADSTS500011, as a
/// resource that is not registered in the tenant would.
const KNOWN_RESOURCES: &[&str] = &[
    VAULT_AUDIENCE,
    "https://vault.azure.net",
    "https://management.azure.com",
    "https://management.core.windows.net",
    "https://graph.microsoft.com",
    crate::graph::GRAPH_APP_ID,
    "https://storage.azure.com",
    crate::devops::RESOURCE,
];

pub fn route_of(path: &str) -> &'static str {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        [_, "oauth2", "v2.0", "token"] | [_, "oauth2", "token"] => "token",
        [_, "v2.0", ".well-known", "openid-configuration"]
        | [_, ".well-known", "openid-configuration"]
        | ["common", "discovery", "instance"]
        | [_, "discovery", "v2.0", "keys"]
        | [_, "discovery", "keys"] => "openid-configuration",
        ["_github", "idtoken"] => "github-oidc",
        ["_ado", .., "oidctoken"] => "azure-pipelines-oidc",
        ["msi", "token"] => "msi",
        _ => "unknown",
    }
}

/// Adds the headers Entra puts on every response.
pub fn decorate(mut r: Resp, req: &Req) -> Resp {
    let mut add = |k: &str, v: String| {
        if !r.has_header(k) {
            r.headers.push((k.to_owned(), v));
        }
    };
    add("Cache-Control", "no-store, no-cache".into());
    add("Pragma", "no-cache".into());
    add("Expires", "-1".into());
    add(
        "Strict-Transport-Security",
        "max-age=31536000; includeSubDomains".into(),
    );
    add("X-Content-Type-Options", "nosniff".into());
    add("x-ms-request-id", new_uuid());
    add("x-ms-ests-server", "2.1.20000.4 - keyrot-emulator".into());
    if let Some(id) = req.header("client-request-id") {
        add("client-request-id", id.to_owned());
    }
    r
}

pub fn handle(shared: &Shared, route: &str, req: &Req) -> Resp {
    match route {
        "token" => token(shared, req),
        "openid-configuration" => discovery(shared, req),
        "github-oidc" => github_oidc(shared, req),
        "azure-pipelines-oidc" => pipelines_oidc(shared, req),
        "msi" => msi(shared, req),
        _ => Resp::text(
            404,
            "text/html; charset=utf-8",
            "<html><body><h2>404 - Not Found</h2></body></html>",
        ),
    }
}

fn timestamp(t: i64) -> String {
    let dt =
        time::OffsetDateTime::from_unix_timestamp(t).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    dt.format(&fmt).unwrap_or_default()
}

/// The AADSTS error envelope; the description ends with the trace/correlation/timestamp lines
/// exactly as Entra formats them.
pub fn aad_error(
    shared: &Shared,
    req: &Req,
    status: u16,
    error: &str,
    code: u32,
    text: &str,
) -> Resp {
    let trace = new_uuid();
    let correlation = req
        .header("client-request-id")
        .map(str::to_owned)
        .unwrap_or_else(new_uuid);
    let ts = timestamp(now());
    Resp::json(
        status,
        &json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {ts}"
            ),
            "error_codes": [code],
            "timestamp": ts,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("{}/error?code={code}", shared.login_base()),
        }),
    )
}

fn tenant_matches(shared: &Shared, tenant: &str) -> bool {
    tenant.eq_ignore_ascii_case(&shared.tenant_id)
}

fn tenant_not_found(shared: &Shared, req: &Req, tenant: &str) -> Resp {
    aad_error(
        shared,
        req,
        400,
        "invalid_request",
        90002,
        &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."),
    )
}

/// Maps a requested resource (scope without `/.default`) to the audience claim, or `None` when
/// Entra does not know it.
fn audience_for(resource: &str) -> Option<String> {
    let bare = resource.trim_end_matches('/');
    (KNOWN_RESOURCES.iter().any(|r| r.eq_ignore_ascii_case(bare))
        || crate::graph::is_graph_audience(bare)
        || crate::arm::is_arm_audience(bare))
    .then(|| resource.to_owned())
}

fn issue_token(shared: &Shared, client_id: &str, object_id: &str, audience: &str) -> (String, i64) {
    let iat = now();
    let exp = iat + TOKEN_LIFETIME;
    // App-only tokens carry the application permissions granted on their resource as `roles`.
    let roles: Vec<String> = if crate::graph::is_graph_audience(audience) {
        shared
            .lock()
            .clients
            .get(&client_id.to_ascii_lowercase())
            .map(|c| {
                c.graph_permissions
                    .iter()
                    .map(|p| p.as_str().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut claims = json!({
        "aud": audience,
        "iss": format!("https://sts.windows.net/{}/", shared.tenant_id),
        "iat": iat, "nbf": iat, "exp": exp,
        "aio": new_uuid(),
        "appid": client_id,
        "appidacr": "1",
        "idp": format!("https://sts.windows.net/{}/", shared.tenant_id),
        "oid": object_id,
        "rh": "0.emulator.",
        "sub": object_id,
        "tid": shared.tenant_id,
        "uti": new_uuid(),
        "ver": "1.0",
    });
    if !roles.is_empty() {
        claims["roles"] = json!(roles);
    }
    let token = jwt::mint(&claims);
    shared.lock().tokens.insert(
        token.clone(),
        TokenInfo {
            client_id: client_id.to_owned(),
            object_id: object_id.to_owned(),
            audience: audience.to_owned(),
            expires: exp,
            roles,
        },
    );
    (token, exp)
}

fn token(shared: &Shared, req: &Req) -> Resp {
    let tenant = req
        .path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    if req.method != "POST" {
        return aad_error(
            shared,
            req,
            400,
            "invalid_request",
            900561,
            &format!(
                "The endpoint only accepts POST, OPTIONS requests. Received a {} request.",
                req.method
            ),
        );
    }
    if !tenant_matches(shared, tenant) {
        return tenant_not_found(shared, req, tenant);
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let missing = |p: &str| {
        aad_error(
            shared,
            req,
            400,
            "invalid_request",
            900144,
            &format!("The request body must contain the following parameter: '{p}'."),
        )
    };
    let Some(grant_type) = get("grant_type") else {
        return missing("grant_type");
    };
    if grant_type != "client_credentials" {
        return aad_error(
            shared,
            req,
            400,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{grant_type}'."),
        );
    }
    let Some(client_id) = get("client_id") else {
        return missing("client_id");
    };
    let Some(scope) = get("scope") else {
        return missing("scope");
    };
    // MSAL may add OIDC scopes; client credentials take exactly one resource's /.default.
    let resource_scopes: Vec<&str> = scope
        .split(' ')
        .filter(|s| !s.is_empty() && !matches!(*s, "openid" | "profile" | "offline_access"))
        .collect();
    let resource = match resource_scopes.as_slice() {
        [one] if one.ends_with("/.default") => one.trim_end_matches("/.default"),
        _ => {
            return aad_error(
                shared,
                req,
                400,
                "invalid_scope",
                1002012,
                &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
            )
        }
    };
    let Some(audience) = audience_for(resource) else {
        return aad_error(
            shared,
            req,
            400,
            "invalid_resource",
            500011,
            &format!("The resource principal named {resource} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", shared.tenant_id),
        );
    };

    let t = now();
    let (object_id, outcome) = {
        let st = shared.lock();
        let Some(client) = st.clients.get(&client_id.to_ascii_lowercase()) else {
            drop(st);
            return aad_error(
                shared,
                req,
                400,
                "unauthorized_client",
                700016,
                &format!("Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", shared.tenant_id),
            );
        };
        let outcome = if let Some(secret) = get("client_secret") {
            check_secret(client, secret, time::OffsetDateTime::now_utc())
        } else if let Some(assertion) = get("client_assertion") {
            if get("client_assertion_type")
                != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            {
                Err((
                    400,
                    "invalid_request",
                    7000219,
                    "'client_assertion_type' is missing or invalid.".to_owned(),
                ))
            } else {
                check_assertion(&st.oidc_tokens, client, assertion, t)
            }
        } else {
            Err((
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".to_owned(),
            ))
        };
        (client.object_id.clone(), outcome)
    };
    if let Err((status, error, code, text)) = outcome {
        return aad_error(shared, req, status, error, code, &text);
    }
    let (token, _) = issue_token(shared, client_id, &object_id, &audience);
    Resp::json(
        200,
        &json!({
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": token,
        }),
    )
}

pub type AadFailure = (u16, &'static str, u32, String);

/// What the token endpoint decides for a client secret right now, without issuing a token;
/// `Err` carries (status, error, AADSTS code, text).
pub fn check_client_secret(
    shared: &Shared,
    client_id: &str,
    presented: &str,
) -> Result<(), AadFailure> {
    let st = shared.lock();
    let Some(client) = st.clients.get(&client_id.to_ascii_lowercase()) else {
        return Err((
            400,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'.",
                shared.tenant_id
            ),
        ));
    };
    check_secret(client, presented, time::OffsetDateTime::now_utc())
}

fn check_secret(
    client: &crate::state::Client,
    presented: &str,
    t: time::OffsetDateTime,
) -> Result<(), AadFailure> {
    let invalid = || {
        Err((
            401,
            "invalid_client",
            7000215,
            format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", client.client_id),
        ))
    };
    let Some(secret) = client
        .secrets
        .iter()
        .find(|s| s.value.expose() == presented)
    else {
        return invalid();
    };
    // Not yet replicated to this STS replica, or not yet started: indistinguishable from a
    // wrong secret.
    if !secret_started(secret, t) {
        return invalid();
    }
    if secret_expired(secret, t) {
        return Err((
            401,
            "invalid_client",
            7000222,
            format!("The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", client.client_id),
        ));
    }
    Ok(())
}

/// Replicated and past its start: the token endpoint knows it at `t`.
fn secret_started(secret: &crate::state::ClientSecret, t: time::OffsetDateTime) -> bool {
    t >= secret.usable_from && t >= secret.start
}

fn secret_expired(secret: &crate::state::ClientSecret, t: time::OffsetDateTime) -> bool {
    secret.end.is_some_and(|e| e <= t)
}

/// Whether the token endpoint would accept this secret at `t`.
pub fn secret_accepted(secret: &crate::state::ClientSecret, t: time::OffsetDateTime) -> bool {
    secret_started(secret, t) && !secret_expired(secret, t)
}

fn check_assertion(
    minted: &std::collections::HashMap<String, OidcInfo>,
    client: &crate::state::Client,
    assertion: &str,
    t: i64,
) -> Result<(), AadFailure> {
    let Some(claims) = jwt::claims(assertion) else {
        return Err((
            400,
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.".to_owned(),
        ));
    };
    let claim = |k: &str| {
        claims
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let Some(info) = minted.get(assertion) else {
        return Err((
            400,
            "invalid_client",
            700211,
            format!("No matching federated identity record found for presented assertion issuer '{}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation", claim("iss")),
        ));
    };
    if info.expires <= t {
        return Err((
            400,
            "invalid_client",
            700024,
            format!("Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .", timestamp(t), timestamp(info.expires - 600), timestamp(info.expires)),
        ));
    }
    if info.audience != EXCHANGE_AUDIENCE || !client.federated_subjects.contains(&info.subject) {
        return Err((
            400,
            "invalid_client",
            70021,
            format!("No matching federated identity record found for presented assertion. Assertion Issuer: '{}'. Assertion Subject: '{}'. Assertion Audience: '{}'. https://learn.microsoft.com/entra/workload-id/workload-identity-federation", info.issuer, info.subject, info.audience),
        ));
    }
    Ok(())
}

fn discovery(shared: &Shared, req: &Req) -> Resp {
    let login = shared.login_base();
    let host = login.trim_start_matches("https://").to_owned();
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    if segs.first() == Some(&"common") && segs.get(1) == Some(&"discovery") {
        // MSAL instance discovery: this "cloud" has a single alias.
        return Resp::json(
            200,
            &json!({
                "tenant_discovery_endpoint": format!("{login}/{}/v2.0/.well-known/openid-configuration", shared.tenant_id),
                "api-version": "1.1",
                "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
            }),
        );
    }
    let tenant = segs.first().copied().unwrap_or("");
    if !tenant_matches(shared, tenant) {
        return tenant_not_found(shared, req, tenant);
    }
    let t = &shared.tenant_id;
    if segs.contains(&"keys") {
        return Resp::json(
            200,
            &json!({"keys": std::iter::once(json!({"kty": "RSA", "use": "sig", "kid": jwt::KEY_ID,
                "x5t": jwt::KEY_ID, "n": crate::state::random_b64url(256), "e": "AQAB",
                "issuer": format!("{login}/{t}/v2.0")}))
                .chain(jwt::signing_jwk())
                .collect::<Vec<_>>()}),
        );
    }
    let v2 = segs.get(1) == Some(&"v2.0");
    let (issuer, oauth) = if v2 {
        (
            format!("{login}/{t}/v2.0"),
            format!("{login}/{t}/oauth2/v2.0"),
        )
    } else {
        (
            format!("https://sts.windows.net/{t}/"),
            format!("{login}/{t}/oauth2"),
        )
    };
    let keys = if v2 {
        format!("{login}/{t}/discovery/v2.0/keys")
    } else {
        format!("{login}/{t}/discovery/keys")
    };
    Resp::json(
        200,
        &json!({
            "token_endpoint": format!("{oauth}/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": keys,
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer,
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": format!("{login}/{t}/openid/userinfo"),
            "authorization_endpoint": format!("{oauth}/authorize"),
            "device_authorization_endpoint": format!("{oauth}/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{oauth}/logout"),
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": format!("{login}/{t}/kerberos"),
            "tenant_region_scope": "EU",
            "cloud_instance_name": host,
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }),
    )
}

/// The Azure DevOps / Actions service (both run the same VSS stack) answer for a bad token.
fn vss_unauthorized() -> Resp {
    Resp::json(
        401,
        &json!({
            "$id": "1", "innerException": null,
            "message": "TF400813: The user '' is not authorized to access this resource.",
            "typeName": "Microsoft.TeamFoundation.Framework.Server.UnauthorizedRequestException, Microsoft.TeamFoundation.Framework.Server",
            "typeKey": "UnauthorizedRequestException", "errorCode": 0, "eventId": 3000
        }),
    )
}

fn vss_bad_request(message: &str) -> Resp {
    Resp::json(
        400,
        &json!({
            "$id": "1", "innerException": null, "message": message,
            "typeName": "Microsoft.TeamFoundation.Core.WebApi.InvalidArgumentValueException, Microsoft.TeamFoundation.Core.WebApi",
            "typeKey": "InvalidArgumentValueException", "errorCode": 0, "eventId": 3000
        }),
    )
}

fn bearer(req: &Req) -> Option<&str> {
    let h = req.header("authorization")?;
    let (scheme, rest) = h.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
}

/// Records a minted OIDC token so the token endpoint accepts it as a client assertion.
pub fn mint_oidc(
    shared: &Shared,
    issuer: &str,
    subject: &str,
    audience: &str,
    extra: serde_json::Value,
) -> String {
    let iat = now();
    let exp = iat + 600;
    let mut claims = json!({
        "jti": new_uuid(), "sub": subject, "aud": audience, "iss": issuer,
        "nbf": iat, "iat": iat, "exp": exp,
    });
    if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    let token = jwt::mint(&claims);
    shared.lock().oidc_tokens.insert(
        token.clone(),
        OidcInfo {
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            audience: audience.to_owned(),
            expires: exp,
        },
    );
    token
}

fn github_oidc(shared: &Shared, req: &Req) -> Resp {
    if req.method != "GET" {
        return Resp::empty(405);
    }
    let seed = shared.lock().github.clone();
    let Some(seed) = seed else {
        return vss_unauthorized();
    };
    if bearer(req) != Some(seed.request_token.expose()) {
        return vss_unauthorized();
    }
    let audience = req.query("audience").unwrap_or("https://github.com/keyrot");
    let owner_repo = seed
        .subject
        .strip_prefix("repo:")
        .and_then(|s| s.split(':').next())
        .unwrap_or("keyrot/keyrot")
        .to_owned();
    let token = mint_oidc(
        shared,
        GITHUB_ISSUER,
        &seed.subject,
        audience,
        json!({"repository": owner_repo, "repository_owner": owner_repo.split('/').next().unwrap_or(""),
               "ref": "refs/heads/main", "event_name": "workflow_dispatch", "runner_environment": "github-hosted"}),
    );
    Resp::json(200, &json!({"count": 1, "value": token}))
}

fn pipelines_oidc(shared: &Shared, req: &Req) -> Resp {
    let resp = || -> Resp {
        if req.method != "POST" {
            return Resp::empty(405);
        }
        let seed = shared.lock().pipelines.clone();
        let Some(seed) = seed else {
            return vss_unauthorized();
        };
        if bearer(req) != Some(seed.access_token.expose()) {
            return vss_unauthorized();
        }
        if req.query("api-version").is_none() {
            return vss_bad_request("No api-version was supplied for the POST request.");
        }
        let Some(sc) = req.query("serviceConnectionId").filter(|s| !s.is_empty()) else {
            return vss_bad_request("Value cannot be null.\r\nParameter name: serviceConnectionId");
        };
        let subject = seed
            .subject
            .clone()
            .unwrap_or_else(|| format!("sc://{}/{}/{sc}", seed.organization, seed.project));
        let issuer = format!(
            "https://vstoken.dev.azure.com/{}",
            crate::state::derived_guid(&seed.organization)
        );
        let token = mint_oidc(shared, &issuer, &subject, EXCHANGE_AUDIENCE, json!({}));
        Resp::json(200, &json!({"oidcToken": token}))
    }();
    resp.header("x-vss-e2eid", new_uuid())
        .header(
            "x-msedge-ref",
            format!(
                "Ref A: {} Ref B: EMU Ref C: {}",
                new_uuid(),
                timestamp(now())
            ),
        )
        .header("activityid", new_uuid())
}

fn msi(shared: &Shared, req: &Req) -> Resp {
    let bad = |status: u16, message: &str| {
        Resp::json(
            status,
            &json!({"statusCode": status, "message": message, "correlationId": new_uuid()}),
        )
    };
    if req.method != "GET" {
        return bad(
            405,
            "The requested resource does not support the HTTP method.",
        );
    }
    let seed = shared.lock().msi.clone();
    let Some(seed) = seed else {
        return bad(400, "Unable to load the proper Managed Identity.");
    };
    if req.header("x-identity-header") != Some(seed.header.expose()) {
        return bad(
            401,
            "The X-IDENTITY-HEADER header is missing or does not match.",
        );
    }
    if req.query("api-version") != Some("2019-08-01") {
        return bad(
            400,
            "The api-version is missing or not supported. Use 2019-08-01.",
        );
    }
    let Some(resource) = req.query("resource").filter(|r| !r.is_empty()) else {
        return bad(400, "The resource parameter is required.");
    };
    if let Some(cid) = req.query("client_id") {
        if !cid.eq_ignore_ascii_case(&seed.client_id) {
            return bad(400, "Unable to load the proper Managed Identity.");
        }
    }
    if req.query("object_id").is_some() || req.query("msi_res_id").is_some() {
        let oid = seed
            .object_id
            .clone()
            .unwrap_or_else(|| crate::state::derived_guid(&seed.client_id));
        if req
            .query("object_id")
            .is_some_and(|o| !o.eq_ignore_ascii_case(&oid))
        {
            return bad(400, "Unable to load the proper Managed Identity.");
        }
    }
    let Some(audience) = audience_for(resource) else {
        return bad(400, &format!("AADSTS500011: The resource principal named {resource} was not found in the tenant named {}.", shared.tenant_id));
    };
    let oid = seed
        .object_id
        .clone()
        .unwrap_or_else(|| crate::state::derived_guid(&seed.client_id));
    let (token, exp) = issue_token(shared, &seed.client_id, &oid, &audience);
    // `expires_on` is a string of Unix seconds: azure_identity parses it as such.
    Resp::json(
        200,
        &json!({
            "access_token": token,
            "expires_on": exp.to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": seed.client_id,
        }),
    )
}
