//! Paged listings that end, and stay with the service they started at.
//!
//! A list answer names its next page by URL (Key Vault's `nextLink`, Graph's
//! `@odata.nextLink`). Whoever controls that answer (a hostile proxy, a tampered service)
//! controls where the next request goes and how long the listing lasts, so every next link is
//! admitted by a [`PageGuard`] before it is followed:
//! - it must have the origin (scheme, host, port) of the service the listing started at: the
//!   request that follows it carries that service's bearer token;
//! - it must not repeat an earlier link of the same listing (a loop never ends);
//! - a listing has at most [`MAX_PAGES`] pages, and one deadline for all of them.
//!
//! [`guarded_pages`] applies a guard to a pager of Microsoft's SDK crates (`into_pages()`):
//! each page's continuation is checked as soon as the page arrives, so a refused link is
//! never requested. (keyrot reads Microsoft Graph one application at a time, so nothing pages
//! by hand; `PageGuard::admit_link`, which takes a link as a service writes it, is there for
//! the fuzz targets and tests.)

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, Instant};

use azure_core::http::pager::{Page, PageIterator, PagerContinuation};
use futures::{Stream, TryStreamExt};
use url::Url;

/// At Key Vault's 25 items a page, 2.5 million items: more than any real listing, few enough
/// that a server inventing fresh links cannot keep a command going for long.
pub const MAX_PAGES: usize = 100_000;

/// Why a listing was stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageRefusal {
    /// The next link leads to another origin.
    ForeignOrigin { link: String, expected: String },
    /// The next link was already followed in this listing.
    Repeated { link: String, pages: usize },
    /// More than [`MAX_PAGES`] pages.
    TooManyPages { max: usize },
    /// The listing's deadline passed.
    Deadline { budget: Duration, pages: usize },
    /// A next link that is not a URL (relative links are resolved first).
    Unreadable { link: String },
}

impl fmt::Display for PageRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageRefusal::ForeignOrigin { link, expected } => write!(
                f,
                "the answer's next-page link leads to another origin ({link}); keyrot follows next-page links only within {expected}, where its token belongs, so it stopped the listing"
            ),
            PageRefusal::Repeated { link, pages } => write!(
                f,
                "the answer's next-page link repeats an earlier one ({link}) after {pages} page(s), so the listing would never end; keyrot stopped it"
            ),
            PageRefusal::TooManyPages { max } => write!(
                f,
                "the listing went on past {max} pages; keyrot stopped it"
            ),
            PageRefusal::Deadline { budget, pages } => write!(
                f,
                "the listing did not end within {} ({pages} page(s) read); raise --timeout if the service is just slow",
                crate::transport::fmt_duration(*budget)
            ),
            PageRefusal::Unreadable { link } => {
                write!(f, "the answer's next-page link is not a URL ({link})")
            }
        }
    }
}

impl std::error::Error for PageRefusal {}

/// Admits the next links of one listing.
#[derive(Debug)]
pub struct PageGuard {
    origin: url::Origin,
    seen: HashSet<String>,
    pages: usize,
    budget: Duration,
    deadline: Instant,
}

impl PageGuard {
    /// A guard for a listing of `service` (any URL of it: only its origin counts) that must
    /// end within `budget` from now.
    pub fn new(service: &Url, budget: Duration) -> PageGuard {
        PageGuard {
            origin: service.origin(),
            seen: HashSet::new(),
            pages: 0,
            budget,
            deadline: Instant::now() + budget,
        }
    }

    /// The instant by which the whole listing must have ended.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Counts one page read and admits (or refuses) the link to the next one.
    pub fn admit(&mut self, next: &Url) -> Result<(), PageRefusal> {
        self.pages += 1;
        if next.origin() != self.origin {
            return Err(PageRefusal::ForeignOrigin {
                link: next.to_string(),
                expected: self.origin.ascii_serialization(),
            });
        }
        self.admit_fresh(next.as_str())
    }

    /// [`PageGuard::admit`] for a link as the service wrote it: relative links are resolved
    /// against `base` (the URL of the page that named it), as the services define them. For
    /// fuzz targets and tests: no pager of keyrot's takes links this way today.
    #[doc(hidden)]
    pub fn admit_link(&mut self, base: &Url, link: &str) -> Result<Url, PageRefusal> {
        let next = base.join(link).map_err(|_| PageRefusal::Unreadable {
            link: link.to_owned(),
        })?;
        self.admit(&next)?;
        Ok(next)
    }

    /// A continuation token (the service builds the URL itself): only repeats and the page
    /// bound apply.
    fn admit_token(&mut self, token: &str) -> Result<(), PageRefusal> {
        self.pages += 1;
        self.admit_fresh(token)
    }

    fn admit_fresh(&mut self, key: &str) -> Result<(), PageRefusal> {
        if self.pages >= MAX_PAGES {
            return Err(PageRefusal::TooManyPages { max: MAX_PAGES });
        }
        if !self.seen.insert(key.to_owned()) {
            return Err(PageRefusal::Repeated {
                link: key.to_owned(),
                pages: self.pages,
            });
        }
        Ok(())
    }

