//! Prompt injection in text the model reads (descriptions, titles):
//! instructions aimed at the model, hidden directive tags, invisible and
//! Unicode-tag characters, and base64 that decodes to text.

use std::sync::LazyLock;

use base64::Engine as _;
use regex::Regex;

use super::Findings;
use crate::domain::{RiskCategory, Severity};

/// Characters that render as nothing (or reorder text) and so can hide
/// instructions from a human reviewer while the model still reads them.
fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x2069
        | 0xFEFF | 0x00AD | 0x180E | 0x034F | 0x115F | 0x1160 | 0x3164)
}

/// Unicode tag characters (U+E0000–U+E007F) mirror ASCII invisibly: the
/// "ASCII smuggling" channel. Returns the hidden text and how many there were.
fn decode_tags(text: &str) -> (String, usize) {
    let mut hidden = String::new();
    let mut count = 0;
    for c in text.chars() {
        let cp = c as u32;
        if (0xE0000..=0xE007F).contains(&cp) {
            count += 1;
            if let Some(a) =
                char::from_u32(cp - 0xE0000).filter(|a| a.is_ascii_graphic() || *a == ' ')
            {
                hidden.push(a);
            }
        }
    }
    (hidden, count)
}

/// Lowercase, invisible characters dropped, typographic quotes made plain,
/// whitespace collapsed: `Ig\u{200b}nore  previous` matches `ignore previous`.
fn normalise(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .filter(|c| !is_invisible(*c) && !(0xE0000..=0xE007F).contains(&(*c as u32)))
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' | '\u{02BC}' => '\'',
            '\u{201C}' | '\u{201D}' => '"',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct InjectionRule {
    re: Regex,
    severity: Severity,
    what: &'static str,
}

/// Phrasings of instructions aimed at the model rather than descriptions for
/// it: each targets something a tool description never needs to say.
/// Matching is on [`normalise`]d text. The benign corpus in the tests
/// (descriptions of real tools, "Deletes a file", "Ignores files matched by
/// .gitignore", "Do not use this tool for large files") keeps them precise.
static INJECTION_RULES: LazyLock<Vec<InjectionRule>> = LazyLock::new(|| {
    let rule = |re: &str, severity, what| InjectionRule {
        re: Regex::new(re).expect("static regex"),
        severity,
        what,
    };
    vec![
        rule(
            r"\b(ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,40}?\b(previous|prior|above|earlier|preceding|all|any|other|your|system|original|safety)\b[^.!?\n]{0,25}?\b(instructions?|prompts?|rules|directions|directives|guidelines|guardrails|polic(y|ies))\b",
            Severity::Critical,
            "tells the model to ignore its instructions",
        ),
        rule(
            r"\b(do not|don't|dont|never|without)\s+(tell|inform|notify|mention|reveal|alert|disclose|let|warn|ask)(ing)?\b[^.!?\n]{0,30}?\buser|\b(hide|conceal|keep)\b[^.!?\n]{0,30}?\bfrom the user\b|\bthe user (must|should|need|needs to) (not|never) (know|see|find out|be told|notice)\b|\b(secretly|covertly)\b",
            Severity::Critical,
            "tells the model to hide what it does from the user",
        ),
        rule(
            r"\bbefore (using|calling|invoking|running|executing) (any|every|all|each|another|other|the other)\b[^.!?\n]{0,12}?\btools?\b|\bbefore any other tools?\b|\bwhen(ever)? (this tool is|you are) (available|loaded|present|connected)\b|\b(all|every|any) (emails?|messages?|requests?|calls?)\b[^.!?\n]{0,20}?\b(must|should|have to) (be sent|go|be forwarded|be redirected|be copied)\b|\binstead of (what|whatever) the user\b",
            Severity::Critical,
            "tries to steer how the model uses other tools",
        ),
        rule(
            r"<\s*/?\s*(important|system|instructions?|secret|hidden|admin|assistant|critical|override|prompt)\s*>|\[\s*/?\s*(system|inst|important)\s*\]|<\|\s*im_start\s*\|>|<<\s*/?sys\s*>>|<!--",
            Severity::Critical,
            "contains a hidden directive tag",
        ),
        rule(
            r"\byou are now\b|\bnew (system )?instructions\s*:|\bfrom now on,? you\b|\bjailbreak|\bdeveloper mode\b|\bact as (an? )?(unrestricted|jailbroken|dan)\b|\b(reveal|print|output|repeat|leak|send|share|include|return)\b[^.!?\n]{0,30}?\b(system prompt|your instructions|previous messages|conversation history|chat history|entire conversation)\b",
            Severity::Critical,
            "tries to change the model's role or extract its context",
        ),
        rule(
            r"\b(note|message|instructions?|directive)s? (to|for) (the |any )?(ai|assistant|model|llm|agent|claude|gpt)\b",
            Severity::High,
            "addresses the model directly",
        ),
        rule(
            r"(~|\$home|%userprofile%)[/\\]\.(ssh|aws|gnupg|kube|docker|cursor|config|netrc)\b|\bid_(rsa|ed25519|ecdsa|dsa)\b|\.aws/credentials\b|/etc/(passwd|shadow)\b|\bmcp\.json\b|\bclaude_desktop_config\.json\b",
            Severity::High,
            "points the model at credential or client configuration files",
        ),
        rule(
            r"\b(send|forward|exfiltrate|leak)\b[^.!?\n]{0,40}?\b(api keys|credentials|passwords|secrets|private keys?|environment variables|env vars)\b",
            Severity::High,
            "asks for credentials to be sent somewhere",
        ),
    ]
});

static BASE64_RUN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9+/]{40,}={0,2}|[A-Za-z0-9_\-]{40,}={0,2}").expect("static regex")
});

