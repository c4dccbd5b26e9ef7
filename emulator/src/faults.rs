//! Fault injection: latency, error statuses, dropped connections and corrupt bodies.
//!
//! Rules are matched in insertion order against the route name (see the crate docs) and,
//! optionally, the vault. Every matching rule's latency is added up; the first matching rule
//! that carries a status, drop or body fault decides the outcome. A rule with `count` is
//! consumed each time it matches and disappears when it reaches zero.

use serde::{Deserialize, Serialize};

/// One fault rule (also the JSON accepted by `POST /_admin/faults` and `[[fault]]` in a seed).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Route name (e.g. `secrets.list`) or `"*"` for every route.
    pub route: String,
    /// Only requests to this vault (Key Vault routes); `None` = any host.
    #[serde(default)]
    pub vault: Option<String>,
    /// Added before the response, in addition to any other fault.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// Answer with this status and the service's error body for it.
    #[serde(default)]
    pub status: Option<u16>,
    /// `Retry-After` seconds sent with `status`.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Close the TCP connection without any response.
    #[serde(default)]
    pub drop: bool,
    /// Carry the request out, then close the connection without its response: the write
    /// happened but the client cannot know (a lost answer, as on a flaky network).
    #[serde(default)]
    pub drop_after: bool,
    /// Answer 200 with a corrupt body.
    #[serde(default)]
    pub body: Option<FaultBody>,
    /// Answer as usual, but with this next-page link in a list answer (`nextLink`, or
    /// `@odata.nextLink` from Graph): a tampering proxy, or a service that never stops paging.
    #[serde(default)]
    pub next_link: Option<String>,
    /// Apply N times then expire; `None` = forever.
    #[serde(default)]
    pub count: Option<u32>,
}

impl FaultRule {
    /// A rule for `route` with no effect yet; combine with struct update syntax.
    pub fn new(route: impl Into<String>) -> Self {
        FaultRule {
            route: route.into(),
            vault: None,
            latency_ms: None,
            status: None,
            retry_after: None,
            drop: false,
            drop_after: false,
            body: None,
            next_link: None,
            count: None,
        }
    }
}

/// Corrupt 200 bodies, the failure modes of proxies and half-closed connections.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultBody {
    /// An HTML error page with status 200, as captive portals and misconfigured proxies send.
    Html,
    /// The real JSON response cut in half (the Content-Length matches the cut body).
    Truncated,
}

/// What the server must do for one request after consulting the rules.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FaultDecision {
    pub latency_ms: u64,
    pub action: Option<FaultAction>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    Drop,
    DropAfter,
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    Body(FaultBody),
    NextLink(String),
}

/// The active rules.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Vec<FaultRule>,
}

impl Faults {
    pub fn add(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// Consults (and consumes) the rules for one request.
    pub fn decide(&mut self, route: &str, vault: Option<&str>) -> FaultDecision {
        let mut decision = FaultDecision::default();
        for rule in &mut self.rules {
            if rule.count == Some(0) {
                continue;
            }
            if rule.route != "*" && rule.route != route {
                continue;
            }
            if let Some(v) = &rule.vault {
                if !vault.is_some_and(|x| x.eq_ignore_ascii_case(v)) {
                    continue;
                }
            }
            let action = if rule.drop {
                Some(FaultAction::Drop)
            } else if rule.drop_after {
                Some(FaultAction::DropAfter)
            } else if let Some(status) = rule.status {
                Some(FaultAction::Status {
                    status,
                    retry_after: rule.retry_after,
                })
            } else if let Some(body) = rule.body {
                Some(FaultAction::Body(body))
            } else {
                rule.next_link.clone().map(FaultAction::NextLink)
            };
            // A latency-only rule always applies; an action rule applies only while no earlier
            // rule has decided, so a later rule's count is not burnt without effect.
            if action.is_some() && decision.action.is_some() {
                continue;
            }
            decision.latency_ms += rule.latency_ms.unwrap_or(0);
            if action.is_some() {
                decision.action = action;
            }
            if let Some(c) = rule.count.as_mut() {
                *c -= 1;
            }
        }
        self.rules.retain(|r| r.count != Some(0));
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_expires_and_latency_adds() {
        let mut f = Faults::default();
        f.add(FaultRule {
            latency_ms: Some(5),
            ..FaultRule::new("*")
        });
        f.add(FaultRule {
            status: Some(429),
            retry_after: Some(1),
            count: Some(1),
            latency_ms: Some(2),
            ..FaultRule::new("secrets.list")
        });
        let d = f.decide("secrets.list", Some("demo"));
        assert_eq!(d.latency_ms, 7);
        assert_eq!(
            d.action,
            Some(FaultAction::Status {
                status: 429,
                retry_after: Some(1)
            })
        );
        let d = f.decide("secrets.list", Some("demo"));
        assert_eq!(d.action, None);
        assert_eq!(d.latency_ms, 5);
    }

    #[test]
    fn next_link_rules_decide_like_the_others() {
        let mut f = Faults::default();
        f.add(FaultRule {
            next_link: Some("https://elsewhere.localhost/secrets".into()),
            count: Some(1),
            ..FaultRule::new("secrets.list")
        });
        assert_eq!(
            f.decide("secrets.list", Some("demo")).action,
            Some(FaultAction::NextLink(
                "https://elsewhere.localhost/secrets".into()
            ))
        );
        assert_eq!(f.decide("secrets.list", Some("demo")).action, None);
    }

    #[test]
    fn vault_filter() {
        let mut f = Faults::default();
        f.add(FaultRule {
            drop: true,
            vault: Some("a".into()),
            ..FaultRule::new("*")
        });
        assert_eq!(f.decide("secrets.get", Some("b")).action, None);
        assert_eq!(
            f.decide("secrets.get", Some("A")).action,
            Some(FaultAction::Drop)
        );
    }
}
