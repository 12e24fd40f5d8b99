//! Rate limits, the way Rocket.Chat sets them (spec R1.10):
//! - every `/api/v1` route allows `API_Enable_Rate_Limiter_Limit_Calls_Default` calls per client
//!   address in a window of `API_Enable_Rate_Limiter_Limit_Time_Default` ms that starts with the
//!   first call; callers with `api-bypass-rate-limit` are exempt, and so is everybody in test mode;
//! - failed logins block further attempts for a user (`Block_Multiple_Failed_Logins_*_By_User`)
//!   and for a client address (`..._By_Ip`) until the unblock time after the last failure has
//!   passed; a successful login forgives the failures before it.
//!
//! Counters live in this replica's memory, as Rocket.Chat's own limiter does: with N replicas behind
//! a balancer a client gets up to N times the limit. They are bounded in number, so a flood of
//! distinct addresses costs a bounded amount of memory.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use moka::sync::Cache;
use serde_json::json;

use crate::authorization::{API_BYPASS_RATE_LIMIT, Authorization};
use crate::error::{Error, Result};
use crate::model::User;
use crate::settings::{self, Settings};

/// The most counters kept per kind (API windows, login failures); the least recently used go.
const MAX_COUNTERS: u64 = 100_000;
/// A counter nobody touched for this long is dropped; longer than any sensible window.
const IDLE: Duration = Duration::from_secs(3600);

/// What the limiter answered for one API call, for the `X-RateLimit-*` headers.
#[derive(Clone, Copy, Debug)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    /// When the window ends, in milliseconds since the epoch (`X-RateLimit-Reset`).
    pub reset_at_ms: i64,
    reset_in: Duration,
    allowed: bool,
}

impl Quota {
    /// Rocket.Chat's refusal: `error-too-many-requests` (429), with the wait in the message and
    /// in `details`.
    pub fn check(&self) -> Result<()> {
        if self.allowed {
            return Ok(());
        }
        let millis = i64::try_from(self.reset_in.as_millis()).unwrap_or(i64::MAX);
        let seconds = self.reset_in.as_secs_f64().ceil() as u64;
        Err(Error::meteor(
            TOO_MANY_REQUESTS,
            Some(&format!(
                "Error, too many requests. Please slow down. You must wait {seconds} seconds before trying this endpoint again."
            )),
            Some(json!({"timeToReset": millis, "seconds": seconds})),
        ))
    }
}

/// The error code Rocket.Chat answers with 429 (R1.5).
pub const TOO_MANY_REQUESTS: &str = "error-too-many-requests";

/// Calls counted in one window, which starts with the first call.
struct Window {
    started: Instant,
    calls: u32,
}

/// Failed logins since the last success.
struct Failures {
    count: u32,
    last: Instant,
}

#[derive(Clone)]
pub struct Throttle {
    settings: Settings,
    authorization: Authorization,
    /// Off in test mode (Rocket.Chat's `TEST_MODE`), where suites call the same route hundreds of
    /// times from one address.
    api_limits: bool,
    windows: Cache<(String, IpAddr), Arc<Mutex<Window>>>,
    failures: Cache<LoginKey, Arc<Mutex<Failures>>>,
}

#[derive(Clone, Hash, PartialEq, Eq)]
enum LoginKey {
    User(String),
    Ip(IpAddr),
}

fn counters<K, V>() -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(MAX_COUNTERS)
        .time_to_idle(IDLE)
        .build()
}

impl Throttle {
    pub fn new(settings: Settings, authorization: Authorization, api_limits: bool) -> Self {
        Throttle {
            settings,
            authorization,
            api_limits,
            windows: counters(),
            failures: counters(),
        }
    }

    /// Count one call of `route` (method and path pattern) from `client`. `None` when the call is
    /// not limited: the limiter is off, or `caller` may bypass it.
    pub fn api_call(&self, route: &str, client: IpAddr, caller: Option<&User>) -> Option<Quota> {
        if !self.limits_api() {
            return None;
        }
        if caller.is_some_and(|user| {
            self.authorization
                .has_permission(user, API_BYPASS_RATE_LIMIT)
        }) {
            return None;
        }
        let limit = positive(self.settings.int(settings::RATE_LIMIT_CALLS));
        let interval = Duration::from_millis(
            u64::try_from(self.settings.int(settings::RATE_LIMIT_TIME)).unwrap_or(0),
        );
        if limit == 0 || interval.is_zero() {
            return None;
        }
        let window = self.windows.get_with((route.to_owned(), client), || {
            Arc::new(Mutex::new(Window {
                started: Instant::now(),
                calls: 0,
            }))
        });
        let mut window = window.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if now.duration_since(window.started) >= interval {
            *window = Window {
                started: now,
                calls: 0,
            };
        }
        window.calls = window.calls.saturating_add(1);
        let reset_in = interval.saturating_sub(now.duration_since(window.started));
        Some(Quota {
            limit,
            remaining: limit.saturating_sub(window.calls),
            reset_at_ms: Utc::now().timestamp_millis()
                + i64::try_from(reset_in.as_millis()).unwrap_or(i64::MAX / 2),
            reset_in,
            allowed: window.calls <= limit,
        })
    }

