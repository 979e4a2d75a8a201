//! The words config generation understands: the services requirements
//! may name (with their secret, common parameters and default object), the
//! objects tools act on, the verbs, and the words that carry no meaning.

/// A service the requirements may name: how it is recognised, the secret it
/// needs, the parameters every one of its tools takes, and what it holds by
/// default.
pub(super) struct Service {
    pub(super) words: &'static [&'static str],
    pub(super) id: &'static str,
    pub(super) label: &'static str,
    pub(super) env: Option<&'static str>,
    pub(super) params: &'static [(&'static str, &'static str)],
    pub(super) object: &'static str,
    /// Reached over the network (MCP `openWorldHint`).
    pub(super) external: bool,
}

const SERVICES: &[Service] = &[
    Service {
        words: &["github"],
        id: "github",
        label: "GitHub",
        env: Some("GITHUB_TOKEN"),
        params: &[
            (
                "owner",
                "Repository owner (user or organisation), e.g. octocat",
            ),
            ("repo", "Repository name, e.g. hello-world"),
        ],
        object: "issue",
        external: true,
    },
    Service {
        words: &["gitlab"],
        id: "gitlab",
        label: "GitLab",
        env: Some("GITLAB_TOKEN"),
        params: &[("project", "Project path, e.g. group/project")],
        object: "issue",
        external: true,
    },
    Service {
        words: &["slack"],
        id: "slack",
        label: "Slack",
        env: Some("SLACK_BOT_TOKEN"),
        params: &[("channel", "Channel ID or name, e.g. #general")],
        object: "message",
        external: true,
    },
    Service {
        words: &["discord"],
        id: "discord",
        label: "Discord",
        env: Some("DISCORD_BOT_TOKEN"),
        params: &[("channel_id", "Discord channel ID")],
        object: "message",
        external: true,
    },
    Service {
        words: &["jira"],
        id: "jira",
        label: "Jira",
        env: Some("JIRA_API_TOKEN"),
        params: &[("project_key", "Jira project key, e.g. OPS")],
        object: "ticket",
        external: true,
    },
    Service {
        words: &["linear"],
        id: "linear",
        label: "Linear",
        env: Some("LINEAR_API_KEY"),
        params: &[("team", "Linear team key, e.g. ENG")],
        object: "issue",
        external: true,
    },
    Service {
        words: &["notion"],
        id: "notion",
        label: "Notion",
        env: Some("NOTION_TOKEN"),
        params: &[],
        object: "page",
        external: true,
    },
    Service {
        words: &[
            "postgres",
            "postgresql",
            "mysql",
            "mariadb",
            "sqlite",
            "database",
            "databases",
            "sql",
            "db",
        ],
        id: "database",
        label: "the database",
        env: Some("DATABASE_URL"),
        params: &[],
        object: "record",
        external: false,
    },
    Service {
        words: &["email", "emails", "gmail", "smtp", "mailbox", "inbox"],
        id: "email",
        label: "e-mail",
        env: Some("SMTP_PASSWORD"),
        params: &[],
        object: "email",
        external: true,
    },
    Service {
        words: &["calendar", "calendars"],
        id: "calendar",
        label: "the calendar",
        env: Some("CALENDAR_API_TOKEN"),
        params: &[("calendar_id", "Calendar identifier, e.g. primary")],
        object: "event",
        external: true,
    },
    Service {
        words: &["weather", "forecast", "forecasts"],
        id: "weather",
        label: "the weather service",
        env: Some("WEATHER_API_KEY"),
        params: &[(
            "location",
            "City name or latitude,longitude, e.g. Paris or 48.85,2.35",
        )],
        object: "forecast",
        external: true,
    },
    Service {
        words: &["s3", "bucket", "buckets"],
        id: "s3",
        label: "S3",
        env: Some("AWS_PROFILE"),
        params: &[("bucket", "S3 bucket name")],
        object: "object",
        external: true,
    },
    Service {
        words: &["stripe"],
        id: "stripe",
        label: "Stripe",
        env: Some("STRIPE_API_KEY"),
        params: &[],
        object: "payment",
        external: true,
    },
    Service {
        words: &[
            "filesystem",
            "file",
            "files",
            "directory",
            "directories",
            "folder",
            "folders",
            "disk",
        ],
        id: "files",
        label: "the allowed directory",
        env: None,
        params: &[],
        object: "file",
        external: false,
    },
    Service {
        words: &[
            "web", "website", "websites", "webpage", "webpages", "url", "urls", "internet",
        ],
        id: "web",
        label: "the web",
        env: None,
        params: &[],
        object: "webpage",
        external: true,
    },
];

