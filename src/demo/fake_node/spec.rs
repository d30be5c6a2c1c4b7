//! What a fake node is: its tokens, routes, behaviour and response cache, and
//! the specs of the demo cluster.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// API token scope, as in `user_api_tokens.scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    Api,
    Mcp,
    Both,
}

#[derive(Debug, Clone)]
pub struct FakeToken {
    pub user: String,
    pub token: String,
    pub scope: TokenScope,
}

/// How a smoke route answers on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeRoute {
    /// 200 with an OpenAI-shaped completion from this upstream model.
    Answers { model: String },
    /// The provider cannot be reached: 500 `{"detail":"Connection error."}`.
    ProviderDown,
    /// Cooldown or manual disable: 503.
    Unavailable,
    /// 200 with `"aisbf_error": true` (every provider of a rotation failed, notifyerrors on).
    SoftError,
}

/// What the node does with every request, for fault tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    Normal,
    /// Accepts, then never answers.
    Hang,
    /// 200 with bytes that are not JSON nor UTF-8.
    Garbage,
    /// 200 with a JSON body of this many bytes.
    Huge(usize),
    /// Bare-text 500, like an unhandled exception in AISBF.
    ServerError,
    /// A hostile node for the secrets test: echoes the request's
    /// `Authorization` header and these strings (config secrets) back in JSON
    /// bodies, error texts, bare-text 500s and `Location` headers.
    Echo(Vec<String>),
}

/// Stored chat answers by request key, like AISBF's response cache in Redis.
pub type ResponseStore = Arc<Mutex<HashMap<String, Value>>>;

/// Where a node's response cache lives. AISBF answers a cache hit with the
/// stored body, so nodes sharing one store repeat the same `id`.
#[derive(Debug, Clone)]
pub enum FakeResponseCache {
    /// The store shared by every `Cluster` node of one [`FakeCluster`] (one
    /// Redis); a node started alone gets a store of its own.
    Cluster,
    /// This store, shared with whichever nodes hold a clone of it.
    Shared(ResponseStore),
    /// Its own memory cache: Redis was unreachable when the node started.
    Private,
    /// `response_cache.enabled = false`: every request goes upstream.
    Disabled,
}

/// One fake node's state: what its own config files and database hold.
#[derive(Debug, Clone)]
pub struct FakeNodeSpec {
    pub name: String,
    pub version: String,
    pub auth_enabled: bool,
    pub global_tokens: Vec<String>,
    /// User tokens in this node's database.
    pub tokens: Vec<FakeToken>,
    /// Users' model ids as this node lists them on /api/u/{user}/models (one
    /// list for every user). Like 0.99.92, only rotations and autoselects.
    pub models: Vec<String>,
    /// Users' provider ids, listed on /api/u/{user}/providers.
    pub user_providers: Vec<String>,
    /// Users' rotation ids, listed on /api/u/{user}/rotations.
    pub user_rotations: Vec<String>,
    /// Users' autoselect ids, listed on /api/u/{user}/autoselects.
    pub user_autoselects: Vec<String>,
    pub providers: Vec<String>,
    pub rotations: Vec<String>,
    pub autoselect: Vec<String>,
    pub routes: BTreeMap<String, FakeRoute>,
    pub behaviour: Behaviour,
    /// Added before every answer.
    pub delay: Duration,
    /// Added before the node's first answer only (a cold start).
    pub first_delay: Duration,
    pub response_cache: FakeResponseCache,
}

/// The user, tokens and routes of the demo and of most fast tests.
pub mod demo {
    pub const USER: &str = "alice";
    pub const TOKEN: &str = "demo-alice-token-0001";
    pub const MCP_TOKEN: &str = "demo-alice-mcp-token-0001";
    pub const BOB_TOKEN: &str = "demo-bob-token-0001";
    pub const GLOBAL_TOKEN: &str = "demo-global-token-0001";
    pub const ROUTE_OK: &str = "user-provider/local-ollama";
    pub const ROUTE_ROTATION: &str = "user-rotation/support-private-rotation";
}

impl FakeNodeSpec {
    /// A healthy node of the demo cluster.
    pub fn healthy(name: &str) -> Self {
        let mut routes = BTreeMap::new();
        routes.insert(
            demo::ROUTE_OK.to_string(),
            FakeRoute::Answers {
                model: "llama3".into(),
            },
        );
        routes.insert(
            demo::ROUTE_ROTATION.to_string(),
            FakeRoute::Answers {
                model: "gpt-4o-mini".into(),
            },
        );
        Self {
            name: name.into(),
            version: "0.99.92".into(),
            auth_enabled: true,
            global_tokens: vec![demo::GLOBAL_TOKEN.into()],
            tokens: vec![
                FakeToken {
                    user: demo::USER.into(),
                    token: demo::TOKEN.into(),
                    scope: TokenScope::Both,
                },
                FakeToken {
                    user: demo::USER.into(),
                    token: demo::MCP_TOKEN.into(),
                    scope: TokenScope::Mcp,
                },
                FakeToken {
                    user: "bob".into(),
                    token: demo::BOB_TOKEN.into(),
                    scope: TokenScope::Both,
                },
            ],
            models: vec![
                "rotation/support-private-rotation".into(),
                "autoselect/chat-default".into(),
            ],
            user_providers: vec!["local-ollama".into(), "openai-team".into()],
            user_rotations: vec!["support-private-rotation".into()],
            user_autoselects: vec!["chat-default".into()],
            providers: vec!["openai".into(), "anthropic".into(), "ollama".into()],
            rotations: vec!["default-rotation".into()],
            autoselect: vec!["autoselect".into()],
            routes,
            behaviour: Behaviour::Normal,
            delay: Duration::ZERO,
            first_delay: Duration::ZERO,
            response_cache: FakeResponseCache::Cluster,
        }
    }

    /// A node that silently runs on its own SQLite file: its database knows no
    /// users, so it rejects every user token and lists no user models.
    pub fn on_private_sqlite(name: &str) -> Self {
        let mut spec = Self::healthy(name);
        spec.tokens.clear();
        spec.models.clear();
        spec.user_providers.clear();
        spec.user_rotations.clear();
        spec.user_autoselects.clear();
        spec
    }
}
