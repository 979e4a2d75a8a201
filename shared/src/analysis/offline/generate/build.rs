//! One generated tool from a verb, a service and an object: its name,
//! description, input schema and annotations. [`build_tool`] picks the
//! shape for the verb (some verbs have a special shape for files, web
//! pages, the weather, databases or e-mail); each shape is one function.

use serde_json::{json, Map, Value};

use super::vocabulary::{Service, Verb};

pub(super) fn string_param(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn limit_param() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20,
           "description": "Maximum number of items to return (1 to 100)"})
}

fn human(object: &str) -> String {
    object.replace('_', " ")
}

/// Objects with an open/closed state to filter by and to change.
fn has_state(singular: &str) -> bool {
    matches!(singular, "issue" | "pull_request" | "ticket" | "task")
}

/// One generated tool: its name, description, parameters and annotations.
/// The arms are tried in order: the special shapes before the general one
/// of the same verb.
pub(super) fn build_tool(
    verb: Verb,
    service: &Service,
    object: (&str, &str),
    plural: bool,
) -> Value {
    let mut d = Draft::new(service, object, plural);
    let singular = d.singular;
    let shape = match verb {
        Verb::Read | Verb::Search if d.is_file => read_files(&mut d, verb),
        Verb::Read if singular == "webpage" || singular == "page" && service.id == "web" => {
            fetch_web_page(&mut d)
        }
        Verb::Read if service.id == "weather" => weather_forecast(&mut d),
        Verb::Read | Verb::Query | Verb::Search if service.id == "database" => {
            query_database(&mut d)
        }
        Verb::Read if plural => list(&mut d),
        Verb::Read | Verb::Query => get_one(&mut d),
        Verb::Search => search(&mut d),
        Verb::Send | Verb::Post if singular == "email" => send_email(&mut d),
        Verb::Send | Verb::Post => send_or_post(&mut d, verb),
        Verb::Write if d.is_file => write_file(&mut d),
        Verb::Comment => comment(&mut d),
        Verb::Create | Verb::Write => create(&mut d),
        Verb::Update => update(&mut d),
        Verb::Delete => delete(&mut d),
    };
    d.finish(shape)
}

/// A tool being built: what it acts on, and its parameters so far (the
/// service's own ones first, all required).
struct Draft<'a> {
    service: &'a Service,
    singular: &'a str,
    plural_name: &'a str,
    /// The tool works on several objects at once (`list_…`).
    plural: bool,
    /// Files and directories are named by a `path`, not an identifier.
    is_file: bool,
    /// `_github` in `list_github_issues`; empty for the generic services
    /// (files, web).
    svc: String,
    /// ` in GitHub` in descriptions; empty for the generic services.
    in_svc: String,
    props: Vec<(String, Value)>,
    required: Vec<String>,
}

/// What a call does to the world, for the MCP annotations.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Effect {
    ReadOnly,
    /// Adds something (a message, an issue) without changing what exists.
    Additive,
    /// Changes or removes what exists.
    Destructive,
}

/// What a verb's shape decides besides the parameters.
struct Shape {
    name: String,
    description: String,
    effect: Effect,
}

impl Shape {
    fn new(name: impl Into<String>, description: impl Into<String>, effect: Effect) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            effect,
        }
    }
}

impl<'a> Draft<'a> {
    fn new(service: &'a Service, object: (&'a str, &'a str), plural: bool) -> Self {
        let (singular, plural_name) = object;
        let generic = matches!(service.id, "files" | "web");
        let mut draft = Self {
            service,
            singular,
            plural_name,
            plural,
            is_file: matches!(singular, "file" | "directory"),
            svc: if generic {
                String::new()
            } else {
                format!("_{}", service.id)
            },
            in_svc: if generic {
                String::new()
            } else {
                format!(" in {}", service.label)
            },
            props: Vec::new(),
            required: Vec::new(),
        };
        for (p, d) in service.params {
            draft.require(p, string_param(d));
        }
        draft
    }

    /// A parameter the caller must give.
    fn require(&mut self, name: &str, schema: Value) {
        self.props.push((name.to_owned(), schema));
        self.required.push(name.to_owned());
    }

    /// A parameter the caller may leave out.
    fn allow(&mut self, name: &str, schema: Value) {
        self.props.push((name.to_owned(), schema));
    }