/// Things tools act on: (singular, plural).
const OBJECTS: &[(&str, &str)] = &[
    ("issue", "issues"),
    ("pull_request", "pull_requests"),
    ("comment", "comments"),
    ("message", "messages"),
    ("channel", "channels"),
    ("repository", "repositories"),
    ("file", "files"),
    ("directory", "directories"),
    ("page", "pages"),
    ("webpage", "webpages"),
    ("ticket", "tickets"),
    ("record", "records"),
    ("row", "rows"),
    ("table", "tables"),
    ("email", "emails"),
    ("event", "events"),
    ("forecast", "forecasts"),
    ("commit", "commits"),
    ("user", "users"),
    ("document", "documents"),
    ("branch", "branches"),
    ("invoice", "invoices"),
    ("payment", "payments"),
    ("release", "releases"),
    ("task", "tasks"),
    ("object", "objects"),
];
const OBJECT_ALIASES: &[(&str, &str)] = &[
    ("pr", "pull_request"),
    ("prs", "pull_requests"),
    ("repo", "repository"),
    ("repos", "repositories"),
    ("folder", "directory"),
    ("folders", "directories"),
    ("doc", "document"),
    ("docs", "documents"),
    ("mail", "email"),
    ("mails", "emails"),
    ("todos", "tasks"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
    Read,
    Search,
    Send,
    Post,
    Create,
    Update,
    Delete,
    Write,
    Query,
    Comment,
}

const VERBS: &[(&[&str], Verb)] = &[
    (
        &[
            "read",
            "reads",
            "get",
            "gets",
            "fetch",
            "fetches",
            "retrieve",
            "retrieves",
            "list",
            "lists",
            "view",
            "views",
            "show",
            "shows",
            "browse",
            "browses",
            "monitor",
            "monitors",
            "watch",
            "watches",
            "check",
            "checks",
            "track",
            "tracks",
            "download",
            "downloads",
            "summarize",
            "summarizes",
            "summarise",
            "summarises",
            "load",
            "loads",
        ],
        Verb::Read,
    ),
    (
        &["search", "searches", "find", "finds", "lookup"],
        Verb::Search,
    ),
    (
        &["send", "sends", "notify", "notifies", "alert", "alerts"],
        Verb::Send,
    ),
    (
        &[
            "post",
            "posts",
            "publish",
            "publishes",
            "announce",
            "announces",
        ],
        Verb::Post,
    ),
    (
        &[
            "create",
            "creates",
            "open",
            "opens",
            "add",
            "adds",
            "make",
            "makes",
            "schedule",
            "schedules",
            "book",
            "books",
            "insert",
            "inserts",
        ],
        Verb::Create,
    ),
    (
        &[
            "update", "updates", "edit", "edits", "modify", "modifies", "change", "changes",
            "close", "closes", "assign", "assigns", "rename", "renames", "move", "moves",
        ],
        Verb::Update,
    ),
    (
        &[
            "delete", "deletes", "remove", "removes", "archive", "archives", "cancel", "cancels",
        ],
        Verb::Delete,
    ),
    (
        &[
            "write", "writes", "save", "saves", "store", "stores", "upload", "uploads",
        ],
        Verb::Write,
    ),
    (
        &["query", "queries", "run", "runs", "execute", "executes"],
        Verb::Query,
    ),
    (&["comment", "comments", "reply", "replies"], Verb::Comment),
];

pub(super) const PRONOUNS: &[&str] = &["them", "it", "those", "these", "they"];
pub(super) const LIST_WORDS: &[&str] = &["list", "lists", "browse", "browses"];

pub(super) const STOPWORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "to", "of", "for", "in", "on", "with", "that", "which", "tool",
    "tools", "server", "mcp", "runs", "run", "using", "use", "uses", "via", "from", "into", "some",
    "my", "our", "it", "is", "be", "can", "should", "want", "need", "needs", "please", "i", "we",
    "me", "also", "then", "all", "any", "by", "as", "at", "its", "this",
];

pub(super) fn find_service(word: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.words.contains(&word))
}

/// `(singular, plural)` and whether `word` was the plural.
pub(super) fn find_object(word: &str) -> Option<((&'static str, &'static str), bool)> {
    let canonical = OBJECT_ALIASES
        .iter()
        .find(|(alias, _)| *alias == word)
        .map_or(word, |(_, c)| *c);
    OBJECTS.iter().find_map(|&(s, p)| {
        if s == canonical {
            Some(((s, p), false))
        } else if p == canonical {
            Some(((s, p), true))
        } else {
            None
        }
    })
}

pub(super) fn object_of(singular: &str) -> (&'static str, &'static str) {
    OBJECTS
        .iter()
        .copied()
        .find(|(s, _)| *s == singular)
        .unwrap_or(("item", "items"))
}

pub(super) fn find_verb(word: &str) -> Option<Verb> {
    VERBS
        .iter()
        .find(|(words, _)| words.contains(&word))
        .map(|(_, v)| *v)
}