    /// Whether API calls are limited at all, so callers can skip finding out who is calling.
    pub fn limits_api(&self) -> bool {
        self.api_limits && self.settings.bool(settings::RATE_LIMITER_ENABLED)
    }

    /// Run a login `attempt` for `username` (the name or address given; none for a resume token)
    /// from `client`, unless either is blocked; count a refused attempt as a failure.
    pub async fn guard_login<T>(
        &self,
        username: Option<&str>,
        client: IpAddr,
        attempt: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        self.login_allowed(username, client)?;
        let outcome = attempt.await;
        match &outcome {
            Ok(_) => self.login_attempted(username, client, true),
            Err(Error::Unauthenticated(_)) => self.login_attempted(username, client, false),
            // Storage trouble says nothing about the password.
            Err(_) => {}
        }
        outcome
    }

    /// Refuse a login attempt while `username` or `client` is blocked by earlier failures.
    fn login_allowed(&self, username: Option<&str>, client: IpAddr) -> Result<()> {
        if !self.settings.bool(settings::BLOCK_FAILED_LOGINS) {
            return Ok(());
        }
        if let Some(rule) = self.ip_rule()
            && self.blocked(&LoginKey::Ip(client), rule)
        {
            return Err(Error::LoginBlocked {
                code: "error-login-blocked-for-ip",
                reason: "Login has been temporarily blocked for this IP",
            });
        }
        if let (Some(username), Some(rule)) = (username, self.user_rule())
            && self.blocked(&LoginKey::User(username.to_lowercase()), rule)
        {
            return Err(Error::LoginBlocked {
                code: "error-login-blocked-for-user",
                reason: "Login has been temporarily blocked for this User",
            });
        }
        Ok(())
    }

    /// Record the outcome of a login attempt that was allowed.
    fn login_attempted(&self, username: Option<&str>, client: IpAddr, succeeded: bool) {
        let mut keys = vec![LoginKey::Ip(client)];
        keys.extend(username.map(|name| LoginKey::User(name.to_lowercase())));
        for key in keys {
            if succeeded {
                self.failures.invalidate(&key);
                continue;
            }
            let entry = self.failures.get_with(key, || {
                Arc::new(Mutex::new(Failures {
                    count: 0,
                    last: Instant::now(),
                }))
            });
            let mut failures = entry.lock().unwrap_or_else(|p| p.into_inner());
            failures.count = failures.count.saturating_add(1);
            failures.last = Instant::now();
        }
    }

    fn blocked(&self, key: &LoginKey, (attempts, unblock_after): (u32, Duration)) -> bool {
        self.failures.get(key).is_some_and(|entry| {
            let failures = entry.lock().unwrap_or_else(|p| p.into_inner());
            failures.count >= attempts && failures.last.elapsed() < unblock_after
        })
    }

    fn user_rule(&self) -> Option<(u32, Duration)> {
        self.rule(
            settings::BLOCK_FAILED_LOGINS_BY_USER,
            settings::FAILED_LOGINS_UNTIL_USER_BLOCK,
            settings::USER_UNBLOCK_MINUTES,
        )
    }

    fn ip_rule(&self) -> Option<(u32, Duration)> {
        self.rule(
            settings::BLOCK_FAILED_LOGINS_BY_IP,
            settings::FAILED_LOGINS_UNTIL_IP_BLOCK,
            settings::IP_UNBLOCK_MINUTES,
        )
    }

    fn rule(&self, enabled: &str, attempts: &str, minutes: &str) -> Option<(u32, Duration)> {
        let attempts = positive(self.settings.int(attempts));
        let minutes = u64::try_from(self.settings.int(minutes)).unwrap_or(0);
        (self.settings.bool(enabled) && attempts > 0 && minutes > 0)
            .then(|| (attempts, Duration::from_secs(minutes * 60)))
    }
}

fn positive(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}