    /// The parameter naming one `singular`: GitHub and GitLab number their
    /// issues and pull requests; everything else has an identifier.
    fn id_param(&self, singular: &str) -> (String, Value) {
        if matches!(singular, "issue" | "pull_request")
            && matches!(self.service.id, "github" | "gitlab")
        {
            (
                format!("{singular}_number"),
                json!({"type": "integer", "minimum": 1, "description": format!("Number of the {}", human(singular))}),
            )
        } else {
            (
                format!("{singular}_id"),
                string_param(&format!("Identifier of the {}", human(singular))),
            )
        }
    }

    /// The parameter naming the existing object a call changes: a path for
    /// files, else its identifier.
    fn target_param(&self) -> (String, Value) {
        if self.is_file {
            (
                "path".to_owned(),
                string_param("Path relative to the allowed directory"),
            )
        } else {
            self.id_param(self.singular)
        }
    }

    /// `update_github_issue`: the name of a tool acting on one object.
    fn name_for_one(&self, verb: &str) -> String {
        format!("{verb}{}_{}", self.svc, self.singular)
    }

    /// `list_github_issues`: the name of a tool acting on several.
    fn name_for_many(&self, verb: &str) -> String {
        format!("{verb}{}_{}", self.svc, self.plural_name)
    }

    /// `issue in GitHub`: one object as a description names it.
    fn one(&self) -> String {
        format!("{}{}", human(self.singular), self.in_svc)
    }

    /// `issues in GitHub`.
    fn many(&self) -> String {
        format!("{}{}", human(self.plural_name), self.in_svc)
    }

    fn finish(self, shape: Shape) -> Value {
        let read_only = shape.effect == Effect::ReadOnly;
        let properties: Map<String, Value> = self.props.into_iter().collect();
        json!({
            "name": shape.name,
            "description": shape.description,
            "inputSchema": {
                "type": "object",
                "properties": properties,
                "required": self.required,
                "additionalProperties": false,
            },
            "annotations": {
                "readOnlyHint": read_only,
                "destructiveHint": shape.effect == Effect::Destructive,
                "idempotentHint": read_only,
                "openWorldHint": self.service.external,
            },
        })
    }
}

/// Reading or searching files: a listing for a directory, several files or
/// a search; one file's content otherwise.
fn read_files(d: &mut Draft, verb: Verb) -> Shape {
    if d.plural || d.singular == "directory" || verb == Verb::Search {
        d.require(
            "path",
            string_param("Directory to list, relative to the allowed directory, e.g. docs"),
        );
        if verb == Verb::Search {
            d.require(
                "pattern",
                string_param("Glob pattern of file names to match, e.g. *.md"),
            );
        }
        let name = if verb == Verb::Search {
            "search_files"
        } else {
            "list_directory"
        };
        Shape::new(name, "Lists the files and subdirectories of a directory under the allowed directory, with their sizes.", Effect::ReadOnly)
    } else {
        d.require(
            "path",
            string_param("File path relative to the allowed directory, e.g. docs/readme.md"),
        );
        Shape::new(
            "read_file",
            "Reads the text content of a file under the allowed directory and returns it.",
            Effect::ReadOnly,
        )
    }
}

fn fetch_web_page(d: &mut Draft) -> Shape {
    d.require(
        "url",
        json!({"type": "string", "format": "uri", "pattern": "^https://", "description": "Address of the page, e.g. https://example.com/docs"}),
    );
    Shape::new(
        "fetch_web_page",
        "Fetches a web page over https and returns its readable text, without scripts or markup.",
        Effect::ReadOnly,
    )
}

fn weather_forecast(d: &mut Draft) -> Shape {
    d.allow(
        "days",
        json!({"type": "integer", "minimum": 1, "maximum": 14, "default": 3, "description": "Number of days to forecast (1 to 14)"}),
    );
    Shape::new(
        "get_weather_forecast",
        "Gets the weather forecast for a location: temperature, precipitation and wind per day.",
        Effect::ReadOnly,
    )
}

fn query_database(d: &mut Draft) -> Shape {
    d.require(
        "sql",
        string_param(
            "One read-only SQL SELECT statement, e.g. SELECT id, name FROM users LIMIT 10",
        ),
    );
    d.allow("limit", limit_param());
    Shape::new("query_database", "Runs one read-only SQL SELECT statement against the database and returns the rows as JSON objects.", Effect::ReadOnly)
}

fn list(d: &mut Draft) -> Shape {
    if has_state(d.singular) {
        d.allow(
            "state",
            json!({"type": "string", "enum": ["open", "closed", "all"], "default": "open", "description": "Which items to list by state"}),
        );
    }
    d.allow("limit", limit_param());
    Shape::new(
        d.name_for_many("list"),
        format!(
            "Lists {}, newest first, at most `limit` at a time.",
            d.many()
        ),
        Effect::ReadOnly,
    )
}