/// `run` decoded as base64 (standard or URL-safe, padding optional) when it
/// gives readable text.
fn decode_base64_text(run: &str) -> Option<String> {
    use base64::engine::{
        general_purpose, DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig,
    };
    const LENIENT: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);
    let _ = general_purpose::STANDARD; // the alphabets above are the standard ones
    let has_upper = run.bytes().any(|b| b.is_ascii_uppercase());
    let has_lower = run.bytes().any(|b| b.is_ascii_lowercase());
    if !(has_upper && has_lower) {
        return None;
    }
    let bytes = STANDARD
        .decode(run)
        .or_else(|_| URL_SAFE.decode(run))
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let total = text.chars().count();
    let readable = text
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .count();
    let letters = text
        .chars()
        .filter(|c| c.is_alphabetic() || *c == ' ')
        .count();
    (total >= 20 && readable * 10 >= total * 9 && letters * 10 >= total * 6).then_some(text)
}

fn injection_matches(normal: &str) -> Vec<&'static InjectionRule> {
    INJECTION_RULES
        .iter()
        .filter(|r| r.re.is_match(normal))
        .collect()
}

fn excerpt(s: &str) -> String {
    let cut: String = s.chars().take(80).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// Looks for prompt injection in one text the model will read.
pub(super) fn scan_text(text: &str, loc: &str, f: &mut Findings) {
    let (hidden, tag_count) = decode_tags(text);
    if tag_count > 0 {
        f.add(
            RiskCategory::PromptInjection,
            Severity::Critical,
            loc,
            format!(
                "contains {tag_count} invisible Unicode tag characters spelling hidden text: \"{}\"",
                excerpt(&hidden)
            ),
        );
    }
    let invisible = text.chars().filter(|c| is_invisible(*c)).count();
    if invisible > 0 {
        f.add(
            RiskCategory::PromptInjection,
            Severity::High,
            loc,
            format!("contains {invisible} invisible characters (zero-width or bidirectional controls) that hide text from a human reviewer"),
        );
    }
    let mut normal = normalise(text);
    if !hidden.is_empty() {
        normal.push(' ');
        normal.push_str(&normalise(&hidden));
    }
    for rule in injection_matches(&normal) {
        f.add(
            RiskCategory::PromptInjection,
            rule.severity,
            loc,
            format!("text aimed at the model: it {}", rule.what),
        );
    }
    for m in BASE64_RUN.find_iter(text) {
        if let Some(decoded) = decode_base64_text(m.as_str()) {
            let rules = injection_matches(&normalise(&decoded));
            let (severity, what) = match rules.first() {
                Some(rule) => (
                    Severity::Critical,
                    format!("encoded instructions: it {}", rule.what),
                ),
                None => (
                    Severity::Medium,
                    "encoded text a human reviewer does not read".to_owned(),
                ),
            };
            f.add(
                RiskCategory::PromptInjection,
                severity,
                loc,
                format!(
                    "contains base64 that decodes to {what}: \"{}\"",
                    excerpt(&decoded)
                ),
            );
        }
    }
}