    fn past_deadline(&self) -> PageRefusal {
        PageRefusal::Deadline {
            budget: self.budget,
            pages: self.pages,
        }
    }
}

/// A failed page: the service's error, or the guard's refusal.
#[derive(Debug)]
pub enum PageError {
    Service(azure_core::Error),
    Refused(PageRefusal),
}

impl From<azure_core::Error> for PageError {
    fn from(e: azure_core::Error) -> Self {
        PageError::Service(e)
    }
}

impl From<PageRefusal> for PageError {
    fn from(e: PageRefusal) -> Self {
        PageError::Refused(e)
    }
}

/// The items of each page of an SDK pager (`client.list_…(None)?.into_pages()`), page by page,
/// under `guard`. The stream ends after the first error; a refused next link is never requested.
pub fn guarded_pages<P>(
    pages: PageIterator<P>,
    guard: PageGuard,
) -> impl Stream<Item = Result<Vec<P::Item>, PageError>> + Send
where
    P: Page + Send + 'static,
    P::Item: Send,
{
    let state = Some((Box::pin(pages), guard));
    futures::stream::try_unfold(state, |state| async move {
        let Some((mut pages, mut guard)) = state else {
            return Ok(None);
        };
        let page = match tokio::time::timeout_at(guard.deadline().into(), pages.try_next()).await {
            Err(_) => return Err(PageError::Refused(guard.past_deadline())),
            Ok(page) => page?,
        };
        let Some(page) = page else {
            return Ok(None);
        };
        // Judge the link before anything polls the pager again: polling is what requests it.
        let more = match pages.continuation() {
            None => false,
            Some(PagerContinuation::Link(next)) => {
                guard.admit(next)?;
                true
            }
            Some(token) => {
                guard.admit_token(token.as_ref())?;
                true
            }
        };
        let items: Vec<P::Item> = page.into_items().await?.collect();
        Ok(Some((items, more.then_some((pages, guard)))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn guard() -> PageGuard {
        PageGuard::new(
            &url("https://myvault.vault.azure.net"),
            Duration::from_secs(30),
        )
    }

    #[test]
    fn links_within_the_origin_are_admitted_default_port_or_not() {
        let mut g = guard();
        g.admit(&url(
            "https://myvault.vault.azure.net:443/secrets?api-version=7.5&$skiptoken=a",
        ))
        .unwrap();
        g.admit(&url(
            "https://myvault.vault.azure.net/secrets?api-version=7.5&$skiptoken=b",
        ))
        .unwrap();
    }

    #[test]
    fn another_origin_is_refused_naming_the_link() {
        for foreign in [
            "https://evil.example/secrets?$skiptoken=a",
            "https://myvault.vault.azure.net.evil.example/secrets",
            "http://myvault.vault.azure.net/secrets",
            "https://myvault.vault.azure.net:8443/secrets",
            "https://other.vault.azure.net/secrets",
        ] {
            let refusal = guard().admit(&url(foreign)).unwrap_err();
            assert!(
                matches!(&refusal, PageRefusal::ForeignOrigin { link, .. } if link == foreign),
                "{foreign}: {refusal:?}"
            );
            let text = refusal.to_string();
            assert!(
                text.contains(foreign) && text.contains("https://myvault.vault.azure.net"),
                "{text}"
            );
        }
    }

    #[test]
    fn graph_style_links_resolve_against_the_page_that_named_them() {
        let mut g = PageGuard::new(&url("https://graph.microsoft.com"), Duration::from_secs(30));
        let base = url("https://graph.microsoft.com/v1.0/applications?$top=100");
        let next = g
            .admit_link(&base, "/v1.0/applications?$skiptoken=x")
            .unwrap();
        assert_eq!(
            next.as_str(),
            "https://graph.microsoft.com/v1.0/applications?$skiptoken=x"
        );
        // A scheme-relative link is another host.
        assert!(matches!(
            g.admit_link(&base, "//evil.example/v1.0/applications"),
            Err(PageRefusal::ForeignOrigin { .. })
        ));
        assert!(matches!(
            g.admit_link(&base, "https://[::1"),
            Err(PageRefusal::Unreadable { .. })
        ));
    }

    #[test]
    fn a_repeated_link_ends_the_listing() {
        let mut g = guard();
        let link = url("https://myvault.vault.azure.net/secrets?$skiptoken=same");
        g.admit(&link).unwrap();
        let refusal = g.admit(&link).unwrap_err();
        assert_eq!(
            refusal,
            PageRefusal::Repeated {
                link: link.to_string(),
                pages: 2
            }
        );
        assert!(refusal.to_string().contains("never end"), "{refusal}");
    }

    #[test]
    fn fresh_links_forever_hit_the_page_bound() {
        let mut g = guard();
        let mut refused = None;
        for i in 0..=MAX_PAGES {
            if let Err(e) = g.admit(&url(&format!(
                "https://myvault.vault.azure.net/secrets?$skiptoken={i}"
            ))) {
                refused = Some((i, e));
                break;
            }
        }
        let (at, refusal) = refused.expect("the bound stops an endless listing");
        assert_eq!(at + 1, MAX_PAGES);
        assert_eq!(refusal, PageRefusal::TooManyPages { max: MAX_PAGES });
    }

    #[test]
    fn tokens_are_checked_for_repeats() {
        let mut g = guard();
        g.admit_token("t1").unwrap();
        assert!(matches!(
            g.admit_token("t1"),
            Err(PageRefusal::Repeated { .. })
        ));
    }

    /// A page of numbers, as a pager of the SDK would yield it.
    struct Numbers(Vec<u32>);

    #[async_trait::async_trait]
    impl Page for Numbers {
        type Item = u32;
        type IntoIter = std::vec::IntoIter<u32>;
        async fn into_items(self) -> azure_core::Result<Self::IntoIter> {
            Ok(self.0.into_iter())
        }
    }

    /// A pager whose page `n` (from 0) links to `link(n)` (none: the last page), after `delay`;
    /// every request it makes is logged.
    fn pager(
        link: impl Fn(u32) -> Option<String> + Send + Sync + 'static,
        delay: Duration,
    ) -> (
        PageIterator<Numbers>,
        std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    ) {
        use azure_core::http::pager::{PagerResult, PagerState};
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let requests = log.clone();
        let link = std::sync::Arc::new(link);
        let pages = PageIterator::new(
            move |state: PagerState, _| {
                let (requests, link) = (requests.clone(), link.clone());
                Box::pin(async move {
                    let requested = match state {
                        PagerState::Initial => "first".to_owned(),
                        PagerState::More(c) => c.as_ref().to_owned(),
                    };
                    let n = {
                        let mut log = requests.lock().unwrap();
                        log.push(requested);
                        log.len() as u32 - 1
                    };
                    tokio::time::sleep(delay).await;
                    let response = Numbers(vec![n]);
                    Ok(match link(n) {
                        Some(next) => PagerResult::More {
                            response,
                            continuation: PagerContinuation::Link(url(&next)),
                        },
                        None => PagerResult::Done { response },
                    })
                })
            },
            None,
        );
        (pages, log)
    }

    async fn drain(
        pages: PageIterator<Numbers>,
        budget: Duration,
    ) -> (Vec<u32>, Option<PageError>) {
        let guard = PageGuard::new(&url("https://v.vault.azure.net"), budget);
        let stream = guarded_pages(pages, guard);
        futures::pin_mut!(stream);
        let mut items = Vec::new();
        loop {
            match stream.try_next().await {
                Ok(Some(page)) => items.extend(page),
                Ok(None) => return (items, None),
                Err(e) => return (items, Some(e)),
            }
        }
    }

    #[tokio::test]
    async fn every_page_of_a_proper_listing_arrives() {
        let (pages, log) = pager(
            |n| (n < 2).then(|| format!("https://v.vault.azure.net/secrets?$skiptoken={n}")),
            Duration::ZERO,
        );
        let (items, error) = drain(pages, Duration::from_secs(30)).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(items, vec![0, 1, 2]);
        assert_eq!(log.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_refused_link_is_never_requested() {
        let (pages, log) = pager(
            |_| Some("https://evil.example/secrets?$skiptoken=1".into()),
            Duration::ZERO,
        );
        let (items, error) = drain(pages, Duration::from_secs(30)).await;
        assert!(
            matches!(
                error,
                Some(PageError::Refused(PageRefusal::ForeignOrigin { .. }))
            ),
            "{error:?}"
        );
        // Not even the items of the page that named it are used.
        assert!(items.is_empty());
        assert_eq!(*log.lock().unwrap(), vec!["first".to_owned()]);
    }

    #[tokio::test]
    async fn a_listing_that_never_ends_stops_at_its_deadline() {
        // Fresh links forever, so only the deadline can end it.
        let (pages, log) = pager(
            |n| Some(format!("https://v.vault.azure.net/secrets?$skiptoken={n}")),
            Duration::from_millis(40),
        );
        let started = Instant::now();
        let (_, error) = drain(pages, Duration::from_millis(300)).await;
        assert!(
            matches!(
                error,
                Some(PageError::Refused(PageRefusal::Deadline { .. }))
            ),
            "{error:?}"
        );
        // The deadline cuts the page in flight short, so the listing ends at its budget.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(log.lock().unwrap().len() >= 2);
    }

    #[test]
    fn the_deadline_message_names_the_budget() {
        let g = PageGuard::new(&url("https://v.vault.azure.net"), Duration::from_secs(30));
        assert!(g.deadline() > Instant::now());
        let text = g.past_deadline().to_string();
        assert!(text.contains("30s") && text.contains("--timeout"), "{text}");
    }
}