fn get_one(d: &mut Draft) -> Shape {
    let (p, s) = d.id_param(d.singular);
    d.require(&p, s);
    Shape::new(
        d.name_for_one("get"),
        format!(
            "Gets one {} by its identifier, with all its fields.",
            d.one()
        ),
        Effect::ReadOnly,
    )
}

fn search(d: &mut Draft) -> Shape {
    d.require("query", string_param("Text to search for"));
    d.allow("limit", limit_param());
    Shape::new(
        d.name_for_many("search"),
        format!(
            "Searches {} for the given text and returns the best matches first.",
            d.many()
        ),
        Effect::ReadOnly,
    )
}

fn send_email(d: &mut Draft) -> Shape {
    d.require(
        "to",
        json!({"type": "string", "format": "email", "description": "Recipient address, e.g. ada@example.com"}),
    );
    d.require("subject", string_param("Subject line"));
    d.require("body", string_param("Plain-text message body"));
    Shape::new(
        "send_email",
        "Sends a plain-text e-mail to one recipient and returns the message identifier.",
        Effect::Additive,
    )
}

fn send_or_post(d: &mut Draft, verb: Verb) -> Shape {
    d.require(
        "text",
        string_param("Text of the message (plain text or the service's markdown)"),
    );
    let (v, cap) = if verb == Verb::Send {
        ("send", "Sends")
    } else {
        ("post", "Posts")
    };
    Shape::new(
        d.name_for_one(v),
        format!("{cap} a {} and returns its identifier.", d.one()),
        Effect::Additive,
    )
}

fn write_file(d: &mut Draft) -> Shape {
    d.require(
        "path",
        string_param("File path relative to the allowed directory, e.g. notes/todo.md"),
    );
    d.require(
        "content",
        string_param("Text to write; replaces the file's content"),
    );
    Shape::new(
        "write_file",
        "Writes text to a file under the allowed directory, creating it or replacing its content.",
        Effect::Destructive,
    )
}

fn comment(d: &mut Draft) -> Shape {
    // "comment on comments" is taken as commenting on what the service holds.
    let target = if d.singular == "comment" {
        d.service.object
    } else {
        d.singular
    };
    let (p, s) = d.id_param(target);
    d.require(&p, s);
    d.require("body", string_param("Text of the comment"));
    Shape::new(
        format!("comment_on{}_{target}", d.svc),
        format!(
            "Adds a comment to a {}{} and returns the comment's identifier.",
            human(target),
            d.in_svc
        ),
        Effect::Additive,
    )
}

fn create(d: &mut Draft) -> Shape {
    if d.singular == "event" {
        d.require("title", string_param("Title of the event"));
        d.require(
            "start",
            json!({"type": "string", "format": "date-time", "description": "Start time, RFC 3339, e.g. 2030-01-31T09:00:00Z"}),
        );
        d.require(
            "end",
            json!({"type": "string", "format": "date-time", "description": "End time, RFC 3339"}),
        );
    } else if d.is_file {
        d.require(
            "path",
            string_param("Path of the new file or directory, relative to the allowed directory"),
        );
    } else {
        d.require(
            "title",
            string_param(&format!("Title of the {}", human(d.singular))),
        );
        d.allow(
            "body",
            string_param(&format!("Body of the {} (markdown)", human(d.singular))),
        );
    }
    Shape::new(
        d.name_for_one("create"),
        format!("Creates a {} and returns it with its identifier.", d.one()),
        Effect::Additive,
    )
}

fn update(d: &mut Draft) -> Shape {
    let (p, s) = d.target_param();
    d.require(&p, s);
    if d.is_file {
        d.require(
            "new_path",
            string_param("New path relative to the allowed directory"),
        );
    } else {
        d.allow("title", string_param("New title; unchanged when omitted"));
        d.allow("body", string_param("New body; unchanged when omitted"));
        if has_state(d.singular) {
            d.allow(
                "state",
                json!({"type": "string", "enum": ["open", "closed"], "description": "New state; unchanged when omitted"}),
            );
        }
    }
    Shape::new(
        d.name_for_one("update"),
        format!(
            "Updates an existing {}: only the fields given change.",
            d.one()
        ),
        Effect::Destructive,
    )
}

fn delete(d: &mut Draft) -> Shape {
    let (p, s) = d.target_param();
    d.require(&p, s);
    Shape::new(
        d.name_for_one("delete"),
        format!("Deletes a {}. This cannot be undone.", d.one()),
        Effect::Destructive,
    )
}
